"""What the smoothing views (randomized smoothing, ANCER, RANCER) show about a run, prepared off
the GUI thread by ``load_view_data``; Qt-free like the rest of the view data.

Three things are computed here rather than in a view:
- the decision regions of the base classifier f and of the smoothed classifier
  g(x) = argmax_c P[f(x + noise) = c] (``smoothing_grids``: a seeded Monte-Carlo majority vote,
  batched), and close-ups of f around each sample for the Hessian view;
- each sample's certified region (``smoothing_geometry``), from the stored p̲_A, σ and rotation;
- the per-sample radii of every finished smoothing run on the same network, data and norm, so the
  accuracy view compares methods on one plot.
The grid uses the run's base σ for every pixel: ANCER and RANCER choose σ per input, and a picture
of "the" smoothed classifier needs one σ (the caption says which).
"""
from __future__ import annotations

from dataclasses import dataclass, field
import numpy as np

from workbench.gui import smoothing_grids
from workbench.gui.smoothing_geometry import Region, gap_from_p_lower, inscribed_radius, make_region
from workbench.gui.viewdata import Grid, ViewData
from workbench.jobs.store import RunStore
from workbench.runtime import Cancelled, CancelledFn, never_cancelled

MAX_CURVES = 12       # related runs drawn in the accuracy view (newest first)
CLOSE_UP = 1.25       # a Hessian close-up shows this many times the region's reach around the point
CLOSE_UP_ASPECT = 1.7  # the close-up plot shares its row with the eigenvalue plots


@dataclass
class AccuracyCurve:
    """One run's per-sample certificates, for certified accuracy vs (proxy) radius."""
    run_id: str
    method: str
    label: str
    radius: np.ndarray          # [N], 0 where abstained
    proxy: np.ndarray | None    # [N] proxy radius (None: the run stored none)
    ok: np.ndarray              # [N] bool: certified and correct
    this_run: bool = False


@dataclass
class SmoothingData:
    method: str
    norm: str                               # "2" (Gaussian) or "1" (uniform)
    sigma: float                            # the base σ (isotropic smoothing's only σ)
    inputs: np.ndarray | None               # [N, *input_shape]
    gaps: np.ndarray                        # [N] ρ, 0 where abstained
    parameters: np.ndarray | None = None    # [N, d] per-coordinate σ (None: isotropic)
    rotations: np.ndarray | None = None     # [N, d, d] (None: axis-aligned)
    base: Grid | None = None                # base classifier: class and top-2 logit gap
    smoothed: Grid | None = None            # smoothed classifier: class and top-2 vote-share gap
    votes: int = smoothing_grids.VOTES
    curves: list[AccuracyCurve] = field(default_factory=list)
    local: dict[int, Grid] = field(default_factory=dict)  # base-classifier close-ups, by row

    def sigma_of(self, row: int, d: int) -> np.ndarray:
        if self.parameters is not None:
            return np.asarray(self.parameters[row], float).reshape(-1)
        return np.full(d, self.sigma)

    def rotation_of(self, row: int) -> np.ndarray | None:
        return None if self.rotations is None else np.asarray(self.rotations[row], float)

    def region(self, view: ViewData, row: int) -> Region | None:
        """The certified region of sample ``row`` of a 2-D run (None: abstained)."""
        s = view.samples[row]
        if self.inputs is None or s.get("status") != "certified":
            return None
        center = np.asarray(self.inputs[row], float).reshape(-1)
        shrunk = float(s.get("radius") or 0.0) if s.get("memory") == "shrunk" else None
        return make_region(center, self.sigma_of(row, 2), float(self.gaps[row]), self.norm,
                           self.rotation_of(row), shrunk)

    def window(self, view: ViewData, row: int) -> smoothing_grids.Extent:
        """The square around sample ``row`` that its Hessian close-up shows."""
        region = self.region(view, row)
        reach = CLOSE_UP * (region.reach if region is not None else 3 * max(self.sigma, 1e-3))
        x, y = np.asarray(self.inputs[row], float).reshape(2)
        return smoothing_grids.widen((x - reach, x + reach, y - reach, y + reach), CLOSE_UP_ASPECT)


def _indexed(arrays: dict[str, np.ndarray], samples: list[dict], key: str, default: str) -> np.ndarray | None:
    """The rows samples point at ({"array", "row"} references), in sample order."""
    refs = [s.get(key) for s in samples]
    if all(isinstance(r, dict) for r in refs) and refs:
        name = refs[0].get("array", default)
        if name in arrays:
            return np.stack([arrays[name][int(r.get("row", i))] for i, r in enumerate(refs)])
    if default in arrays and len(arrays[default]) == len(samples):
        return arrays[default]
    return None


def prepare_smoothing(view: ViewData, store: RunStore, *, cancelled: CancelledFn = never_cancelled,
                      votes: int = smoothing_grids.VOTES) -> None:
    """Fill ``view.smoothing``; what cannot be computed becomes a note (never an error)."""
    params, samples, arrays = view.params, view.samples, view.arrays
    norm = str(view.data.get("norm", params.get("norm", "2")))
    sigma = float(view.data.get("sigma", params.get("sigma", 0.0)) or 0.0)
    inputs = arrays.get("inputs")
    gaps = np.array([gap_from_p_lower(s.get("p_lower"), norm) if s.get("status") == "certified" else 0.0
                     for s in samples])
    sm = SmoothingData(str(view.payload.get("method", view.record.method)), norm, sigma,
                       None if inputs is None else np.asarray(inputs, float), gaps,
                       _indexed(arrays, samples, "parameters", "sigma"),
                       _indexed(arrays, samples, "rotation", "rotation"), votes=votes)
    view.smoothing = sm
    if inputs is None:
        view.notes.append("the run stored no input array: no regions or σ images can be drawn")
    _check_radii(view, sm)
    sm.curves = related_curves(store, view)
    if view.is_2d and sm.inputs is not None:
        try:
            _grids(view, sm, cancelled)
        except Cancelled:
            raise
        except Exception as err:  # noqa: BLE001 - the stored certificates are still worth drawing
            text = str(err).strip().splitlines()
            view.notes.append(f"decision regions unavailable: {text[0] if text else type(err).__name__}")


