"""Falsification: look for a concrete input that violates the specification (PGD + sampling).

A counterexample is only ever reported after a fresh forward pass confirms it lies in the input
set and violates the property; the attack itself is a heuristic and proves nothing either way.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ..nets.graph import Graph
from ..runtime import CancelledFn, check_cancelled, never_cancelled
from .sets import InputSet
from .specs import Specification

Tensor = torch.Tensor


@dataclass
class AttackResult:
    found: Tensor        # [B] bool: a checked counterexample exists
    inputs: Tensor       # [B, *in] the best point found per sample (a counterexample where found)
    violation: Tensor    # [B] its spec violation (<= 0 means violated)


def check_counterexamples(graph: Graph, inputs: InputSet, spec: Specification, x: Tensor) -> tuple[Tensor, Tensor]:
    """Confirm candidates by a forward pass: ([B] bool violated-and-inside, [B] violation)."""
    with torch.no_grad():
        violation = spec.violation(graph(x))
    return (violation <= 0) & inputs.contains(x), violation


def pgd_attack(graph: Graph, inputs: InputSet, spec: Specification, *, steps: int = 50, restarts: int = 5,
               seed: int = 0, cancelled: CancelledFn = never_cancelled) -> AttackResult:
    """Projected gradient descent on each disjunct's worst row, from the center and random starts."""
    B = inputs.batch
    D = spec.n_disjuncts
    R = restarts + 1
    gen = torch.Generator(device=inputs.lower.device).manual_seed(seed)
    # Work on [R, D, B] copies: each (restart, disjunct) pair gets its own trajectory.
    lo, up = inputs.lower, inputs.upper
    rep = lambda t: t.unsqueeze(0).expand(R * D, *t.shape).reshape(R * D * B, *t.shape[1:])  # noqa: E731
    big = InputSet(rep(lo), rep(up), None if inputs.center is None else rep(inputs.center),
                   None if inputs.eps is None else rep(inputs.eps.unsqueeze(1)).squeeze(1), inputs.norm)
    noise = torch.rand(big.lower.shape, dtype=lo.dtype, device=lo.device, generator=gen)
    start = big.lower + (big.upper - big.lower) * noise
    mid = (big.lower + big.upper) / 2 if inputs.center is None else big.center
    first = torch.zeros(R * D * B, dtype=torch.bool, device=lo.device)
    first[: D * B] = True     # restart 0 starts at the center
    x = big.project(torch.where(first.view(-1, *([1] * (lo.dim() - 1))), mid, start))

    rows = spec.expand(B) if spec.C.shape[0] == 1 else spec
    C = rows.C.unsqueeze(0).expand(R * D, -1, -1, -1).reshape(R * D * B, *rows.C.shape[1:])
    d = rows.d.unsqueeze(0).expand(R * D, -1, -1).reshape(R * D * B, -1)
    disjunct = torch.arange(D, device=lo.device).view(1, D, 1).expand(R, D, B).reshape(-1)
    in_group = spec.groups.to(lo.device).unsqueeze(0) == disjunct.unsqueeze(1)   # [N, S]

    half = (big.upper - big.lower) / 2
    step = 2.5 / max(steps, 1)
    best_x, best_v = x.detach().clone(), torch.full((x.shape[0],), torch.inf, dtype=lo.dtype, device=lo.device)
    for it in range(steps + 1):
        if it % 10 == 0:
            check_cancelled(cancelled)
        x = x.detach().requires_grad_(True)
        with torch.enable_grad():
            margins = torch.einsum("nsk,nk->ns", C, graph(x).flatten(1)) + d
            objective = margins.masked_fill(~in_group, -torch.inf).amax(dim=1)
            grad, = torch.autograd.grad(objective.sum(), x)
        better = objective.detach() < best_v
        best_v = torch.where(better, objective.detach(), best_v)
        best_x[better] = x.detach()[better]
        if it == steps:
            break
        if inputs.norm == 2:
            g = grad.flatten(1)
            g = g / g.norm(dim=1, keepdim=True).clamp_min(1e-30)
            x = big.project(x - (step * big.eps[:, None] * g).view_as(x))
        else:
            x = big.project(x - step * half * grad.sign())
    # The best trajectory per sample, then an independent confirmation.
    best_v = best_v.view(R * D, B)
    pick = best_v.argmin(dim=0)
    chosen = best_x.view(R * D, B, *lo.shape[1:])[pick, torch.arange(B, device=lo.device)]
    found, violation = check_counterexamples(graph, inputs, spec if spec.C.shape[0] == B else spec.expand(B), chosen)
    return AttackResult(found, chosen.detach(), violation)
