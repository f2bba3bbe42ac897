"""Patches mode for CROWN intermediate bounds of conv2d neurons (as auto_LiRPA's "patches").

A one-hot spec row for the neuron (c, i, j) of a conv layer only ever touches a small window of
each feature map below it (its receptive field). The dense path nevertheless pushes back A
matrices as large as the whole map for every row; here each row stays a small patch of its
window, data [B or 1, R, ph, pw, C] (channels last) plus its top-left corner (oh, ow) [B or 1, R]
in the current map's coordinates. Corners may be negative and windows may run past the edge:
positions outside the map are conv zero padding, i.e. constants 0, and the patch data is kept 0
there (masked after every conv back; gathered slopes / scales are padded with 0), so biases
summed over the whole patch only count real positions. The bounds equal the dense path's up to
float rounding, and so does the rounding slack (the same term count).

Applies to chains of conv2d, affine and spec-shared activation relaxations down to the input
(the layers below a CNN's first dense layer); elsewhere `refine_patches` returns None and the
caller runs the dense path.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..nets.graph import ACTIVATIONS, Graph
from .sets import InputSet, rounding_slack

Tensor = torch.Tensor
ENABLED = True   # tests switch patches mode off to compare with the dense path


@dataclass
class _Window:
    """Static geometry of the patches at one map: size ph × pw, corners within [h0, h1] × [w0, w1]
    (plain ints, known before any data exists, so padding needs no device sync)."""
    ph: int
    pw: int
    h0: int
    h1: int
    w0: int
    w1: int

    def conv_back(self, p: dict) -> "_Window":
        """The window on a conv's input: stride s spreads the patch, the kernel widens it by
        dil·(k−1), and the corner moves to o·s − pad."""
        (s0, s1), (d0, d1), (p0, p1) = p["stride"], p["dilation"], p["padding"]
        k0, k1 = p["weight"].shape[-2:]
        return _Window((self.ph - 1) * s0 + d0 * (k0 - 1) + 1, (self.pw - 1) * s1 + d1 * (k1 - 1) + 1,
                       self.h0 * s0 - p0, self.h1 * s0 - p0, self.w0 * s1 - p1, self.w1 * s1 - p1)

    def pads(self, H: int, W: int) -> tuple[int, int, int, int]:
        """F.pad amounts (left, right, top, bottom) that put every window inside the map."""
        return (max(0, -self.w0), max(0, self.w1 + self.pw - W), max(0, -self.h0), max(0, self.h1 + self.ph - H))


def _plan(graph: Graph, node: int, relax: dict) -> list[tuple[int, _Window]] | None:
    """The nodes from ``node`` down to the input with the window their output holds, plus
    (0, window at the input); None where patches do not apply or would not pay."""
    C, H, W = graph.shapes[node]
    win, steps, i = _Window(1, 1, 0, H - 1, 0, W - 1), [], node
    while i != 0:
        n = graph.nodes[i]
        if n.op in ACTIVATIONS:
            r = relax.get(i)
            # Per-spec-row relaxations (alpha-CROWN) would need a gather per row: dense path.
            if r is None or not r.shared_by_rows:
                return None
        elif n.op == "affine":
            if any(torch.as_tensor(n.params[k]).dim() > 3 for k in ("scale", "shift")):
                return None
        elif n.op != "conv2d":   # add (two paths), reshape, linear: the dense path handles them
            return None
        steps.append((i, win))
        if n.op == "conv2d":
            win = win.conv_back(n.params)
        i = n.inputs[0]
        _, H, W = graph.shapes[i]
        if win.ph * win.pw >= H * W:   # a patch as big as the map: dense is no worse
            return None
    return steps + [(0, win)]


def _lines(maps: list[Tensor]) -> Tensor:
    """Maps [B or 1, (1,) C, H, W] side by side, channels last: [B or 1, H, W, C·m], each
    position's features one contiguous row (index_select then copies rows, several times faster
    than gathering single elements), the maps interleaved per channel so that a patch's
    [Q, m] block serves one batched matmul for all m dot products."""
    C, H, W = maps[0].shape[-3:]
    t = torch.stack([m.reshape(-1, C, H, W) for m in torch.broadcast_tensors(*maps)], -1)
    return t.permute(0, 2, 3, 1, 4).reshape(t.shape[0], H, W, C * len(maps))


def _windows(t: Tensor, oh: Tensor, ow: Tensor, win: _Window) -> Tensor:
    """The windows of t [B or 1, H, W, F] (from _lines) at corners (oh, ow) [Bo, R]:
    [B or Bo, R, ph, pw, F], 0 outside the map."""
    Bt, H, W, Fe = t.shape
    left, right, top, bottom = win.pads(H, W)
    t = F.pad(t, (0, 0, left, right, top, bottom))
    Hp, Wp = t.shape[1:3]
    ar = lambda n: torch.arange(n, device=t.device)  # noqa: E731
    rows = (oh + top).unsqueeze(-1) + ar(win.ph)                                  # [Bo, R, ph]
    cols = (ow + left).unsqueeze(-1) + ar(win.pw)                                 # [Bo, R, pw]
    flat = rows.unsqueeze(-1) * Wp + cols.unsqueeze(-2)                           # [Bo, R, ph, pw]
    if Bt > 1:   # per-sample maps: each sample's positions index its own map
        flat = flat + (ar(Bt) * (Hp * Wp)).view(-1, 1, 1, 1)
    return t.reshape(-1, Fe).index_select(0, flat.reshape(-1)).view(*flat.shape, Fe)


def _mask_(data: Tensor, oh: Tensor, ow: Tensor, H: int, W: int) -> Tensor:
    """data [B, R, ph, pw, C] with the positions outside the H × W map (conv padding) set to 0."""
    ph, pw = data.shape[2:4]
    rows = oh.unsqueeze(-1) + torch.arange(ph, device=oh.device)
    cols = ow.unsqueeze(-1) + torch.arange(pw, device=ow.device)
    inside = ((rows >= 0) & (rows < H)).unsqueeze(-1) & ((cols >= 0) & (cols < W)).unsqueeze(-2)
    return data.mul_(inside.unsqueeze(-1).to(data.dtype))


def _conv_back(p: dict, data: Tensor, win: _Window) -> Tensor:
    """The patch on the conv's input (window ``win``): the transposed conv of the patch as a tiny
    image, without padding (the corner shift o·s − pad accounts for it)."""
    B, R, ph, pw, C = data.shape
    w, s, dil, g = p["weight"], p["stride"], p["dilation"], p["groups"]
    kh, kw = w.shape[-2:]
    if g > 1:
        x = data.reshape(B * R, ph, pw, C).permute(0, 3, 1, 2)
        back = F.conv_transpose2d(x, w, None, s, 0, 0, g, dil).permute(0, 2, 3, 1)
        return back.reshape(B, R, win.ph, win.pw, -1)
    # One GEMM for every (position, kernel offset) product, then each kernel offset's slice
    # added at its strided place: several times faster than MKL-DNN's transposed conv or a
    # fold (col2im) on these many tiny images.
    cin = w.shape[1]
    cols = (data.reshape(-1, C) @ w.permute(0, 2, 3, 1).reshape(C, -1)).view(B, R, ph, pw, kh, kw, cin)
    if ph == pw == 1 and tuple(dil) == (1, 1):   # a one-position patch (the start): the kernel itself
        return cols.view(B, R, kh, kw, cin)
    back = data.new_zeros(B, R, win.ph, win.pw, cin)
    for a in range(kh):
        for b in range(kw):
            back[:, :, a * dil[0]:a * dil[0] + (ph - 1) * s[0] + 1:s[0],
                 b * dil[1]:b * dil[1] + (pw - 1) * s[1] + 1:s[1]] += cols[:, :, :, :, a, b]
    return back


def _channels(t, C: int, like: Tensor) -> Tensor | None:
    """A per-channel (or scalar) affine constant as a vector [C]; None when it varies in space."""
    t = torch.as_tensor(t, dtype=like.dtype, device=like.device)
    shape = (1,) * (3 - t.dim()) + tuple(t.shape)
    return t.reshape(-1).expand(C) if shape[1:] == (1, 1) else None


def _dots(A: Tensor, windows: Tensor) -> Tensor:
    """Per row, A [B, R, ph, pw, C] dotted with each of the m maps in windows [B, R, ph, pw, C·m]:
    [B, R, m], as one batched matmul (no temporary as large as A)."""
    B, R, Q = max(A.shape[0], windows.shape[0]), A.shape[1], A[0, 0].numel()
    A = A.expand(B, *A.shape[1:]).reshape(B * R, 1, Q)
    return torch.bmm(A, windows.expand(B, *windows.shape[1:]).reshape(B * R, Q, -1)).view(B, R, -1)


@torch.no_grad()   # intermediate bounds are constants to every caller; the in-place updates need it
def refine_patches(graph: Graph, inputs: InputSet, node: int, neurons: Tensor, signs: Tensor, relax: dict
                   ) -> Tensor | None:
    """CROWN lower bounds [B, R] of signs·value(node)[neurons] (flat indices [1 or B, R], signs ±1
    [1, R]) for the conv2d node ``node``, in patches mode; None where it does not apply (the
    caller goes dense)."""
    if not ENABLED or graph.nodes[node].op != "conv2d" or len(graph.input_shape) != 3:
        return None
    plan = _plan(graph, node, relax)
    if plan is None:
        return None
    dtype, device = inputs.lower.dtype, inputs.lower.device
    C, H, W = graph.shapes[node]
    # Rows ±e_k (the lower bound of −x_k is minus its upper bound), each a 1 × 1 patch.
    idx = neurons                                                                   # [Bo, R]
    oh, ow = idx // W % H, idx % W
    data = torch.zeros(*idx.shape, 1, 1, C, dtype=dtype, device=device)
    as_patch = lambda t: t.expand(idx.shape).reshape(*idx.shape, 1, 1, 1)  # noqa: E731
    data.scatter_(4, as_patch(idx // (H * W)), as_patch(signs))
    bias = torch.zeros(idx.shape, dtype=dtype, device=device)
    # Every `data` below is this function's own tensor: updating it in place is safe, and
    # saves fresh allocations (page faults cost as much as the arithmetic at these sizes).
    for (i, win), (_, below) in zip(plan[:-1], plan[1:]):
        n, p = graph.nodes[i], graph.nodes[i].params
        if n.op == "conv2d":
            if p.get("bias") is not None:   # data is 0 outside the map: sums count real positions
                bias = bias + data.sum((2, 3)) @ p["bias"]
            data = _conv_back(p, data, below)
            oh, ow = oh * p["stride"][0] - p["padding"][0], ow * p["stride"][1] - p["padding"][1]
            _, H, W = graph.shapes[n.inputs[0]]
            if sum(below.pads(H, W)):   # some window reaches into the conv's padding
                data = _mask_(data, oh, ow, H, W)
        elif n.op == "affine":
            data, bias = _affine_back(p, graph.shapes[i], data, bias, oh, ow, win)
        else:
            data, bias = _activation_back(relax[i], data, bias, oh, ow, win)
    return _concretize(inputs, data, bias, oh, ow, plan[-1][1])


def _affine_back(p: dict, shape: tuple, data: Tensor, bias: Tensor, oh: Tensor, ow: Tensor, win: _Window
                 ) -> tuple[Tensor, Tensor]:
    """x·scale + shift: per-channel constants broadcast over the patch, others are gathered."""
    scale, shift = _channels(p["scale"], shape[0], data), _channels(p["shift"], shape[0], data)
    as_map = lambda t: torch.as_tensor(t, dtype=data.dtype, device=data.device).expand(shape)  # noqa: E731
    if shift is not None:
        bias = bias + data.sum((2, 3)) @ shift
    else:
        bias = bias + _dots(data, _windows(_lines([as_map(p["shift"])]), oh, ow, win))[..., 0]
    if scale is None:
        scale = _windows(_lines([as_map(p["scale"])]), oh, ow, win)
    return data * scale, bias


def _activation_back(r, data: Tensor, bias: Tensor, oh: Tensor, ow: Tensor, win: _Window
                     ) -> tuple[Tensor, Tensor]:
    """crown._activation_back's algebra on the relaxation's lines gathered at the patch positions."""
    maps = [r.slope_lo, r.slope_up, r.icpt_up, r.icpt_lo]
    if not bool(r.icpt_lo.any()):   # ReLU's lower line passes through 0: no term to gather
        maps.pop()
    lines = _windows(_lines(maps), oh, ow, win)
    k_lo, k_up = lines.unflatten(-1, (-1, len(maps))).unbind(-1)[:2]
    if data.shape[0] != lines.shape[0]:   # a batch-shared spec meets per-sample lines
        data = data.expand(lines.shape[0], *data.shape[1:]).contiguous()
    neg = data.clamp(max=0)
    bias = bias + _dots(neg, lines)[..., 2]
    pos = data.sub_(neg)
    if len(maps) == 4:
        bias = bias + _dots(pos, lines)[..., 3]
    return pos.mul_(k_lo).addcmul_(neg, k_up), bias


def _concretize(inputs: InputSet, A: Tensor, bias: Tensor, oh: Tensor, ow: Tensor, win: _Window) -> Tensor:
    """InputSet.concretize for patches: the same algebra over the gathered input windows."""
    lo, up = inputs.lower, inputs.upper
    mid, rad = (lo + up) / 2, (up - lo) / 2
    ball = inputs.norm == 2
    windows = _windows(_lines([mid, rad, mid.abs()] + ([inputs.center] if ball else [])), oh, ow, win)
    signed = _dots(A, windows)                       # A·mid (and A·center)
    norm = A.flatten(2).norm(dim=2) if ball else None
    spread = _dots(A.abs_(), windows)                # |A|·rad and |A|·|mid|, for the slack
    box = signed[..., 0] - spread[..., 1] + bias
    magnitude = spread[..., 1] + spread[..., 2] + bias.abs()
    best = torch.max(box, signed[..., 3] - inputs.eps[:, None] * norm + bias) if ball else box
    # The dense input size as the term count: never less slack than the dense path.
    return best - rounding_slack(magnitude, lo[0].numel())
