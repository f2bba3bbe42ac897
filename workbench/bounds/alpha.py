"""alpha-CROWN (Xu et al. 2021): optimise the relaxation slopes of every activation, per spec row.

Any slope gives a sound line (relaxations.py computes the tightest valid intercept for it), so
the optimiser is free to move slopes; the best bound seen for each spec row is kept, which makes
the result never looser than CROWN (the starting point).
"""
from __future__ import annotations

import torch

from ..nets.graph import Graph
from ..runtime import CancelledFn, ProgressFn, check_cancelled, never_cancelled, no_progress
from .crown import Interval, Relaxation, backward, intermediate_bounds, make_relaxation, output_spec, spec_interval
from .relaxations import slope_range
from .sets import InputSet

Tensor = torch.Tensor


def alpha_crown(graph: Graph, inputs: InputSet, C: Tensor | None = None, *, iterations: int = 20,
                lr: float = 0.1, progress: ProgressFn = no_progress, cancelled: CancelledFn = never_cancelled
                ) -> Interval:
    """alpha-CROWN bounds [B, S] of C·output (lower and upper both optimised)."""
    bounds, relax = intermediate_bounds(graph, inputs)
    spec = output_spec(graph, C, inputs.batch)
    S = spec.shape[1]
    A0 = torch.cat([spec, -spec], 1)

    # One slope pair per activation neuron, per batch element and per spec row (lower and upper
    # bounds are separate rows of A0, so they get their own slopes too).
    params: dict[int, tuple[Tensor, Tensor]] = {}
    limits: dict[int, tuple[Tensor, Tensor]] = {}
    for i, r in relax.items():
        lo, up = (b.unsqueeze(1) for b in bounds[graph.nodes[i].inputs[0]])
        expand = lambda t: t.expand(-1, 2 * S, *t.shape[2:]).clone().requires_grad_(True)  # noqa: E731
        params[i] = (expand(r.slope_lo), expand(r.slope_up))
        limits[i] = slope_range(graph.nodes[i].op, graph.nodes[i].params, lo, up)

    def bound_with_slopes() -> Tensor:
        current: dict[int, Relaxation] = {}
        for i, (k_lo, k_up) in params.items():
            node = graph.nodes[i]
            lo, up = (b.unsqueeze(1) for b in bounds[node.inputs[0]])
            current[i] = make_relaxation(node.op, node.params, lo, up, (k_lo, k_up))
        A_in, bias = backward(graph, graph.output, A0, current)
        return inputs.concretize(A_in, bias)

    with torch.no_grad():
        A_in, bias = backward(graph, graph.output, A0, relax)
        best = inputs.concretize(A_in, bias)
    optimiser = torch.optim.Adam([t for pair in params.values() for t in pair], lr=lr)
    for step in range(iterations):
        check_cancelled(cancelled)
        with torch.enable_grad():
            value = bound_with_slopes()
            optimiser.zero_grad(set_to_none=True)
            (-value.sum()).backward()
        best = torch.max(best, torch.nan_to_num(value.detach(), nan=-torch.inf))
        optimiser.step()
        with torch.no_grad():
            for i, (k_lo, k_up) in params.items():
                low, high = limits[i]
                k_lo.copy_(torch.max(torch.min(k_lo, high), low))
                k_up.copy_(torch.max(torch.min(k_up, high), low))
        progress((step + 1) / max(iterations, 1), f"alpha-CROWN step {step + 1}/{iterations}")
    with torch.no_grad():
        best = torch.max(best, torch.nan_to_num(bound_with_slopes(), nan=-torch.inf))
    ibp_lo, ibp_up = spec_interval(spec, *bounds[graph.output])
    return torch.max(best[:, :S], ibp_lo), torch.min(-best[:, S:], ibp_up)
