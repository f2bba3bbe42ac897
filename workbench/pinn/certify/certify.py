"""Certify a PINN: sound upper bounds of max |residual|, |IC error| and |BC error| over the domain.

Each part runs the same recipe: an empirical maximum over a dense uniform sample, then
adaptive splitting (splitting.py) until the bound is within `target_ratio` of the empirical
maximum or the part's share of the time runs out. The initial and boundary conditions are
one-dimensional and converge fast; the residual gets the rest of the time.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from workbench.pinn.pdes.base import PDE
from workbench.runtime import CancelledFn, ProgressFn, never_cancelled, no_progress

from .conditions import Condition, boundary_conditions, condition_bounds, initial_condition
from .empirical import Extremum, condition_sample, residual_at, residual_sample, term_values
from .network import PinnNetwork
from .residual import UNDEFINED, residual_bounds
from .splitting import Leaves, refine

Tensor = torch.Tensor

PARTS = ("residual", "initial", "boundary")
CONDITION_SHARE = 0.15       # of the time budget, for the initial and for all boundary conditions
COARSE = 1 / 64              # undefined (ReLU-kink) residual boxes are not split below this
FINEST = 2.0 ** -30          # no box is split below this fraction of the domain
SAMPLING_SHARE = 0.1         # of a part's time, at most, for its empirical sample (it reports its size)
AUTO_FORWARD_BELOW = 2e-3    # "auto": boxes narrower than this (relative) get forward-mode bounds


@dataclass
class Settings:
    target_ratio: float = 1.1
    time_budget: float = 120.0
    max_boxes: int = 200_000
    samples: int = 1_000_000
    batch: int = 1024
    method: str = "auto"        # "crown", "forward" or "auto" (by box size, see _by_method)
    dtype: torch.dtype = torch.float32
    seed: int = 0


@dataclass
class PartResult:
    bound: float
    empirical: Extremum
    boxes: int
    time_s: float
    stop: str
    lower: np.ndarray              # leaves [N, d] in (t, x) order (d = 1 for a condition)
    upper: np.ndarray
    box_bound: np.ndarray          # [N]
    uncertified_boxes: int = 0
    history: list[tuple[float, float, int]] = field(default_factory=list)   # (time since run start, bound, boxes)
    conditions: dict[str, "PartResult"] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        emp = self.empirical.value
        out = {"bound": self.bound, "bound_squared": self.bound ** 2, "empirical_max": emp,
               "empirical_squared": emp ** 2, "ratio": self.bound / emp if emp > 0 else math.inf,
               "empirical_point": {"t": self.empirical.point[0], "x": self.empirical.point[1]},
               "samples": self.empirical.samples, "boxes": self.boxes, "time_s": self.time_s, "stop": self.stop,
               "uncertified_boxes": self.uncertified_boxes}
        if self.uncertified_boxes:   # what holds on the rest of the domain
            finite = self.box_bound[np.isfinite(self.box_bound)]
            out["bound_where_defined"] = float(finite.max()) if finite.size else None
        if self.conditions:
            out["conditions"] = {k: v.to_dict() for k, v in self.conditions.items()}
        return out


class _Reporter:
    """Turns splitting rounds into progress(fraction, message, detail) and a history."""

    def __init__(self, progress: ProgressFn, budget: float, started: float):
        self.progress, self.budget, self.started = progress, budget, started
        self.history: list[tuple[int, float, float, int]] = []

    def __call__(self, part: str, bound: float, empirical: float, boxes: int) -> None:
        now = time.perf_counter() - self.started
        self.history.append((PARTS.index(part), now, bound, boxes))
        self.progress(min(now / self.budget, 0.99),
                      f"{part} ≤ {bound:.4g} (emp. {empirical:.4g}), {boxes} boxes",
                      {"kind": "pinn", "part": part, "time_s": now, "bound": bound, "empirical_max": empirical,
                       "boxes": boxes})


def _by_method(method: str, rel: Tensor) -> list[tuple[str, Tensor]]:
    """Which boxes get which relaxation: "auto" uses the cheap forward-mode hidden-layer bounds
    on small boxes, where they are as tight as CROWN's (and about half the cost), and CROWN on
    the rest, where it is several times tighter."""
    if method != "auto":
        return [(method, torch.arange(rel.numel(), device=rel.device))]
    small = rel <= AUTO_FORWARD_BELOW
    return [(m, rows) for m, rows in (("forward", small.nonzero()[:, 0]), ("crown", (~small).nonzero()[:, 0]))
            if rows.numel()]


def _target(ratio: float):
    return lambda emp: max(ratio * emp, 1e-12)


def certify_residual(net: PinnNetwork, pde: PDE, s: Settings, budget: float, report, cancelled) -> PartResult:
    start = time.perf_counter()
    emp = residual_sample(net, pde, s.samples, s.seed, SAMPLING_SHARE * budget)
    dev = net.device
    lo0 = torch.tensor([pde.t_range[0], pde.x_range[0]], dtype=torch.float64, device=dev)
    ext = torch.tensor([pde.t_range[1], pde.x_range[1]], dtype=torch.float64, device=dev) - lo0
    n = max(1, int(math.sqrt(s.batch // 4)))     # a first grid of about batch/4 boxes
    g = torch.stack(torch.meshgrid(torch.arange(n, device=dev), torch.arange(n, device=dev), indexing="ij"), -1)
    g = g.reshape(-1, 2).double()
    lower, upper = lo0 + g / n * ext, lo0 + (g + 1) / n * ext

    def bound_fn(lo, hi):
        rel = ((hi - lo) / ext).amax(1)
        bound = torch.empty_like(rel)
        undefined = torch.empty_like(rel, dtype=torch.bool)
        for method, rows in _by_method(s.method, rel):
            for i in range(0, rows.numel(), s.batch):
                idx = rows[i:i + s.batch]
                rb = residual_bounds(net, pde, lo[idx], hi[idx], method=method, dtype=s.dtype)
                bound[idx], undefined[idx] = rb.abs_bound, rb.state == UNDEFINED
        c = (lo + hi) / 2
        centre = residual_at(net, pde, c)
        emp.update(centre, c)
        return bound, centre, (rel > FINEST) & (~undefined | (rel > COARSE))

    def choose(lo, hi):
        # Split where the residual's terms change most across the box: each term is relaxed
        # on its own range, so their variations (not that of f, in which a good PINN's terms
        # cancel) are what the bound must cover. Finite differences of exact values are
        # cheap next to bounding.
        c, r = (lo + hi) / 2, (hi - lo) / 2
        eye = torch.eye(2, dtype=torch.float64, device=dev)
        pts = torch.cat([c + r * eye[0], c - r * eye[0], c + r * eye[1], c - r * eye[1]])
        f = term_values(net, pde, pts).view(4, lo.shape[0], -1)
        var = torch.stack([(f[0] - f[1]).abs().sum(1), (f[2] - f[3]).abs().sum(1)], 1)
        var = torch.nan_to_num(var, nan=0.0) + 1e-9 * r / ext   # flat boxes: the relatively wider side
        return var.argmax(1)

    leaves = refine(lower, upper, bound_fn, choose, target=_target(s.target_ratio), time_budget=budget,
                    max_boxes=s.max_boxes, batch=s.batch, empirical=emp.value, cancelled=cancelled,
                    on_step=lambda lv: report("residual", lv.worst, emp.value, lv.count))
    return _part(leaves, emp, start, int((leaves.bound == math.inf).sum()))


def certify_condition(net: PinnNetwork, cond: Condition, s: Settings, budget: float, on_step, cancelled,
                      pieces: int = 64) -> PartResult:
    start = time.perf_counter()
    emp = condition_sample(net, cond, s.samples, s.seed, SAMPLING_SHARE * budget)
    lo, hi = cond.span
    edges = torch.linspace(lo, hi, pieces + 1, dtype=torch.float64, device=net.device)
    extent = hi - lo
    method = "crown" if s.method == "auto" else s.method   # segments are cheap: always the tightest

    def bound_fn(a, b):
        parts = [condition_bounds(net, cond, a[i:i + s.batch, 0], b[i:i + s.batch, 0], method=method, dtype=s.dtype)
                 for i in range(0, a.shape[0], s.batch)]
        bound, centre = torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])
        c = ((a + b) / 2)[:, 0]
        emp.update(centre, cond.points(c, cond.traces[0]))
        return bound, centre, ((b - a)[:, 0] / extent) > FINEST

    leaves = refine(edges[:-1, None], edges[1:, None], bound_fn, lambda a, b: torch.zeros_like(a[:, 0], dtype=torch.long),
                    target=_target(s.target_ratio), time_budget=budget, max_boxes=s.max_boxes, batch=s.batch,
                    empirical=emp.value, cancelled=cancelled, on_step=lambda lv: on_step(lv, emp.value))
    return _part(leaves, emp, start)


def _part(leaves: Leaves, emp: Extremum, start: float, uncertified: int = 0) -> PartResult:
    return PartResult(leaves.worst, emp, leaves.count, time.perf_counter() - start, leaves.stop,
                      leaves.lower.cpu().numpy(), leaves.upper.cpu().numpy(), leaves.bound.cpu().numpy(), uncertified)


def certify_pinn(net: PinnNetwork, pde: PDE, settings: Settings | None = None, *, parts=PARTS,
                 progress: ProgressFn = no_progress, cancelled: CancelledFn = never_cancelled
                 ) -> tuple[dict[str, PartResult], list[tuple[int, float, float, int]]]:
    """Certify the requested parts; returns ({part: PartResult}, history rows (part, time, bound, boxes))."""
    s = settings or Settings()
    started = time.perf_counter()
    report = _Reporter(progress, s.time_budget, started)
    results: dict[str, PartResult] = {}
    share = CONDITION_SHARE * s.time_budget
    if "initial" in parts:
        results["initial"] = certify_condition(
            net, initial_condition(pde), s, share, lambda lv, e: report("initial", lv.worst, e, lv.count), cancelled)
    if "boundary" in parts and pde.boundary:
        conds = boundary_conditions(pde)
        done: dict[str, PartResult] = {}
        for cond in conds:
            def step(lv, e, done=done):
                worst = max([lv.worst] + [p.bound for p in done.values()])
                report("boundary", worst, max([e] + [p.empirical.value for p in done.values()]),
                       lv.count + sum(p.boxes for p in done.values()))
            done[cond.name] = certify_condition(net, cond, s, share / len(conds), step, cancelled)
        results["boundary"] = _combine(done)
    if "residual" in parts:
        left = max(s.time_budget - (time.perf_counter() - started), 0.05 * s.time_budget)
        results["residual"] = certify_residual(net, pde, s, left, report, cancelled)
    return results, report.history


def _combine(conditions: dict[str, PartResult]) -> PartResult:
    """The boundary part: the worst condition's bound and empirical maximum, all leaves together."""
    worst = max(conditions.values(), key=lambda p: p.bound)
    emp = max((p.empirical for p in conditions.values()), key=lambda e: e.value)
    return PartResult(worst.bound, Extremum(emp.value, emp.point, sum(p.empirical.samples for p in conditions.values())),
                      sum(p.boxes for p in conditions.values()), sum(p.time_s for p in conditions.values()),
                      worst.stop, np.concatenate([p.lower for p in conditions.values()]),
                      np.concatenate([p.upper for p in conditions.values()]),
                      np.concatenate([p.box_bound for p in conditions.values()]), conditions=conditions)