def _check_radii(view: ViewData, sm: SmoothingData) -> None:
    """Say so when the stored radius is not the inscribed ball of the region that will be drawn."""
    bad = []
    for row, s in enumerate(view.samples):
        if s.get("status") != "certified" or s.get("memory") == "shrunk" or s.get("radius") is None:
            continue
        d = int(sm.parameters.shape[1]) if sm.parameters is not None else 1
        expected = inscribed_radius(sm.sigma_of(row, d), float(sm.gaps[row]))
        if abs(expected - float(s["radius"])) > 1e-3 * max(1.0, expected):
            bad.append(str(s.get("index", row)))
    if bad:
        view.notes.append(f"stored radius differs from ρ·min σ for samples {', '.join(bad[:8])}"
                          f"{'…' if len(bad) > 8 else ''}: regions are drawn from p̲_A and σ")


def _curve(run_id: str, method: str, label: str, samples: list[dict], arrays: dict, this: bool) -> AccuracyCurve:
    certified = np.array([s.get("status") == "certified" for s in samples])
    radius = np.where(certified, [float(s.get("radius") or 0.0) for s in samples], 0.0)
    # without labels every certificate counts: the curve is then the certified fraction
    ok = certified & np.array([bool(s.get("correct", True)) or s.get("label") is None for s in samples])
    proxy: np.ndarray | None = None
    if method == "smoothing":  # isotropic: the ball of equal volume is the certified ball itself
        pass
    elif any(s.get("proxy_radius") is not None for s in samples):
        # a certified sample without one (an isotropic certificate) is its own equal-volume ball
        proxy = np.where(certified, [float(s["proxy_radius"]) if s.get("proxy_radius") is not None
                                     else float(s.get("radius") or 0.0) for s in samples], 0.0)
    elif "proxy_radius" in arrays and len(arrays["proxy_radius"]) == len(samples):
        proxy = np.where(certified, np.asarray(arrays["proxy_radius"], float), 0.0)
    return AccuracyCurve(run_id, method, label, radius, proxy, ok, this)


def _label(method: str, params: dict, run_id: str) -> str:
    sigma = params.get("sigma")
    return f"{method} σ={sigma:g} ({run_id[-4:]})" if isinstance(sigma, (int, float)) else f"{method} ({run_id[-4:]})"


def related_curves(store: RunStore, view: ViewData) -> list[AccuracyCurve]:
    """This run's curve first, then other finished smoothing runs on the same model, data and norm."""
    rec = view.record
    norm = str((rec.spec.get("params") or {}).get("norm", view.params.get("norm", "2")))
    curves = [_curve(rec.id, rec.method, _label(rec.method, view.params, rec.id), view.samples, view.arrays, True)]
    key = (rec.spec.get("model"), rec.spec.get("data"))
    for r in store.list(status="done"):
        if len(curves) > MAX_CURVES or r.id == rec.id or r.family != rec.family:
            continue
        p = r.spec.get("params") or {}
        if (r.spec.get("model"), r.spec.get("data")) != key or str(p.get("norm", "2")) != norm:
            continue
        try:
            payload, arrays = store.result(r.id)
        except Exception:  # noqa: BLE001 - a damaged sibling run must not hide this one
            continue
        rows = [s for s in payload.get("samples") or [] if isinstance(s, dict)]
        if rows:
            curves.append(_curve(r.id, r.method, _label(r.method, p, r.id), rows, arrays, False))
    return curves


def _extent(view: ViewData, sm: SmoothingData) -> smoothing_grids.Extent:
    """The samples (and the whole dataset they come from) with every certified region inside."""
    points = sm.inputs.reshape(-1, 2)
    dataset = view.data.get("dataset") or (view.record.spec.get("data") or {}).get("dataset")
    if dataset:  # regions over the whole dataset, not only the certified rows
        try:
            from workbench.data.datasets import load_dataset

            points = np.concatenate([points, load_dataset(dataset).x.reshape(-1, 2)])
        except Exception:  # noqa: BLE001 - the certified rows still give an extent
            pass
    reach = max([0.0] + [r.reach for r in (sm.region(view, i) for i in range(len(view.samples))) if r])
    lo, hi = points.min(axis=0), points.max(axis=0)
    pad = 0.1 * float(max(hi - lo)) + reach
    return smoothing_grids.widen((float(lo[0] - pad), float(hi[0] + pad), float(lo[1] - pad), float(hi[1] + pad)))


def _grids(view: ViewData, sm: SmoothingData, cancelled: CancelledFn) -> None:
    from workbench.nets.loading import load_network

    graph = load_network(view.payload.get("model") or view.record.spec["model"])
    sm.base, sm.smoothed = smoothing_grids.decision_grids(graph, _extent(view, sm), sm.sigma, sm.norm,
                                                          votes=sm.votes, cancelled=cancelled)
    if "hessian_eigvecs" in view.arrays and len(view.samples) <= smoothing_grids.MAX_LOCAL:
        rows = list(range(len(view.samples)))
        sm.local = dict(zip(rows, smoothing_grids.local_grids(graph, [sm.window(view, r) for r in rows])))
