"""CROWN intermediate bounds of one layer: which neurons, which sides, in what chunks.

Each row pushed back is one (neuron, sign) pair and yields a lower bound of sign·z[neuron]: sign
+1 gives the neuron's lower bound, −1 minus its upper bound. Most layers need both sides of every
neuron their IBP bounds leave undecided. Not a ReLU's input that nothing else reads: there an
upper bound ≤ 0 makes the neuron inactive, and then its lower bound is read by nothing (its
relaxation is 0, its output interval [0, 0]). So such layers are bounded from above first, and
from below only where the upper bound left the neuron active or undecided. That skips one row
per inactive neuron (57 of the second layer's 512 rows on the benchmark's 784-256-256-256 MLP)
and changes no bound that is used: the skipped lower bounds keep their IBP value.
"""
from __future__ import annotations

import math

import torch

from ..nets.graph import Graph
from .compact import rows_to_refine, symmetric_activation_linear_back
from .sets import InputSet

Tensor = torch.Tensor
# Largest A matrix one backward pass may hold; the rows are pushed back in equal chunks to stay
# under it (A grows as batch × rows × layer size). Below glibc's largest mmap threshold (32 MiB),
# a freed A is reused by the next chunk; above it, every A is a fresh mapping that page-faults in
# again: the benchmark's CNN at batch 32 took 0.75-0.9 s with 128 MiB chunks, 0.41-0.47 s with these.
A_BYTES = 24 * 2**20
# Refine the union of the samples' undecided neurons while it is at most this factor larger than
# the busiest sample's set: shared rows stay one matrix for the whole batch down to the first
# activation, which is worth a few redundant rows (see compact.rows_to_refine).
SHARED_ROWS_SLACK = 1.25
# A dense layer this narrow (few inputs: the first layer of ACAS Xu or a PINN) makes the step of
# both sides of shared rows (compact.symmetric_activation_linear_back) cheap enough that one pass
# with both sides beats two passes with one side each.
NARROW_FAN_IN = 32
# Both sides of shared rows through the first activation by compact.symmetric_activation_linear_back
# (off: the plain backward pass, which tests compare it with).
SYMMETRIC_STEP = True
# Which bounds of the chosen neurons a pass computes.
BOTH, LOWER, UPPER = "both", "lower", "upper"


def undecided(op: str, lo: Tensor, up: Tensor) -> Tensor | None:
    """[B, N] neurons whose relaxation depends on how tight their bounds are; None: all of them."""
    if op in ("relu", "leaky_relu"):
        return ((lo < 0) & (up > 0)).flatten(1)
    return None


def refine_layer(graph: Graph, inputs: InputSet, node: int, op: str, lo: Tensor, up: Tensor,
                 relax: dict, upper_first: bool = False) -> tuple[Tensor, Tensor] | None:
    """Bounds of ``node`` (the input of an ``op`` activation), per neuron the tighter of ``lo``/``up``
    and CROWN's; None when IBP already decides every neuron. ``upper_first``: the node feeds only
    a ReLU, so a neuron whose upper bound is ≤ 0 needs no lower bound (the module docstring)."""
    mask = undecided(op, lo, up)
    if mask is None:
        neurons = torch.arange(lo[0].numel(), device=lo.device).unsqueeze(0)
    else:
        neurons = rows_to_refine(mask, SHARED_ROWS_SLACK)
        if neurons.numel() == 0:
            return None
    lo_flat, up_flat = lo.flatten(1).clone(), up.flatten(1).clone()
    below = _symmetric_below(graph, node, relax) if neurons.shape[0] == 1 else None
    if mask is None or not upper_first or (below is not None and below[1]["W"].shape[1] <= NARROW_FAN_IN):
        # Both sides in one pass (see NARROW_FAN_IN for the last case).
        _refine(graph, inputs, node, neurons, BOTH, relax, lo_flat, up_flat)
    else:
        _refine(graph, inputs, node, neurons, UPPER, relax, lo_flat, up_flat)
        # Per sample: a neuron inactive in one sample is often active in another, and a union
        # would bring most of them back (245 of 256 against 199 on the benchmark's 784 MLP).
        _refine(graph, inputs, node, rows_to_refine(mask & (up_flat > 0)), LOWER, relax, lo_flat, up_flat)
    return lo_flat.view_as(lo), up_flat.view_as(up)


