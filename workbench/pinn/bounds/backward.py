"""∂-CROWN's backward pass: linear bounds on a tanh MLP's derivative chains, batched over boxes.

A bound on Λ·(chains of layer k) is pushed down layer by layer to a linear function of the
input x (CROWN): through W as a matrix product, through each relaxed nonlinear piece by its
lines (σ, σ', σ'': by the sign of Λ) or planes (products: sign-free). This is the paper's
back-substitution over all node kinds at once, so every relaxation choice follows the sign of
the *combined* coefficient. Bounds of every hidden z, dz, d2z come from such passes (`refine`),
the outputs from one more (api.bound_spec).

Λ tensors are [N boxes, neurons, rows], rows last: the reductions over neurons then run as
[N, 2, n] @ [N, n, rows] products, several times faster on CPUs than the other orientation.
Rows are the bounded quantities, [+C; -C] (a lower bound of -q is minus an upper bound of q).
Each key's Λ covers only a slice of the rows (those that can reach it): the intermediate passes
bound all chains at once, and a z row never reaches a dz key.
"""
from __future__ import annotations

from typing import Iterable

import torch

from workbench.bounds.sets import rounding_slack

from .activations import Lines
from .layer import Interval, Key, Layer, Pair
from .mlp import TanhMLP
from .products import Plane

Tensor = torch.Tensor


class _Acc:
    """Per-key Λ on its row slice, plus the running bias and its magnitude (for the rounding
    slack). Memory-bound work, so contributions are fused into their destination (addcmul_)."""

    def __init__(self, slices: dict[Key, tuple[int, int]], bias: Tensor, mag: Tensor):
        self.slices, self.bias, self.mag, self.lam = slices, bias, mag, {}

    def mul(self, key: Key, start: int, L: Tensor, k: Tensor) -> Tensor:
        """Λ_key[rows of L] += L·k (k [N, n, 1]); returns that slice of Λ_key."""
        s0, s1 = self.slices[key]
        rows = L.shape[2]
        cur = self.lam.get(key)
        if cur is None and rows == s1 - s0:
            cur = L * k
            if cur.shape[0] != self.bias.shape[0]:   # later in-place adds need every box's copy
                cur = cur.expand(self.bias.shape[0], -1, -1).contiguous()
            self.lam[key] = cur
            return cur
        if cur is None:
            cur = self.lam[key] = L.new_zeros(self.bias.shape[0], L.shape[1], s1 - s0)
        dest = cur[..., start - s0: start - s0 + rows]
        return dest.addcmul_(L, k)

    def const(self, start: int, value: Tensor, magnitude: Tensor) -> None:
        rows = value.shape[-1]
        self.bias[:, start:start + rows] += value
        self.mag[:, start:start + rows] += magnitude

    def line(self, key: Key, L: Tensor, start: int, r: Lines) -> None:
        """Λ·f(z) >= Λ⁺·(lower line) + Λ⁻·(upper line) = Λ·(upper) + Λ⁺·(lower - upper)."""
        pos = L.clamp(min=0)
        self.mul(key, start, L, r.ku1).addcmul_(pos, r.dk1)
        both = torch.matmul(r.v_all, L) + torch.matmul(r.v_pos, pos)   # [N, 2, rows]
        self.const(start, both[:, 0], both[:, 1])

    def plane(self, L: Tensor, start: int, P: Plane, key_a: Key, key_b: Key | None) -> None:
        """Λ·p >= Λ·(ka·a + kb·b + c_mid) - |Λ|·c_rad."""
        self.mul(key_a, start, L, P.ka1)
        if key_b is not None:
            self.mul(key_b, start, L, P.kb1)
        r = torch.matmul(P.v_abs, L.abs())
        self.const(start, torch.matmul(P.v_mid, L)[:, 0] - r[:, 0], r[:, 1])


def _through_activation(layer: Layer, post: dict[Key, Tensor], acc: _Acc) -> dict[Key, Tensor]:
    """Λ on a layer's post-activation chains -> Λ on its pre-activation chains. Each key's Λ is
    complete before it is relaxed (σ' gathers the dz and d2z products, σ the three lines)."""
    acc.lam = {}
    start = {key: acc.slices[key][0] for key in acc.slices}
    for key, L in post.items():
        if key[0] == "d2z":
            hs, gd = layer.second[key[1]]
            acc.plane(L, start[key], hs, ("h",), ("s", key[1]))
            acc.plane(L, start[key], gd, ("g",), key)
    for key in [k for k in acc.lam if k[0] == "s"]:
        i, j = key[1]
        acc.plane(acc.lam.pop(key), start[key], layer.prod[key[1]], ("dz", i), None if i == j else ("dz", j))
    for key, L in post.items():
        if key[0] == "dz":
            acc.plane(L, start[key], layer.first[key[1]], ("g",), key)
    acc.line(("z",), post[("z",)], start[("z",)], layer.act)
    for key, lines in ((("g",), layer.g), (("h",), layer.h)):
        if key in acc.lam:
            acc.line(("z",), acc.lam.pop(key), start[key], lines)
    return acc.lam


