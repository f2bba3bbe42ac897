"""Adaptive domain splitting: bound all leaves, split the worst, repeat (notes §4.8, batched).

The leaves always partition the domain, so the largest leaf bound is a certified bound of the
whole domain at every step. Each round takes up to `batch` leaves whose bound is above the
target (largest first), bisects each along one coordinate chosen by `choose_dim`, bounds all
children in one call and puts them back. The loop stops when every leaf is under the target,
or on the time or box budget, or when the only leaves above the target are too small to split.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable

import torch

from workbench.runtime import CancelledFn, check_cancelled, never_cancelled

Tensor = torch.Tensor
# (lower, upper) [B, d] -> (bound [B], |error| at the box centres [B], may split further [B] bool)
BoundFn = Callable[[Tensor, Tensor], tuple[Tensor, Tensor, Tensor]]
ChooseFn = Callable[[Tensor, Tensor], Tensor]       # (lower, upper) -> split dimension [B]
StepFn = Callable[["Leaves"], None]
MIN_ROUND_S = 0.5   # the last round may overrun the budget by about this much


@dataclass
class Leaves:
    lower: Tensor          # [N, d]
    upper: Tensor
    bound: Tensor          # [N] certified bound of |error| on the leaf
    splittable: Tensor     # [N] bool
    empirical: float       # the largest |error| seen at any evaluated point
    started: float = field(default_factory=time.perf_counter)
    stop: str = ""
    rounds: int = 0
    seconds_per_box: float = 0.0   # measured on the last round

    @property
    def worst(self) -> float:
        return float(self.bound.max()) if self.bound.numel() else -math.inf

    @property
    def count(self) -> int:
        return int(self.bound.shape[0])

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.started


def bisect(lower: Tensor, upper: Tensor, dims: Tensor) -> tuple[Tensor, Tensor]:
    """Children [2B, d] of boxes [B, d], each box cut in half along dims[b]."""
    mid = (lower.gather(1, dims[:, None]) + upper.gather(1, dims[:, None])) / 2
    left_up = upper.scatter(1, dims[:, None], mid)
    right_lo = lower.scatter(1, dims[:, None], mid)
    return torch.cat([lower, right_lo]), torch.cat([left_up, upper])


def widest_dim(lower: Tensor, upper: Tensor, scale: Tensor) -> Tensor:
    """The coordinate with the largest width relative to `scale` (the domain's extent)."""
    return ((upper - lower) / scale).argmax(1)


def refine(lower: Tensor, upper: Tensor, bound_fn: BoundFn, choose_dim: ChooseFn, *, target: Callable[[float], float],
           time_budget: float, max_boxes: int, batch: int, empirical: float = 0.0, on_step: StepFn | None = None,
           cancelled: CancelledFn = never_cancelled) -> Leaves:
    """Split [lower, upper] ([N, d] starting boxes) until every leaf bound is <= target(empirical).

    `target` is a function of the current empirical maximum, which grows as box centres are
    evaluated. Raises `Cancelled` when `cancelled()` turns true between rounds."""
    start = time.perf_counter()
    bound, centre, ok = bound_fn(lower, upper)
    leaves = Leaves(lower, upper, bound, ok, max(empirical, _finite_max(centre)), start)
    leaves.seconds_per_box = leaves.elapsed / max(1, lower.shape[0])
    while True:
        if on_step is not None:
            on_step(leaves)
        goal = target(leaves.empirical)
        above = leaves.bound > goal
        if not bool(above.any()):
            leaves.stop = "target"
            break
        if leaves.elapsed >= time_budget:
            leaves.stop = "time"
            break
        todo = above & leaves.splittable
        n_todo = int(todo.sum())
        if n_todo == 0:
            leaves.stop = "resolution"
            break
        if leaves.count >= max_boxes:
            leaves.stop = "boxes"
            break
        check_cancelled(cancelled)
        # Rounds are sized so that the time budget is kept to within about one short round.
        per_parent = 2 * leaves.seconds_per_box if leaves.seconds_per_box else 0.0
        fits = int(max(time_budget - leaves.elapsed, MIN_ROUND_S) / per_parent) if per_parent else batch
        k = min(n_todo, max(1, batch // 2), max(1, max_boxes - leaves.count), max(1, fits))
        score = torch.where(todo, leaves.bound, torch.full_like(leaves.bound, -math.inf))
        pick = torch.topk(score, k).indices
        lo, up = bisect(leaves.lower[pick], leaves.upper[pick], choose_dim(leaves.lower[pick], leaves.upper[pick]))
        tic = time.perf_counter()
        b, centre, ok = bound_fn(lo, up)
        leaves.seconds_per_box = (time.perf_counter() - tic) / lo.shape[0]
        keep = torch.ones(leaves.count, dtype=torch.bool, device=leaves.bound.device)
        keep[pick] = False
        leaves.lower = torch.cat([leaves.lower[keep], lo])
        leaves.upper = torch.cat([leaves.upper[keep], up])
        # A child's bound can exceed its parent's only by relaxation noise; the parent's stays valid.
        parent = leaves.bound[pick].repeat(2)
        leaves.bound = torch.cat([leaves.bound[keep], torch.min(b, parent)])
        leaves.splittable = torch.cat([leaves.splittable[keep], ok])
        leaves.empirical = max(leaves.empirical, _finite_max(centre))
        leaves.rounds += 1
    return leaves


def _finite_max(v: Tensor) -> float:
    v = v[torch.isfinite(v)]
    return float(v.max()) if v.numel() else 0.0