def _refine(graph: Graph, inputs: InputSet, node: int, neurons: Tensor, side: str, relax: dict,
            lo: Tensor, up: Tensor) -> None:
    """Bound ``side`` of the neurons [1 or B, K] in equal chunks under A_BYTES and tighten
    ``lo``/``up`` [B, N] with the results, in place."""
    k = neurons.shape[1]
    if k == 0:
        return
    largest = max(inputs.lower.shape[1:].numel(), *(torch.Size(s).numel() for s in graph.shapes[1:node + 1]))
    rows_per_neuron = 2 if side == BOTH else 1
    most = max(1, A_BYTES // (rows_per_neuron * inputs.batch * largest * lo.element_size()))
    chunk = math.ceil(k / math.ceil(k / most))   # equal parts
    for part in neurons.split(chunk, 1):
        bound = bound_rows(graph, inputs, node, part, side, relax)
        idx = part.expand(inputs.batch, -1)
        if side != UPPER:
            lo.scatter_reduce_(1, idx, bound[:, :part.shape[1]], "amax")
        if side != LOWER:
            up.scatter_reduce_(1, idx, bound[:, -part.shape[1]:].neg(), "amin")


def bound_rows(graph: Graph, inputs: InputSet, node: int, neurons: Tensor, side: str, relax: dict
               ) -> Tensor:
    """CROWN lower bounds of value(node)[neurons] (flat indices [1 (the same for every sample) or
    B, K]) for ``side`` LOWER, of minus it for UPPER, both side by side for BOTH: [B, K or 2K]."""
    from .crown import backward   # crown builds on this module
    spec = graph.nodes[node]
    if spec.op == "linear" and len(graph.shapes[node]) == 1:
        # Start one layer down: the rows of W are the one-hot spec pushed through this layer.
        W, b = spec.params["W"], spec.params.get("b")
        rows = W.index_select(0, neurons.flatten()).view(*neurons.shape, W.shape[1])
        bias = b[neurons] if b is not None else None
        below = _symmetric_below(graph, node, relax) if side == BOTH and neurons.shape[0] == 1 else None
        if SYMMETRIC_STEP and below is not None:
            act, linear, start = below
            A, db = symmetric_activation_linear_back(rows[0], relax[act], linear)
            A_in, total = backward(graph, start, A, relax, db if bias is None else db + _sides(bias, BOTH))
            return inputs.concretize(A_in, total, consume=True)
        rows, bias = _sides(rows, side), (None if bias is None else _sides(bias, side))
        A_in, total = backward(graph, spec.inputs[0], rows, relax, bias)
        return inputs.concretize(A_in, total, consume=True)
    dtype, device = inputs.lower.dtype, inputs.lower.device
    signs = _sides(torch.ones(1, neurons.shape[1], dtype=dtype, device=device), side)
    neurons = torch.cat([neurons, neurons], 1) if side == BOTH else neurons
    from .patches import refine_patches   # conv neurons: small patches instead of dense A
    if (out := refine_patches(graph, inputs, node, neurons, signs, relax)) is not None:
        return out
    # A batch-1 spec (the same for every sample) is pushed through the layers down to the first
    # activation once, not once per sample.
    shape = graph.shapes[node]
    eye = torch.zeros(*neurons.shape, int(torch.Size(shape).numel()), dtype=dtype, device=device)
    eye.scatter_(2, neurons.unsqueeze(2), signs.expand(neurons.shape).unsqueeze(2))
    A_in, total = backward(graph, node, eye.view(*neurons.shape, *shape), relax)
    return inputs.concretize(A_in, total, consume=True)


def _symmetric_below(graph: Graph, node: int, relax: dict) -> tuple[int, dict, int] | None:
    """For the symmetric step under dense ``node``: the activation under it, the params of the
    dense layer under that, and the node below that one; None where the pattern does not hold."""
    from .crown import _linear_under
    act = graph.nodes[node].inputs[0]
    r = relax.get(act)
    users = graph.consumers()
    if r is None or not r.shared_by_rows or users[act] != [node]:
        return None
    linear = _linear_under(graph, act, r, users)
    return None if linear is None else (act, linear, graph.nodes[graph.nodes[act].inputs[0]].inputs[0])


def _sides(t: Tensor, side: str) -> Tensor:
    """Rows for a side along dim 1: t, −t, or both stacked."""
    return t if side == LOWER else t.neg() if side == UPPER else torch.cat([t, t.neg()], 1)
