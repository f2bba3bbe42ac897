"""Interval bound propagation (Gowal et al. 2018): one interval rule per operator."""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

from ..nets.graph import FORWARD, Graph
from .relaxations import HALF   # a 0-dim tensor: cheaper than a Python number
from .sets import InputSet, rounding_slack

Tensor = torch.Tensor
Interval = tuple[Tensor, Tensor]


def _affine_map(apply: Callable[[Tensor], Tensor], apply_abs: Callable[[Tensor], Tensor],
                bias: Tensor | None, lo: Tensor, up: Tensor, n_terms: int) -> Interval:
    mid, rad = (lo + up) * HALF, (up - lo) * HALF
    center, radius = apply(mid), apply_abs(rad)
    magnitude = apply_abs(mid.abs() + rad)
    if bias is not None:
        center, magnitude = center + bias, magnitude + bias.abs()
    radius = radius + rounding_slack(magnitude, n_terms)
    return center - radius, center + radius


# W^T and |W|^T are taken once per call, not per use. (The bias stays out of the matmul: addmm
# rounds differently.)
def _linear(p: dict, lo: Tensor, up: Tensor) -> Interval:
    W_t = p["W"].t()
    W_abs_t = W_t.abs()
    return _affine_map(lambda x: x @ W_t, lambda x: x @ W_abs_t, p.get("b"), lo, up, W_t.shape[0])


def _conv(p: dict, lo: Tensor, up: Tensor) -> Interval:
    w, w_abs, b = p["weight"], p["weight"].abs(), p.get("bias")
    conv = lambda x, weight: F.conv2d(x, weight, None, p["stride"], p["padding"], p["dilation"], p["groups"])  # noqa: E731
    bias = None if b is None else b.view(-1, 1, 1)
    return _affine_map(lambda x: conv(x, w), lambda x: conv(x, w_abs), bias, lo, up, w[0].numel())


def _affine(p: dict, lo: Tensor, up: Tensor) -> Interval:
    scale, scale_abs = p["scale"], p["scale"].abs()
    return _affine_map(lambda x: x * scale, lambda x: x * scale_abs, p["shift"], lo, up, 1)


def _monotone(op: str) -> Callable[[dict, Tensor, Tensor], Interval]:
    return lambda p, lo, up: (FORWARD[op](lo, p), FORWARD[op](up, p))


IBP_RULES: dict[str, Callable[[dict, Tensor, Tensor], Interval]] = {
    "linear": _linear,
    "conv2d": _conv,
    "affine": _affine,
    "reshape": lambda p, lo, up: (FORWARD["reshape"](lo, p), FORWARD["reshape"](up, p)),
    # Every supported activation is monotonically increasing.
    **{op: _monotone(op) for op in ("relu", "leaky_relu", "tanh", "sigmoid", "softplus")},
}


def ibp_all(graph: Graph, inputs: InputSet, known: dict[int, Interval] | None = None,
            previous: list[Interval] | None = None, end: int | None = None) -> list[Interval]:
    """Interval bounds of the nodes up to ``end`` (default: all); ``known`` holds tighter bounds to
    intersect with on the way. Nodes already in ``previous`` are kept, not recomputed."""
    known = known or {}
    bounds: list[Interval] = list(previous) if previous is not None else []
    for i, node in enumerate(graph.nodes[: end], start=0):
        if i < len(bounds):
            continue
        if node.op == "input":
            lo, up = inputs.lower, inputs.upper
        elif node.op == "add":
            (l1, u1), (l2, u2) = bounds[node.inputs[0]], bounds[node.inputs[1]]
            lo, up = l1 + l2, u1 + u2
            slack = rounding_slack(torch.max(lo.abs(), up.abs()), 2)
            lo, up = lo - slack, up + slack
        else:
            lo, up = IBP_RULES[node.op](node.params, *bounds[node.inputs[0]])
        if i in known:
            lo, up = torch.max(lo, known[i][0]), torch.min(up, known[i][1])
        bounds.append((lo, up))
    return bounds


def ibp(graph: Graph, inputs: InputSet) -> Interval:
    """Interval bounds of the network output."""
    return ibp_all(graph, inputs)[graph.output]
