"""From bounds to verdicts: verified / falsified / unknown per sample, and certified radii."""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..nets.graph import Graph
from ..runtime import CancelledFn, ProgressFn, check_cancelled, never_cancelled, no_progress
from .alpha import alpha_crown
from .attack import pgd_attack
from .crown import crown, ibp_spec, output_spec
from .ibp import ibp_all
from .sets import InputSet
from .specs import Specification

Tensor = torch.Tensor
METHODS = ("ibp", "crown", "alpha-crown")


def compute_bounds(graph: Graph, inputs: InputSet, C: Tensor | None = None, method: str = "crown", *,
                   alpha_iterations: int = 20, alpha_lr: float = 0.1, progress: ProgressFn = no_progress,
                   cancelled: CancelledFn = never_cancelled) -> tuple[Tensor, Tensor]:
    """Sound bounds [B, S] of C·output over the input sets (C None: the raw outputs)."""
    if method == "ibp":
        return ibp_spec(graph, ibp_all(graph, inputs), output_spec(graph, C, inputs.batch))
    if method == "crown":
        return crown(graph, inputs, C)
    if method == "alpha-crown":
        return alpha_crown(graph, inputs, C, iterations=alpha_iterations, lr=alpha_lr, progress=progress,
                           cancelled=cancelled)
    raise ValueError(f"unknown bound method {method!r} (choose from {', '.join(METHODS)})")


def spec_bounds(graph: Graph, inputs: InputSet, spec: Specification, method: str, **options
                ) -> tuple[Tensor, Tensor]:
    """Bounds [B, S] of the spec margins C·y + d."""
    lo, up = compute_bounds(graph, inputs, spec.C.expand(inputs.batch, -1, -1), method, **options)
    return lo + spec.d, up + spec.d


@dataclass
class Verdicts:
    status: list[str]              # per sample: verified | falsified | unknown
    lower: Tensor                  # [B, S] spec margin bounds
    upper: Tensor
    counterexamples: Tensor        # [B, *in] (meaningful where status == falsified)
    falsified: Tensor              # [B] bool


def verify(graph: Graph, inputs: InputSet, spec: Specification, method: str = "crown", *, attack_steps: int = 50,
           attack_restarts: int = 5, cancelled: CancelledFn = never_cancelled, **options) -> Verdicts:
    """Bound the spec; attack where the bound does not prove it."""
    lower, upper = spec_bounds(graph, inputs, spec, method, cancelled=cancelled, **options)
    verified = spec.verified(lower)
    falsified = torch.zeros_like(verified)
    cex = inputs.lower.clone()
    todo = (~verified).nonzero().squeeze(1)
    if todo.numel() and attack_steps >= 0:
        sub_spec = spec.select(todo) if spec.C.shape[0] > 1 else spec
        attack = pgd_attack(graph, inputs.select(todo), sub_spec, steps=attack_steps, restarts=attack_restarts,
                            cancelled=cancelled)
        falsified[todo] = attack.found
        cex[todo] = attack.inputs.to(cex.dtype)
    if bool((verified & falsified).any()):   # both proven: a bug somewhere, never report "verified"
        raise RuntimeError("internal error: a sample is both verified and falsified; bounds are unsound")
    status = ["verified" if v else "falsified" if f else "unknown" for v, f in zip(verified.tolist(), falsified.tolist())]
    return Verdicts(status, lower, upper, cex, falsified)


def certified_radius(graph: Graph, centers: Tensor, spec: Specification, *, norm: float = math.inf,
                     clip: tuple[float, float] | None = None, method: str = "crown", max_radius: float = 1.0,
                     steps: int = 12, progress: ProgressFn = no_progress, cancelled: CancelledFn = never_cancelled,
                     **options) -> Tensor:
    """Largest eps (to bisection precision, rounded down) at which each sample is verified [B].

    Every returned radius was itself verified; 0 means not even the clean point is verified."""
    B = centers.shape[0]
    lo = torch.zeros(B, dtype=centers.dtype, device=centers.device)
    hi = torch.full_like(lo, max_radius)
    certified = torch.zeros_like(lo)
    # Try the top of the range first so robust samples don't need the whole bisection.
    trial = hi.clone()
    for step in range(steps + 1):
        check_cancelled(cancelled)
        inputs = InputSet.ball(centers, trial, norm, clip)
        lower, _ = spec_bounds(graph, inputs, spec, method, cancelled=cancelled, **options)
        ok = spec.verified(lower)
        certified = torch.where(ok, torch.max(certified, trial), certified)
        lo = torch.where(ok, trial, lo)
        hi = torch.where(ok, hi, trial)
        trial = (lo + hi) / 2
        progress((step + 1) / (steps + 1), f"radius bisection {step + 1}/{steps + 1}")
    return certified
