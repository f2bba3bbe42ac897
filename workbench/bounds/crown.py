"""CROWN (Zhang et al. 2018): backward propagation of linear bounds through the graph.

A bound on ``A · node`` is pushed from a start node back to the input one operator at a time
(each operator's rule lives in BACKWARD). Activations are replaced by their linear relaxations,
which need bounds on the activation's input: those come from CROWN itself, computed layer by
layer ("intermediate bounds"), only for the neurons IBP leaves undecided.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import torch
import torch.nn.functional as F

from ..nets.graph import ACTIVATIONS, Graph
from .compact import NOT_YET, activation_linear_back, live_columns, relaxation_back
from .ibp import Interval, ibp_all
from .refine import refine_layer
from .relaxations import default_slopes, intercepts, relu_default
from .sets import InputSet, rounding_slack

Tensor = torch.Tensor


@dataclass
class Relaxation:
    """Lines ``slope_lo·x + icpt_lo <= f(x) <= slope_up·x + icpt_up``, shaped [B, S or 1, *shape]."""
    slope_lo: Tensor
    icpt_lo: Tensor
    slope_up: Tensor
    icpt_up: Tensor
    # compact.live_columns' cache: a LiveColumns, None (not worth compacting), or unset (NOT_YET).
    _live: object = field(default=NOT_YET, init=False, repr=False)

    @property
    def shared_by_rows(self) -> bool:
        """The same lines for every spec row (CROWN's defaults; alpha-CROWN optimises per row)."""
        return all(t.shape[1] == 1 for t in (self.slope_lo, self.slope_up, self.icpt_lo, self.icpt_up))


def _linear_back(p: dict, A: Tensor, relax, in_shape) -> tuple[Tensor, Tensor]:
    bias = p.get("b")
    if bias is None:
        db = 0
    else:   # a matrix-vector product; extra dims (a linear map on the last axis) are summed after
        db = A @ bias
        db = db.flatten(2).sum(-1) if db.dim() > 2 else db
    return A @ p["W"], db


def _conv_back(p: dict, A: Tensor, relax, in_shape) -> tuple[Tensor, Tensor]:
    B, S, C, H, W = A.shape
    w = p["weight"]
    k, s, pad, dil = w.shape[-2:], p["stride"], p["padding"], p["dilation"]
    out_pad = [in_shape[1 + d] - ((A.shape[3 + d] - 1) * s[d] - 2 * pad[d] + dil[d] * (k[d] - 1) + 1)
               for d in range(2)]
    bias = p.get("bias")
    db = A.sum((3, 4)) @ bias if bias is not None else 0
    A = A.reshape(B * S, C, H, W)
    if w.shape[1] * p["groups"] == 1:
        # One input channel: a matmul and a fold (col2im) beat MKL-DNN's transposed conv 2-3x.
        cols = torch.matmul(w.reshape(C, -1).T, A.reshape(B * S, C, H * W))
        back = F.fold(cols, in_shape[1:], k, dil, pad, s)
    else:
        # MKL-DNN's transposed convolution is several times faster on channels-last data.
        back = F.conv_transpose2d(A.contiguous(memory_format=torch.channels_last), w, None, s, pad, out_pad,
                                  p["groups"], dil).contiguous()
    return back.reshape(B, S, *back.shape[1:]), db


def _affine_back(p: dict, A: Tensor, relax, in_shape) -> tuple[Tensor, Tensor]:
    return A * p["scale"], (A * p["shift"]).flatten(2).sum(-1)


def _activation_back(p: dict, A: Tensor, r: Relaxation, in_shape) -> tuple[Tensor, Tensor]:
    return relaxation_back(A, r.slope_lo, r.slope_up, r.icpt_lo, r.icpt_up)


BACKWARD: dict[str, Callable] = {
    "linear": _linear_back,
    "conv2d": _conv_back,
    "affine": _affine_back,
    "reshape": lambda p, A, r, in_shape: (A.reshape(*A.shape[:2], *in_shape), 0),
    **{op: _activation_back for op in ACTIVATIONS},
}


def backward(graph: Graph, start: int, A: Tensor, relax: dict[int, Relaxation], bias: Tensor | None = None
             ) -> tuple[Tensor, Tensor]:
    """Lower-bound ``A · value(start)`` [B, S] by ``A_in · x + bias`` over the inputs.
    Returns A_in [B, S, *input_shape] and bias [B, S]."""
    pending = {start: A}
    on_live: set[int] = set()   # nodes whose pending A is already on their activation's live columns
    total = A.new_zeros(A.shape[:2]) if bias is None else bias
    users = graph.consumers()
    for i in range(start, 0, -1):
        A = pending.pop(i, None)
        if A is None:
            continue
        node = graph.nodes[i]
        joint = _joint_step(graph, i, A, relax, users, i in on_live)
        if joint is not None:   # activation and the linear layer under it in one step
            A, db, chained = joint()
            total = total + db
            targets, contributions = graph.nodes[node.inputs[0]].inputs, (A,)
            if chained:
                on_live.add(targets[0])
        elif node.op == "add":
            targets, contributions = node.inputs, (A, A)
        else:
            A, db = BACKWARD[node.op](node.params, A, relax.get(i), graph.shapes[node.inputs[0]])
            total = total + db
            targets, contributions = node.inputs, (A,)
        for j, Aj in zip(targets, contributions):
            pending[j] = pending[j] + Aj if j in pending else Aj
    A_in = pending.get(0)
    if A_in is None:   # the start does not depend on the input at all
        A_in = total.new_zeros(*total.shape, *graph.input_shape)
    return A_in, total


def _linear_under(graph: Graph, i: int, r: Relaxation | None, users: list[list[int]]) -> dict | None:
    """The params of the dense layer under activation node i when nothing else uses it; else None."""
    if r is None or graph.nodes[i].op not in ACTIVATIONS:
        return None
    p = graph.nodes[i].inputs[0]
    if graph.nodes[p].op != "linear" or len(graph.shapes[p]) != 1 or users[p] != [i]:
        return None
    return graph.nodes[p].params


def _joint_step(graph: Graph, i: int, A: Tensor, relax: dict[int, Relaxation], users: list[list[int]],
                on_live: bool) -> Callable[[], tuple[Tensor, Tensor, bool]] | None:
    """The backward step through activation node i and the linear layer under it (used by
    nothing else) together, when one of compact.py's shortcuts applies; else None. ``on_live``:
    A is already on i's live columns. The step returns A', the bias, and whether A' is on the
    live columns of the activation under the linear layer (it is whenever that one compacts too)."""
    r = relax.get(i)
    linear = _linear_under(graph, i, r, users)
    if linear is None:
        return None
    live = live_columns(r, linear)
    if live is None:
        return None
    p = graph.nodes[i].inputs[0]
    q = graph.nodes[p].inputs[0]
    below_linear = _linear_under(graph, q, relax.get(q), users) if users[q] == [p] else None
    below = None if below_linear is None else live_columns(relax[q], below_linear)
    return lambda: (*activation_linear_back(A, live, on_live, below), below is not None)


def _affine_depth(graph: Graph) -> list[float]:
    """Per node, how many linear/conv layers lie between it and the input (inf once an
    activation or a merge intervenes). Over a box, IBP is exact where this is at most 1."""
    depth: list[float] = []
    for node in graph.nodes:
        if node.op == "input":
            depth.append(0)
        elif node.op in ("reshape", "affine"):      # elementwise / relabelling: box to box, exactly
            depth.append(depth[node.inputs[0]])
        elif node.op in ("linear", "conv2d"):
            depth.append(depth[node.inputs[0]] + 1)
        else:
            depth.append(float("inf"))
    return depth


def intermediate_bounds(graph: Graph, inputs: InputSet, use_crown: bool = True, end: int | None = None
                        ) -> tuple[list[Interval], dict[int, Relaxation]]:
    """Bounds of every node (with ``end``: of the nodes below it, and always of every activation's
    input), the tighter of IBP and CROWN for activation inputs, and the default relaxation of
    every activation. IBP runs once, layer by layer, on the refined bounds. (``end`` spares the
    IBP of a final linear layer that ibp_spec folds into the spec anyway.)"""
    bounds: list[Interval] = []
    relax: dict[int, Relaxation] = {}
    users = graph.consumers()
    exact = [d <= 1 and inputs.norm == math.inf for d in _affine_depth(graph)]
    for i, node in enumerate(graph.nodes):
        if node.op not in ACTIVATIONS:
            continue
        p = node.inputs[0]
        bounds = ibp_all(graph, inputs, None, bounds, end=i)
        if use_crown and not exact[p]:
            refined = refine_layer(graph, inputs, p, node.op, *bounds[p], relax,
                                   upper_first=node.op == "relu" and users[p] == [i])
            if refined is not None:
                bounds[p] = refined
                # Nodes between p and i were computed from the looser bounds: redo them.
                bounds = ibp_all(graph, inputs, None, bounds[: p + 1], end=i)
        lo, up = bounds[p]
        relax[i] = make_relaxation(node.op, node.params, lo.unsqueeze(1), up.unsqueeze(1))
    return ibp_all(graph, inputs, None, bounds, end=end), relax


def make_relaxation(op: str, params: dict, lo: Tensor, up: Tensor,
                    slopes: tuple[Tensor, Tensor] | None = None) -> Relaxation:
    if op == "relu" and slopes is None:
        return Relaxation(*relu_default(lo, up))
    k_lo, k_up = slopes if slopes is not None else default_slopes(op, params, lo, up)
    b_lo, b_up = intercepts(op, params, lo, up, k_lo, k_up)
    return Relaxation(k_lo, b_lo, k_up, b_up)


def output_spec(graph: Graph, C: Tensor | None, batch: int) -> Tensor:
    """The spec matrix [B, S, *output_shape]; None means the raw outputs."""
    shape = graph.output_shape
    n = int(torch.Size(shape).numel())
    if C is None:
        C = torch.eye(n, dtype=graph.dtype, device=graph.device).unsqueeze(0)
    if C.dim() == 2:
        C = C.unsqueeze(0)
    return C.expand(batch, -1, -1).reshape(batch, C.shape[1], *shape)


def spec_interval(C: Tensor, lo: Tensor, up: Tensor) -> Interval:
    """Interval bounds of C·y from interval bounds of y (the IBP bound of a spec)."""
    Cf = C.flatten(2)
    lo, up = lo.flatten(1).unsqueeze(2), up.flatten(1).unsqueeze(2)
    pos, neg = Cf.clamp(min=0), Cf.clamp(max=0)
    lower = (torch.bmm(pos, lo) + torch.bmm(neg, up)).squeeze(2)
    upper = (torch.bmm(pos, up) + torch.bmm(neg, lo)).squeeze(2)
    slack = rounding_slack(torch.bmm(Cf.abs(), torch.max(lo.abs(), up.abs())).squeeze(2), Cf.shape[2])
    return lower - slack, upper + slack


def ibp_spec(graph: Graph, bounds: list[Interval], spec: Tensor) -> Interval:
    """The IBP bound of C·output, with C folded into a final linear layer (much tighter than
    applying C to the output intervals, and free)."""
    last = graph.nodes[graph.output]
    if last.op != "linear" or len(graph.output_shape) != 1:
        return spec_interval(spec, *bounds[graph.output])
    Cf = spec.flatten(2)
    W, b = Cf @ last.params["W"], (Cf @ last.params["b"] if last.params.get("b") is not None else 0)
    lo, up = bounds[last.inputs[0]]
    mid, rad = ((lo + up) / 2).unsqueeze(2), ((up - lo) / 2).unsqueeze(2)
    center = torch.bmm(W, mid).squeeze(2) + b
    both = torch.bmm(W.abs(), torch.cat([rad, mid.abs() + rad], 2))
    radius, magnitude = both.unbind(2)
    slack = rounding_slack(magnitude + (b.abs() if torch.is_tensor(b) else 0), W.shape[2])
    return center - radius - slack, center + radius + slack


def crown(graph: Graph, inputs: InputSet, C: Tensor | None = None) -> Interval:
    """CROWN bounds [B, S] of C·output, intersected with the IBP bounds (both are sound)."""
    # ibp_spec folds a final linear layer into the spec: its own IBP bounds would go unused.
    last = graph.nodes[graph.output]
    folded = last.op == "linear" and len(graph.output_shape) == 1
    bounds, relax = intermediate_bounds(graph, inputs, end=graph.output if folded else None)
    spec = output_spec(graph, C, inputs.batch)
    A_in, bias = backward(graph, graph.output, torch.cat([spec, -spec], 1), relax)
    both = inputs.concretize(A_in, bias, consume=True)
    S = spec.shape[1]
    ibp_lo, ibp_up = ibp_spec(graph, bounds, spec)
    return torch.max(both[:, :S], ibp_lo), torch.min(-both[:, S:], ibp_up)