def backward(mlp: TanhMLP, layers: list[Layer], top: int, lam: dict[Key, Tensor],
             slices: dict[Key, tuple[int, int]], bias: Tensor, lower: Tensor, upper: Tensor,
             exact: dict[Key, tuple[Tensor, Tensor]]) -> Tensor:
    """Sound lower bounds [N, rows] of the rows Σ_key Λ_key·(chain `key` at the pre-activation
    level of layer `top`) + bias over the boxes [lower, upper] [N, d]; Λ_key [N or 1, n, rows].

    At the bottom, layer 1's chains are substituted as the linear functions of x that they are
    (`exact`, lower = upper [N, n, d + 1]: z = W x + b, dz_i = W[:, i], d2z = 0); the code
    takes lower/upper pairs by sign so that any sound linear bounds of a layer could go there."""
    acc = _Acc(slices, bias, torch.zeros_like(bias))
    for k in range(top, 0, -1):
        if ("z",) in lam:   # the bias of the linear layer enters only the z chain
            L, b = lam[("z",)], mlp.biases[k]
            acc.const(slices[("z",)][0], torch.matmul(b, L), torch.matmul(b.abs(), L.abs()))
        WT = mlp.weights[k].T
        lam = _through_activation(layers[k - 1], {key: torch.matmul(WT, L) for key, L in lam.items()}, acc)
    if slices[("z",)] != (0, acc.bias.shape[1]):
        raise ValueError("the z chain must reach every row")
    d = lower.shape[1]
    Lx = lower.new_zeros(acc.bias.shape[0], d, acc.bias.shape[1])
    for key, L in lam.items():
        lo, up = exact[key]
        s0, s1 = slices[key]
        pos = L.clamp(min=0)
        neg = L - pos
        F = torch.matmul(lo.transpose(1, 2), pos) + torch.matmul(up.transpose(1, 2), neg)   # [N, d+1, rows]
        Lx[..., s0:s1] += F[:, :d]
        M = torch.matmul(lo[..., d:].abs().transpose(1, 2), pos) - torch.matmul(up[..., d:].abs().transpose(1, 2), neg)
        acc.const(s0, F[:, d], M[:, 0])
    mid, rad = ((lower + upper) / 2).unsqueeze(-1), ((upper - lower) / 2).unsqueeze(-1)
    absLx = Lx.abs()
    value = (Lx * mid).sum(1) - (absLx * rad).sum(1) + acc.bias
    magnitude = (absLx * (mid.abs() + rad)).sum(1) + acc.mag
    return value - rounding_slack(magnitude, max(w.shape[1] for w in mlp.weights))


# -- intermediate bounds ----------------------------------------------------------------------
def chain_keys(dirs: Iterable[int], pairs: Iterable[Pair]) -> list[Key]:
    """The pre-activation chains in row-block order: each dz_i, then the pairs that start with
    i, then z (so that every chain's rows form one contiguous slice when there are 2 variables)."""
    pairs = list(pairs)
    out: list[Key] = []
    for i in dirs:
        out.append(("dz", i))
        out += [("d2z", p) for p in pairs if p[0] == i]
    return out + [("z",)]


def _needs(key: Key) -> list[Key]:
    """The keys a chain's rows reach on their way down."""
    if key[0] == "z":
        return [key]
    if key[0] == "dz":
        return [key, ("g",), ("z",)]
    i, j = key[1]
    return [key, ("s", key[1]), ("h",), ("g",), ("dz", i), ("dz", j), ("z",)]


def block_slices(blocks: list[Key], size: int) -> dict[Key, tuple[int, int]]:
    """Each key's row slice: the span of the blocks whose rows reach it."""
    spans: dict[Key, list[int]] = {}
    for n, key in enumerate(blocks):
        for need in _needs(key):
            spans.setdefault(need, []).extend([n * size, (n + 1) * size])
    return {k: (min(v), max(v)) for k, v in spans.items()}


def refine(mlp: TanhMLP, layers: list[Layer], top: int, lower: Tensor, upper: Tensor,
           exact: dict[Key, tuple[Tensor, Tensor]]) -> dict[Key, Interval]:
    """CROWN bounds of every pre-activation chain of layer `top` (z, each dz_i, each d2z_p, as
    `exact` lists them: layer 1's chains as exact linear functions of x), all in one pass."""
    n = mlp.weights[top].shape[0]
    blocks = chain_keys(sorted(k[1] for k in exact if k[0] == "dz"), sorted(k[1] for k in exact if k[0] == "d2z"))
    slices = block_slices(blocks, 2 * n)
    eye = torch.eye(n, dtype=lower.dtype, device=lower.device)
    pm = torch.cat([eye, -eye], 1)           # [n, 2n]: the block of one chain's rows
    lam = {}
    for key in blocks:
        s0, s1 = slices[key]
        t = lower.new_zeros(1, n, s1 - s0)
        b0 = blocks.index(key) * 2 * n - s0
        t[0, :, b0:b0 + 2 * n] = pm
        lam[key] = t
    bias = lower.new_zeros(lower.shape[0], len(blocks) * 2 * n)
    rows = backward(mlp, layers, top, lam, slices, bias, lower, upper, exact)
    return {key: (rows[:, 2 * n * i: 2 * n * i + n], -rows[:, 2 * n * i + n: 2 * n * (i + 1)])
            for i, key in enumerate(blocks)}
