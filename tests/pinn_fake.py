"""A stand-in PINN certification method for GUI and report tests.

It produces a result with the exact payload and array layout of the ∂-CROWN job
(``workbench pinn certify``), built from a real network: the domain is split into a quadtree that
refines where the network's residual is large, and each box's "bound" is the largest |f| sampled
in it, inflated by a size-dependent margin (so bounds sit above the empirical values, as real ones
do). It is not a certificate; it only has the right shape and realistic numbers. ``run`` also
reports live convergence points through ``progress(fraction, message, detail)``.
"""
from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from typing import Iterator

import numpy as np
import torch

from workbench.jobs import registry
from workbench.jobs.certify import RunResult
from workbench.jobs.registry import Method, param
from workbench.nets.loading import load_network
from workbench.pinn.pdes import (boundary_errors_at, get_pde, initial_error_at, pointwise_norm,
                                 residual_at)
from workbench.runtime import check_cancelled

PINN_VIEWS = ("pinn_residual", "pinn_conditions", "pinn_convergence")
NAME = "fake-pinn"


@dataclass
class FakePinnParams:
    depth: int = param(3, help="refinement levels of the quadtree", min=0, max=6)
    live_points: int = param(4, help="live convergence points per part", min=0, max=100)
    delay: float = param(0.0, help="pause between live points", unit="s", min=0.0)
    uncertified: int = param(2, help="boxes reported as not certified", min=0)


def _max_abs(fn, points: np.ndarray) -> np.ndarray:
    return pointwise_norm(fn(torch.as_tensor(points))).numpy()


