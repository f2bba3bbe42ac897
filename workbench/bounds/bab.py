"""Input-domain branch and bound for low-dimensional inputs (ACAS Xu, PINNs).

The input box is split into sub-boxes held as one tensor; each round takes the worst boxes (a
priority queue by certified margin), bisects each along its most promising dimension, bounds all
children in one batched call and drops the children that are verified. Box centres and a PGD
attack on the worst boxes look for counterexamples as it goes.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from ..nets.graph import Graph
from ..runtime import CancelledFn, ProgressFn, check_cancelled, never_cancelled, no_progress
from .attack import check_counterexamples, pgd_attack
from .sets import InputSet
from .specs import Specification
from .verify import spec_bounds

Tensor = torch.Tensor


@dataclass
class BabResult:
    status: str                    # verified | falsified | unknown
    counterexample: Tensor | None  # [*in] where falsified
    worst_lower: float             # smallest certified score over the remaining boxes (> 0 when verified)
    boxes_bounded: int
    boxes_left: int
    seconds: float


def _split(lo: Tensor, up: Tensor, scale: Tensor, grad: Tensor) -> tuple[Tensor, Tensor]:
    """Bisect each box along the dimension with the largest (normalised width × sensitivity)."""
    width = (up - lo).flatten(1)
    smear = width / scale * (grad.flatten(1).abs() + 1e-3 * grad.flatten(1).abs().mean(1, keepdim=True) + 1e-12)
    dim = smear.argmax(dim=1)
    rows = torch.arange(lo.shape[0], device=lo.device)
    mid = (lo.flatten(1)[rows, dim] + up.flatten(1)[rows, dim]) / 2
    left_up, right_lo = up.flatten(1).clone(), lo.flatten(1).clone()
    left_up[rows, dim], right_lo[rows, dim] = mid, mid
    new_lo = torch.cat([lo.flatten(1), right_lo]).view(-1, *lo.shape[1:])
    new_up = torch.cat([left_up, up.flatten(1)]).view(-1, *lo.shape[1:])
    return new_lo, new_up


def _sensitivity(graph: Graph, spec: Specification, lo: Tensor, up: Tensor) -> Tensor:
    """Gradient of the violation at each box centre: which inputs move the margin most."""
    x = ((lo + up) / 2).detach().requires_grad_(True)
    with torch.enable_grad():
        v = spec.expand(x.shape[0]).violation(graph(x))
        grad, = torch.autograd.grad(v.sum(), x)
    return grad


def input_bab(graph: Graph, lower: Tensor, upper: Tensor, spec: Specification, method: str = "crown", *,
              timeout: float = 60.0, max_boxes: int = 200_000, batch: int = 512, attack_every: int = 5,
              progress: ProgressFn = no_progress, cancelled: CancelledFn = never_cancelled, **options) -> BabResult:
    """Decide ``spec`` over the box [lower, upper] (each [1, *in]) by splitting it."""
    start = time.monotonic()
    scale = (upper - lower).flatten(1).clamp_min(1e-12)
    root = InputSet.box(lower, upper)
    # Low-dimensional boxes are cheap to attack hard: many restarts find most counterexamples here.
    attack = pgd_attack(graph, root, spec, steps=60, restarts=60, cancelled=cancelled)
    if bool(attack.found[0]):
        return BabResult("falsified", attack.inputs[0], float("nan"), 0, 1, time.monotonic() - start)
    root_lower, _ = spec_bounds(graph, root, spec, method, cancelled=cancelled, **options)
    boxes_lo, boxes_up, scores = lower, upper, spec.worst_score(root_lower)
    bounded, rounds = 1, 0
    proved = torch.inf       # smallest certified score among the boxes closed so far
    while True:
        keep = scores <= 0
        if bool((~keep).any()):
            proved = min(proved, float(scores[~keep].min()))
        boxes_lo, boxes_up, scores = boxes_lo[keep], boxes_up[keep], scores[keep]
        n = scores.shape[0]
        if n == 0:
            return BabResult("verified", None, proved, bounded, 0, time.monotonic() - start)
        elapsed = time.monotonic() - start
        if elapsed > timeout or bounded >= max_boxes:
            return BabResult("unknown", None, float(scores.min()), bounded, n, elapsed)
        check_cancelled(cancelled)
        # Priority queue: the worst boxes first (one topk, no Python heap of boxes).
        k = min(batch, n)
        worst = torch.topk(scores, k, largest=False).indices
        rest = torch.ones(n, dtype=torch.bool, device=scores.device)
        rest[worst] = False
        pick_lo, pick_up = boxes_lo[worst], boxes_up[worst]
        grad = _sensitivity(graph, spec, pick_lo, pick_up)
        child_lo, child_up = _split(pick_lo, pick_up, scale, grad)
        children = InputSet.box(child_lo, child_up)
        child_spec = spec.expand(child_lo.shape[0])
        # Cheap falsification: box centres, and PGD on the worst few now and then.
        centres = (child_lo + child_up) / 2
        found, _ = check_counterexamples(graph, children, child_spec, centres)
        if not bool(found.any()) and rounds % attack_every == 0:
            few = torch.arange(min(16, child_lo.shape[0]), device=child_lo.device)
            res = pgd_attack(graph, children.select(few), spec, steps=20, restarts=2, cancelled=cancelled)
            if bool(res.found.any()):
                return BabResult("falsified", res.inputs[res.found.nonzero()[0, 0]], float("nan"), bounded,
                                 n, time.monotonic() - start)
        if bool(found.any()):
            return BabResult("falsified", centres[found.nonzero()[0, 0]], float("nan"), bounded, n,
                             time.monotonic() - start)
        child_lower, _ = spec_bounds(graph, children, child_spec, method, cancelled=cancelled, **options)
        bounded += child_lo.shape[0]
        rounds += 1
        boxes_lo = torch.cat([boxes_lo[rest], child_lo])
        boxes_up = torch.cat([boxes_up[rest], child_up])
        scores = torch.cat([scores[rest], spec.worst_score(child_lower)])
        left = int((scores <= 0).sum())
        progress(min(0.99, (time.monotonic() - start) / max(timeout, 1e-9)),
                 f"branch and bound: {bounded} boxes bounded, {left} open")

