"""What the PINN views show about one ∂-CROWN run, prepared off the GUI thread (Qt-free).

The stored run holds the *certified* side: per-box bounds of |f| over the (t, x) sub-boxes, per-
interval bounds of the initial and boundary errors, and the convergence history. The views also
want the *empirical* side on a dense grid (|f| by autograd, the solution u, the IC and BC error
curves), so that is recomputed here from the run's model file. A model that cannot be loaded
now becomes a note: the certified numbers are always shown.

Layout convention: images are [x, t] (row i at x_i, column j at t_j), so a row-major ImageItem
puts t on the horizontal axis and x on the vertical one, as PINN papers draw them.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from workbench.runtime import CancelledFn, check_cancelled, never_cancelled

PARTS = ("residual", "initial", "boundary")   # history rows use these indices (0, 1, 2)
PART_TITLES = {"residual": "residual |f|", "initial": "initial condition", "boundary": "boundary conditions"}
CURVE_POINTS = 1000       # samples of the IC / BC error curves
MAX_RASTER = 1024         # pixels per side of the certified-bound image
NOT_SOLUTION_ERROR = ("The certificate bounds the PDE residual and the initial- and boundary-"
                      "condition errors over the whole domain; it does not bound the error "
                      "|u_θ − u| to the true solution (that needs PDE-specific theory).")


@dataclass
class PinnData:
    pde: dict                                  # PDE.describe() as stored in the run
    parts: dict[str, dict]                     # "residual"/"initial"/"boundary" -> PART dict
    t_range: tuple[float, float]
    x_range: tuple[float, float]
    boxes: np.ndarray                          # [N, 2, 2] residual boxes, [[t_lo, x_lo], [t_hi, x_hi]]
    box_bound: np.ndarray                      # [N] bound of |f| per box (inf: not certified)
    bound_image: np.ndarray                    # [nx, nt] largest box bound touching each pixel
    initial_boxes: np.ndarray                  # [M, 2] x intervals at t0
    initial_bound: np.ndarray                  # [M]
    boundary_boxes: np.ndarray                 # [K, 2] t intervals
    boundary_bound: np.ndarray                 # [K]
    boundary_condition: np.ndarray             # [K] index into pde["boundary_conditions"]
    history: np.ndarray                        # [H, 4] (part, time_s, bound, boxes)
    grid_t: np.ndarray | None = None           # [nt] pixel centres
    grid_x: np.ndarray | None = None           # [nx]
    residual_abs: np.ndarray | None = None     # [nx, nt] empirical |f|
    solution: np.ndarray | None = None         # [nx, nt] u, or |h| for two outputs
    solution_label: str = "u"
    grid_max: tuple[float, float, float] | None = None  # (t, x, |f|) largest |f| on the grid
    ic_x: np.ndarray | None = None             # [n]
    ic_error: np.ndarray | None = None         # [n] |u(t0, x) - g(x)|
    bc_t: np.ndarray | None = None             # [n]
    bc_errors: dict[str, np.ndarray] = field(default_factory=dict)  # name -> [n] (NaN before t_min)

    @property
    def conditions(self) -> list[dict]:
        return list(self.pde.get("boundary_conditions") or [])

    def part(self, name: str) -> dict:
        return self.parts.get(name) or {}

    @property
    def empirical_point(self) -> tuple[float, float] | None:
        """Where the run found its largest residual (else the grid's arg-max)."""
        p = self.part("residual").get("empirical_point") or {}
        if p.get("t") is not None and p.get("x") is not None:
            return float(p["t"]), float(p["x"])
        return None if self.grid_max is None else self.grid_max[:2]

    def box_at(self, t: float, x: float) -> int | None:
        """The residual box containing (t, x) (the smallest one, if they overlap)."""
        b = self.boxes
        if not len(b):
            return None
        inside = (b[:, 0, 0] <= t) & (t <= b[:, 1, 0]) & (b[:, 0, 1] <= x) & (x <= b[:, 1, 1])
        rows = np.flatnonzero(inside)
        if not len(rows):
            return None
        area = (b[rows, 1, 0] - b[rows, 0, 0]) * (b[rows, 1, 1] - b[rows, 0, 1])
        return int(rows[area.argmin()])

    def grid_index(self, t: float, x: float) -> tuple[int, int] | None:
        """(row, column) of the empirical grid pixel at (t, x)."""
        if self.grid_t is None or self.grid_x is None:
            return None
        (t0, t1), (x0, x1) = self.t_range, self.x_range
        if not (t0 <= t <= t1 and x0 <= x <= x1):
            return None
        nt, nx = len(self.grid_t), len(self.grid_x)
        return min(nx - 1, int((x - x0) / (x1 - x0) * nx)), min(nt - 1, int((t - t0) / (t1 - t0) * nt))


def as_float(value: Any) -> float | None:
    """A stored number: the run store writes +-inf as the strings "inf"/"-inf" and NaN as null."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def fmt(value: Any, spec: str = ".3g") -> str:
    """A number for a title or a table: "∞" for an uncertified bound, "–" when unknown."""
    v = as_float(value)
    if v is None or v != v:
        return "–"
    return "∞" if v == float("inf") else format(v, spec)


def numbers(obj: Any) -> Any:
    """``obj`` with the store's "inf"/"-inf" strings turned back into floats (recursively)."""
    if isinstance(obj, dict):
        return {k: numbers(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [numbers(v) for v in obj]
    if obj in ("inf", "-inf", "nan"):
        return float(obj)
    return obj


# ---------------------------------------------------------------- geometry (pure numpy)
def rasterize_boxes(boxes: np.ndarray, bound: np.ndarray, t_range: tuple[float, float],
                    x_range: tuple[float, float], max_pixels: int = MAX_RASTER) -> np.ndarray:
    """An [nx, nt] image where each pixel holds the largest bound of the boxes it touches (NaN
    where no box): taking the max keeps a box smaller than a pixel visible and never makes the
    picture look better than the certificate."""
    (t0, t1), (x0, x1) = t_range, x_range
    if not len(boxes):
        return np.full((1, 1), np.nan)
    # fine enough for the smallest box, within a fixed budget
    wt = float(np.min(boxes[:, 1, 0] - boxes[:, 0, 0])) or (t1 - t0)
    wx = float(np.min(boxes[:, 1, 1] - boxes[:, 0, 1])) or (x1 - x0)
    nt = int(np.clip(np.ceil((t1 - t0) / wt - 1e-6), 16, max_pixels))  # 1/448 wide: 448, not 449
    nx = int(np.clip(np.ceil((x1 - x0) / wx - 1e-6), 16, max_pixels))
    image = np.full((nx, nt), -np.inf)
    eps = 1e-9  # a box edge on a pixel edge does not touch the next pixel
    j0 = np.clip(np.floor((boxes[:, 0, 0] - t0) / (t1 - t0) * nt + eps), 0, nt - 1).astype(int)
    j1 = np.clip(np.ceil((boxes[:, 1, 0] - t0) / (t1 - t0) * nt - eps), j0 + 1, nt).astype(int)
    i0 = np.clip(np.floor((boxes[:, 0, 1] - x0) / (x1 - x0) * nx + eps), 0, nx - 1).astype(int)
    i1 = np.clip(np.ceil((boxes[:, 1, 1] - x0) / (x1 - x0) * nx - eps), i0 + 1, nx).astype(int)
    order = np.argsort(bound, kind="stable")  # the largest bound is written last: a max
    for k in order:
        image[i0[k]:i1[k], j0[k]:j1[k]] = bound[k]
    image[image == -np.inf] = np.nan
    return image


def outline_path(boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(t, x, connect) drawing every box's outline as one polyline: 5 corners per box, with the
    segment from each box to the next left out (one curve item instead of thousands)."""
    n = len(boxes)
    lo, hi = boxes[:, 0, :], boxes[:, 1, :]
    t = np.stack([lo[:, 0], hi[:, 0], hi[:, 0], lo[:, 0], lo[:, 0]], axis=1).ravel()
    x = np.stack([lo[:, 1], lo[:, 1], hi[:, 1], hi[:, 1], lo[:, 1]], axis=1).ravel()
    connect = np.tile(np.array([1, 1, 1, 1, 0], dtype=np.int32), n)
    return t, x, connect


def step_curve(intervals: np.ndarray, bound: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A step function through the intervals' bounds, with a NaN gap where intervals do not meet."""
    if not len(intervals):
        return np.zeros(0), np.zeros(0)
    order = np.argsort(intervals[:, 0])
    iv, b = intervals[order], np.asarray(bound, float)[order]
    xs, ys = [], []
    for k in range(len(iv)):
        if k and iv[k, 0] > iv[k - 1, 1] + 1e-12 * max(1.0, abs(iv[k, 0])):
            xs.append(iv[k, 0])
            ys.append(np.nan)
        xs += [iv[k, 0], iv[k, 1]]
        ys += [b[k], b[k]]
    return np.asarray(xs), np.asarray(ys)


# ---------------------------------------------------------------- convergence history
@dataclass
class Series:
    """One part's global bound over time, and the empirical maximum it is compared with."""
    time: np.ndarray
    bound: np.ndarray
    boxes: np.ndarray
    empirical: float | None = None


def convergence_series(history: np.ndarray, empirical: dict[str, float | None]) -> dict[str, Series]:
    """Split [H, 4] history rows (part, time_s, bound, boxes) into one series per part."""
    history = np.asarray(history, float).reshape(-1, 4)
    out = {}
    for k, part in enumerate(PARTS):
        rows = history[history[:, 0] == k]
        rows = rows[np.argsort(rows[:, 1], kind="stable")]
        if len(rows) or empirical.get(part) is not None:
            out[part] = Series(rows[:, 1], rows[:, 2], rows[:, 3], empirical.get(part))
    return out


def stored_series(data: PinnData) -> dict[str, Series]:
    return convergence_series(data.history, {p: data.part(p).get("empirical_max") for p in PARTS})


# ---------------------------------------------------------------- which PDE a network is for
def guess_pde(manifest: dict[str, Any] | None, path: str | Path) -> str | None:
    """A sample PINN's manifest names its PDE; for other files the name may ("burgers_x.onnx")."""
    from workbench.pinn.pdes.registry import ALIASES, list_pdes

    manifest = manifest or {}
    if manifest.get("kind") == "pinn" and (manifest.get("pde") or {}).get("name"):
        return str(manifest["pde"]["name"])
    if manifest:  # a sample model of another kind: not a PINN
        return None
    stem = Path(path).stem.lower().replace("-", "_")
    words = set(re.split(r"[^a-z0-9]+", stem.replace("_", " ")))
    names = sorted(list(list_pdes()) + list(ALIASES), key=len, reverse=True)
    for name in names:  # longest first; a short alias ("nls", "ac") only as a whole word
        if (name in stem and len(name) > 4) or name in words:
            return ALIASES.get(name, name)
    return None


# ---------------------------------------------------------------- loading a run
def pinn_data(payload: dict, arrays: dict[str, np.ndarray]) -> PinnData:
    """The certified side, straight from the stored run (no model needed)."""
    pde = dict(payload.get("pde") or {})
    dom = pde.get("domain") or {}
    t_range = tuple(float(v) for v in dom.get("t", (0.0, 1.0)))
    x_range = tuple(float(v) for v in dom.get("x", (0.0, 1.0)))

    def arr(name: str, shape: tuple[int, ...], dtype: Any = float) -> np.ndarray:
        a = arrays.get(name)
        return np.zeros(shape, dtype) if a is None else np.asarray(a, dtype)

    boxes, bound = arr("residual_boxes", (0, 2, 2)), arr("residual_bound", (0,))
    return PinnData(pde, {p: numbers(dict(payload.get(p) or {})) for p in PARTS}, t_range, x_range,
                    boxes, bound, rasterize_boxes(boxes, bound, t_range, x_range),
                    arr("initial_boxes", (0, 2)), arr("initial_bound", (0,)),
                    arr("boundary_boxes", (0, 2)), arr("boundary_bound", (0,)),
                    arr("boundary_condition", (0,), int), arr("history", (0, 4)))


def add_empirical(data: PinnData, model_path: str, input_order: Any = None, grid_size: int = 200,
                  cancelled: CancelledFn = never_cancelled) -> None:
    """Evaluate the network on dense grids: |f| and u over (t, x), the IC and BC error curves."""
    import torch

    from workbench.nets.loading import load_network
    from workbench.pinn.pdes import (boundary_errors_at, get_pde, initial_error_at, pointwise_norm,
                                     residual_at)

    pde = get_pde(data.pde.get("name", ""))
    order = tuple(input_order or data.pde.get("input_order") or pde.input_order)
    # float32, the networks' own precision: a picture, 2-3x faster than float64 on a 200² grid
    # (second derivatives of an ONNX Schrödinger PINN: 4 s instead of 10 s on two cores)
    graph = load_network(model_path)
    (t0, t1), (x0, x1) = data.t_range, data.x_range
    # pixel centres, so the image's rectangle maps each value exactly onto its pixel
    data.grid_t = t0 + (np.arange(grid_size) + 0.5) * (t1 - t0) / grid_size
    data.grid_x = x0 + (np.arange(grid_size) + 0.5) * (x1 - x0) / grid_size
    T, X = np.meshgrid(data.grid_t, data.grid_x)  # [nx, nt]
    t, x = torch.as_tensor(T.ravel(), dtype=graph.dtype), torch.as_tensor(X.ravel(), dtype=graph.dtype)
    res, sol = [], []
    for tb, xb in zip(t.split(8192), x.split(8192)):
        check_cancelled(cancelled)
        res.append(pointwise_norm(residual_at(graph, pde, tb, xb, input_order=order)))
        with torch.no_grad():
            u = graph(torch.stack([tb if k == "t" else xb for k in order], dim=1)).reshape(len(tb), -1)
        sol.append(u[:, 0] if u.shape[1] == 1 else torch.linalg.vector_norm(u, dim=1))
    data.residual_abs = torch.cat(res).reshape(T.shape).double().numpy()
    data.solution = torch.cat(sol).reshape(T.shape).double().numpy()
    data.solution_label = pde.outputs[0] if pde.n_outputs == 1 else "|h|"
    i, j = np.unravel_index(int(np.argmax(data.residual_abs)), T.shape)
    data.grid_max = (float(T[i, j]), float(X[i, j]), float(data.residual_abs[i, j]))
    check_cancelled(cancelled)
    data.ic_x = np.linspace(x0, x1, CURVE_POINTS)
    data.ic_error = pointwise_norm(initial_error_at(graph, pde, torch.as_tensor(data.ic_x, dtype=graph.dtype),
                                                    input_order=order)).double().numpy()
    data.bc_t = np.linspace(t0, t1, CURVE_POINTS)
    errors = boundary_errors_at(graph, pde, torch.as_tensor(data.bc_t, dtype=graph.dtype), input_order=order)
    for bc in pde.boundary:
        e = pointwise_norm(errors[bc.name]).numpy().astype(float)
        if bc.t_min is not None:
            e[data.bc_t < bc.t_min] = np.nan  # the condition is not imposed there
        data.bc_errors[bc.name] = e


def load_pinn(view: Any, grid_size: int, cancelled: CancelledFn) -> None:
    """Fill ``view.pinn`` (and ``view.model``) of a ``ViewData`` holding a PINN run's result."""
    from workbench.gui.modelinfo import describe_model
    from workbench.runtime import Cancelled

    view.pinn = data = pinn_data(view.payload, view.arrays)
    path = view.payload.get("model") or view.record.spec.get("model")
    try:
        view.model = describe_model(path)
        order = (view.payload.get("network") or {}).get("input_order") or view.payload.get("input_order")
        add_empirical(data, path, order, grid_size, cancelled)  # the network's own input order
    except Cancelled:
        raise
    except Exception as err:  # noqa: BLE001 - a moved model file: the certified side still shows
        text = str(err).strip().splitlines()
        view.notes.append(f"the empirical errors cannot be recomputed: {text[0] if text else type(err).__name__}")