def synthetic_result(model: str, pde_name: str, params: FakePinnParams | None = None,
                     progress=None, cancelled=None) -> RunResult:
    p = params or FakePinnParams()
    pde = get_pde(pde_name)
    graph = load_network(model, dtype=torch.float64)
    (t0, t1), (x0, x1) = pde.t_range, pde.x_range
    start = time.perf_counter()

    def box_max(boxes: np.ndarray) -> np.ndarray:  # |f| on a 4x4 grid per box
        s = np.linspace(0.0, 1.0, 4)
        st, sx = np.meshgrid(s, s)
        lo, hi = boxes[:, 0, :], boxes[:, 1, :]
        t = lo[:, :1] + (hi - lo)[:, :1] * st.ravel()
        x = lo[:, 1:] + (hi - lo)[:, 1:] * sx.ravel()
        f = pointwise_norm(residual_at(graph, pde, torch.as_tensor(t.ravel()), torch.as_tensor(x.ravel())))
        return f.numpy().reshape(len(boxes), -1).max(axis=1)

    tt, xx = np.meshgrid(np.linspace(t0, t1, 9)[:-1], np.linspace(x0, x1, 9)[:-1])
    dt, dx = (t1 - t0) / 8, (x1 - x0) / 8
    boxes = np.stack([np.stack([tt.ravel(), xx.ravel()], 1), np.stack([tt.ravel() + dt, xx.ravel() + dx], 1)], 1)
    history: list[tuple[float, float, float, float]] = []
    for level in range(p.depth + 1):
        emp = box_max(boxes)
        size = (boxes[:, 1, 0] - boxes[:, 0, 0]) / (t1 - t0) + (boxes[:, 1, 1] - boxes[:, 0, 1]) / (x1 - x0)
        bound = emp * (1.0 + 4.0 * size) + 0.05 * size * emp.max()
        history.append((0.0, time.perf_counter() - start, float(bound.max()) * 1.5, float(len(boxes))))
        if level == p.depth:
            break
        worst = bound >= np.quantile(bound, 0.75)  # split the worst quarter into four
        lo, hi = boxes[worst, 0, :], boxes[worst, 1, :]
        mid = (lo + hi) / 2
        kids = []
        for a, b in ((0, 0), (0, 1), (1, 0), (1, 1)):
            klo = np.stack([np.where(a, mid[:, 0], lo[:, 0]), np.where(b, mid[:, 1], lo[:, 1])], 1)
            khi = np.stack([np.where(a, hi[:, 0], mid[:, 0]), np.where(b, hi[:, 1], mid[:, 1])], 1)
            kids.append(np.stack([klo, khi], 1))
        boxes = np.concatenate([boxes[~worst]] + kids)
    bound = bound.copy()
    if p.uncertified:
        bound[np.argsort(bound)[-p.uncertified:]] = np.inf
    # the empirical maximum on a dense random sample, and where it is
    rng = np.random.default_rng(0)
    pts = np.stack([rng.uniform(t0, t1, 20000), rng.uniform(x0, x1, 20000)], 1)
    f = pointwise_norm(residual_at(graph, pde, torch.as_tensor(pts[:, 0]), torch.as_tensor(pts[:, 1]))).numpy()
    k = int(f.argmax())
    for j in range(len(boxes)):  # a bound below a sampled value would look absurd
        inside = np.all((pts >= boxes[j, 0]) & (pts <= boxes[j, 1]), axis=1)
        if inside.any() and np.isfinite(bound[j]):
            bound[j] = max(bound[j], 1.05 * float(f[inside].max()))
    # initial condition: 32 x-intervals; boundary: 16 t-intervals per condition
    ix = np.linspace(x0, x1, 33)
    ibox = np.stack([ix[:-1], ix[1:]], 1)
    xs = np.linspace(x0, x1, 2000)
    ic = _max_abs(lambda x: initial_error_at(graph, pde, x), xs)
    ibound = np.array([ic[(xs >= a) & (xs <= b)].max() for a, b in ibox]) * 1.5 + 1e-5
    tb = np.linspace(t0, t1, 17)
    tbox = np.stack([tb[:-1], tb[1:]], 1)
    ts = np.linspace(t0, t1, 2000)
    errs = boundary_errors_at(graph, pde, torch.as_tensor(ts))
    bboxes, bbound, bcond, conditions = [], [], [], {}
    for c, bc in enumerate(pde.boundary):
        e = pointwise_norm(errs[bc.name]).numpy()
        b = np.array([e[(ts >= a) & (ts <= b_)].max() for a, b_ in tbox]) * 1.5 + 1e-5
        bboxes.append(tbox), bbound.append(b), bcond.append(np.full(len(tbox), c))
        conditions[bc.name] = {"bound": float(b.max()), "empirical_max": float(e.max()), "boxes": len(tbox)}
    bboxes, bbound, bcond = np.concatenate(bboxes), np.concatenate(bbound), np.concatenate(bcond)
    elapsed = time.perf_counter() - start

    def part(b: float, emp: float, boxes_n: int, point: dict | None = None, **extra) -> dict:
        return {"bound": b, "bound_squared": b * b, "empirical_max": emp, "empirical_squared": emp * emp,
                "ratio": b / emp if emp else float("inf"), "empirical_point": point, "samples": 20000,
                "boxes": boxes_n, "time_s": elapsed / 3, "stop": "target",
                "uncertified_boxes": int(np.isinf(bound).sum()) if point else 0, **extra}

    where = {"t": float(pts[k, 0]), "x": float(pts[k, 1])}
    parts = {"residual": part(float(bound.max()), float(f.max()), len(boxes), where),
             "initial": part(float(ibound.max()), float(ic.max()), len(ibox)),
             "boundary": part(float(bbound.max()), float(max(c["empirical_max"] for c in conditions.values())),
                              len(bboxes), conditions={n: part(c["bound"], c["empirical_max"], c["boxes"])
                                                       for n, c in conditions.items()})}
    # convergence: the residual's levels above, then geometric approach for IC and BC
    for pi, name in ((1, "initial"), (2, "boundary")):
        final = parts[name]["bound"]
        for j in range(4):
            history.append((float(pi), elapsed * (0.7 + 0.1 * j), final * 2.0 ** (3 - j), 8.0 * 2 ** j))
    finite = {n: parts[n]["bound"] if np.isfinite(parts[n]["bound"]) else float(bound[np.isfinite(bound)].max())
              for n in parts}
    for name in parts:  # live points, as the real job reports them
        for j in range(p.live_points if progress else 0):
            check_cancelled(cancelled)
            progress((list(parts).index(name) * p.live_points + j + 1) / (3 * p.live_points), f"{name} {j}",
                     {"kind": "pinn", "part": name, "time_s": time.perf_counter() - start,
                      "bound": finite[name] * 2.0 ** (p.live_points - 1 - j),
                      "empirical_max": parts[name]["empirical_max"], "boxes": 4 ** j})
            time.sleep(p.delay)
    summary = {f"{n}_{k}": parts[n][key] for n in parts
               for k, key in (("bound", "bound"), ("empirical", "empirical_max"))}
    payload = {"method": NAME, "model": str(model), "params": {"depth": p.depth}, "data": {"pde": pde.name},
               "pde": pde.describe(), **parts, "summary": summary,
               "timing": {"total_s": time.perf_counter() - start},
               "network": {"name": graph.name, "parameters": graph.num_parameters()}}
    arrays = {"residual_boxes": boxes, "residual_bound": bound, "initial_boxes": ibox, "initial_bound": ibound,
              "boundary_boxes": bboxes, "boundary_bound": bbound, "boundary_condition": bcond.astype(np.int64),
              "history": np.asarray(history, float)}
    return RunResult(payload, arrays, summary)


