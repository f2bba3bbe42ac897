"""Everything the result views and the report show about one run, prepared off the GUI thread.

Qt-free on purpose: it runs in a worker (loading results, forward passes over a grid) and the
report uses it headless. The stored payload holds what was *certified* (margins ``y_true - y_j``
for robustness runs); the views also want the clean outputs and the raw output intervals per
class, and the 2-D view wants decision regions, so those are recomputed here from the stored
spec. Anything that cannot be recomputed (a moved model file, say) becomes a note, never an error:
the stored numbers are always shown.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from workbench.gui.modelinfo import ModelInfo, describe_model
from workbench.jobs.store import RunRecord, RunStore
from workbench.runtime import Cancelled, CancelledFn, check_cancelled, never_cancelled

GRID_SIZE = 200          # decision-region image resolution (pixels per side)
MAX_BOUND_SAMPLES = 2000  # raw output intervals are recomputed only for runs up to this size


@dataclass
class Grid:
    """Decision regions of a 2-input network: predicted class and top-2 logit gap per pixel."""
    extent: tuple[float, float, float, float]  # x0, x1, y0, y1
    classes: np.ndarray                        # [H, W] int, row 0 at y0
    margin: np.ndarray                         # [H, W] float


@dataclass
class RunPoint:
    """One finished run on the same network and data, for the accuracy-vs-eps plot."""
    run_id: str
    method: str
    eps: float
    verified_fraction: float


@dataclass
class ViewData:
    record: RunRecord
    payload: dict = field(default_factory=dict)
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    classes: list[str] = field(default_factory=list)
    inputs: np.ndarray | None = None      # [N, *input_shape], the certified points
    clean: np.ndarray | None = None       # [N, outputs], clean network outputs
    out_lower: np.ndarray | None = None   # [N, outputs], raw output intervals over the ball
    out_upper: np.ndarray | None = None
    bound_method: str = ""                # which method gave out_lower/out_upper
    grid: Grid | None = None
    model: ModelInfo | None = None        # the network as it is on disk now
    runs: list[RunPoint] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    smoothing: Any = None                 # SmoothingData of a smoothing-family run (smoothing_data.py)
    pinn: Any = None                      # PinnData of a PINN-family run (pinndata.py)

    @property
    def samples(self) -> list[dict]:
        return [s for s in self.payload.get("samples") or [] if isinstance(s, dict)]

    @property
    def data(self) -> dict:
        return self.payload.get("data") or {}

    @property
    def params(self) -> dict:
        return self.payload.get("params") or self.record.spec.get("params") or {}

    @property
    def spec_kind(self) -> str:
        """"robust" (margins y_true - y_j), "outputs" (raw outputs) or "vnnlib" (property rows)."""
        if "vnnlib" in self.data:
            return "vnnlib"
        return str(self.data.get("spec", "robust"))

    @property
    def eps(self) -> float | None:
        value = self.data.get("eps", self.params.get("eps"))
        return None if value is None else float(value)

    @property
    def norm(self) -> str:
        return str(self.data.get("norm", self.params.get("norm", "inf")))

    @property
    def radii(self) -> np.ndarray | None:
        values = [s.get("radius") for s in self.samples]
        if not values or any(v is None for v in values):
            return None
        return np.asarray(values, dtype=float)

    @property
    def is_2d(self) -> bool:
        shape = (self.payload.get("network") or {}).get("input_shape")
        return list(shape or []) == [2]

    def class_name(self, k: int | None) -> str:
        if k is None:
            return "-"
        return self.classes[k] if 0 <= k < len(self.classes) else str(k)


def certified_accuracy_curve(radii: np.ndarray, correct: np.ndarray | None,
                             points: int = 200) -> tuple[np.ndarray, np.ndarray]:
    """Fraction of samples that are correct and certified at each radius r (radius >= r)."""
    top = float(radii.max()) if radii.size else 0.0
    r = np.linspace(0.0, top * 1.05 if top > 0 else 1.0, points)
    ok = np.ones_like(radii, dtype=bool) if correct is None else correct.astype(bool)
    acc = ((radii[None, :] >= r[:, None]) & ok[None, :]).mean(axis=1) if radii.size else np.zeros_like(r)
    return r, acc


def load_view_data(store: RunStore, run_id: str, *, grid_size: int = GRID_SIZE,
                   cancelled: CancelledFn = never_cancelled) -> ViewData:
    """Load a run's result and derive the views' extras (clean outputs, raw bounds, grid)."""
    record = store.get(run_id)
    view = ViewData(record)
    if record.status != "done":
        return view
    view.payload, view.arrays = store.result(run_id)
    outputs = int((view.payload.get("network") or {}).get("outputs") or 0)
    view.classes = [str(c) for c in view.data.get("classes") or []] or [str(k) for k in range(outputs)]
    view.runs = _related_runs(store, record)
    if record.family == "smoothing":  # Monte-Carlo regions, certificate geometry, sibling runs
        from workbench.gui.smoothing_data import prepare_smoothing

        prepare_smoothing(view, store, cancelled=cancelled)
    if record.family == "pinn":  # certified boxes, empirical grids and curves (pinndata.py)
        from workbench.gui.pinndata import load_pinn

        load_pinn(view, grid_size, cancelled)
        return view
    try:
        view.model = describe_model(view.payload.get("model") or record.spec["model"])
    except Exception as err:  # noqa: BLE001 - a moved or edited model file
        view.notes.append(f"the network cannot be loaded now: {_line(err)}")
        return view
    if view.spec_kind == "vnnlib":
        return view
    try:
        _recompute(view, grid_size, cancelled)
    except Cancelled:
        raise
    except Exception as err:  # noqa: BLE001 - the stored numbers are still worth showing
        view.notes.append(f"clean outputs and decision regions unavailable: {_line(err)}")
    return view


def _line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0] if text else type(err).__name__


def _related_runs(store: RunStore, record: RunRecord) -> list[RunPoint]:
    """Finished runs of the same network, data and norm: each is one point of accuracy vs eps."""
    spec = record.spec
    key = (spec.get("model"), spec.get("data"), (spec.get("params") or {}).get("norm"))
    points = []
    for r in store.list(status="done"):
        p = r.spec.get("params") or {}
        if r.family != record.family or (r.spec.get("model"), r.spec.get("data"), p.get("norm")) != key:
            continue
        frac = r.summary.get("verified_fraction")
        if p.get("eps") is None or frac is None:
            continue
        points.append(RunPoint(r.id, r.method, float(p["eps"]), float(frac)))
    return sorted(points, key=lambda pt: (pt.method, pt.eps))


def _recompute(view: ViewData, grid_size: int, cancelled: CancelledFn) -> None:
    import torch

    from workbench.bounds.sets import InputSet
    from workbench.bounds.verify import compute_bounds
    from workbench.data.datasets import load_dataset
    from workbench.jobs.certify_inputs import load_samples
    from workbench.nets.loading import load_network
    from workbench.runtime import sound_math

    dtype = torch.float64 if view.params.get("dtype") == "float64" else torch.float32
    graph = load_network(view.model.path, dtype=dtype)
    data = view.record.spec.get("data") or {}
    with torch.no_grad(), sound_math():
        samples = load_samples(graph, input=data.get("input"), labels=data.get("labels"),
                               dataset=data.get("dataset"), samples=data.get("samples"))
        if len(samples.x) != len(view.samples):
            view.notes.append(f"the data now has {len(samples.x)} samples, the run had "
                              f"{len(view.samples)}; clean outputs are not shown")
            return
        view.inputs = samples.x
        x = torch.as_tensor(samples.x, dtype=dtype)
        view.clean = torch.cat([graph(b).flatten(1) for b in x.split(4096)]).cpu().numpy()
        check_cancelled(cancelled)
        _raw_bounds(view, graph, x, samples.clip, InputSet, compute_bounds)
        check_cancelled(cancelled)
        if tuple(graph.input_shape) == (2,):
            extent_points = samples.x
            if data.get("dataset"):  # regions over the whole dataset, not just the chosen rows
                try:
                    extent_points = load_dataset(data["dataset"]).x
                except Exception:  # noqa: BLE001 - the selected rows still give an extent
                    pass
            view.grid = _grid(graph, extent_points.reshape(-1, 2), view, grid_size, dtype)


def _raw_bounds(view: ViewData, graph: Any, x: Any, clip: Any, InputSet: Any, compute_bounds: Any) -> None:
    if view.spec_kind == "outputs":  # the run bounded the raw outputs itself
        view.out_lower, view.out_upper = view.arrays.get("lower"), view.arrays.get("upper")
        view.bound_method = view.record.method
        return
    if view.eps is None or len(x) > MAX_BOUND_SAMPLES:
        return
    # alpha-CROWN would re-optimise per sample; CROWN is the display bound (said in the caption).
    method = "ibp" if view.record.method == "ibp" else "crown"
    norm = math.inf if view.norm == "inf" else 2.0
    lows, ups = [], []
    for b in x.split(256):
        lo, up = compute_bounds(graph, InputSet.ball(b, view.eps, norm, clip), None, method)
        lows.append(lo.cpu().numpy())
        ups.append(up.cpu().numpy())
    view.out_lower, view.out_upper = np.concatenate(lows), np.concatenate(ups)
    view.bound_method = method


def _grid(graph: Any, points: np.ndarray, view: ViewData, size: int, dtype: Any) -> Grid:
    import torch

    lo, hi = points.min(axis=0), points.max(axis=0)
    reach = max([view.eps or 0.0] + [r for r in (view.radii if view.radii is not None else [])])
    pad = 0.1 * float(max(hi - lo)) + reach
    x0, x1, y0, y1 = lo[0] - pad, hi[0] + pad, lo[1] - pad, hi[1] + pad
    xs, ys = np.linspace(x0, x1, size), np.linspace(y0, y1, size)
    gx, gy = np.meshgrid(xs, ys)  # row i is y = ys[i]
    flat = torch.as_tensor(np.stack([gx.ravel(), gy.ravel()], axis=1), dtype=dtype)
    logits = torch.cat([graph(b).flatten(1) for b in flat.split(16384)])
    top2 = logits.topk(min(2, logits.shape[1]), dim=1).values
    gap = (top2[:, 0] - top2[:, -1]) if top2.shape[1] > 1 else top2[:, 0]
    return Grid((float(x0), float(x1), float(y0), float(y1)),
                logits.argmax(1).view(size, size).cpu().numpy(), gap.view(size, size).cpu().numpy())