def run(job, *, progress, cancelled) -> RunResult:
    return synthetic_result(job.model, job.pde, job.params, progress, cancelled)


@contextlib.contextmanager
def registered(views: tuple[str, ...] = PINN_VIEWS) -> Iterator[Method]:
    """The stand-in method in the registry for the duration of a test."""
    method = Method(NAME, "Fake ∂-CROWN", "pinn", FakePinnParams, run, views,
                    "A test stand-in with the payload of the PINN certifier.")
    registry.register(method)
    try:
        yield method
    finally:
        registry.unregister(NAME)


# Residual boxes with known bounds, for pixel tests: quadrants of the Burgers domain, the upper
# right one split in four.
HANDMADE_BOXES = np.array([[[0.0, -1.0], [0.5, 0.0]], [[0.5, -1.0], [1.0, 0.0]], [[0.0, 0.0], [0.5, 1.0]],
                           [[0.5, 0.0], [0.75, 0.5]], [[0.75, 0.0], [1.0, 0.5]],
                           [[0.5, 0.5], [0.75, 1.0]], [[0.75, 0.5], [1.0, 1.0]]])
HANDMADE_BOUNDS = np.array([1e-3, 10.0, np.inf, 1e-2, 1e-2, 1e-2, 1e-2])


def handmade_result(model: str) -> RunResult:
    """``synthetic_result`` of the Burgers model with the residual boxes replaced by the above."""
    result = synthetic_result(model, "burgers", FakePinnParams(depth=0, live_points=0, uncertified=0))
    result.arrays["residual_boxes"] = HANDMADE_BOXES.copy()
    result.arrays["residual_bound"] = HANDMADE_BOUNDS.copy()
    res = result.payload["residual"]
    res.update(bound=float("inf"), bound_squared=float("inf"), ratio=float("inf"), boxes=7, uncertified_boxes=1)
    result.summary["residual_bound"] = float("inf")
    return result


def store_run(store, model: str, result: RunResult, method: str = NAME) -> str:
    """Put a finished PINN run into ``store`` directly (no registry, no job): its id."""
    spec = {"method": method, "model": str(model), "data": dict(result.payload["data"]),
            "params": dict(result.payload["params"])}
    run_id = store.create(method, "pinn", spec, f"workbench pinn certify --model {model}", title="PINN test run")
    store.start(run_id)
    store.finish(run_id, {**result.payload, "run_id": run_id}, result.arrays, result.summary)
    return run_id
