"""The PINN conditions view: the initial-condition error along x and each boundary condition's
error along t, as dense empirical curves under their certified bands (a step function of the
per-interval certified bounds). Log y-axis: errors and bounds span decades."""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF
from PySide6.QtWidgets import QLabel, QWidget

from workbench.gui.pinndata import NOT_SOLUTION_ERROR, PinnData, fmt, step_curve
from workbench.gui.viewdata import ViewData
from workbench.gui.views.base import CLASS_COLORS, ResultView, legend_below, register_view, style_plot, swatch
from workbench.gui.views.pinn_residual import T_LABEL, X_LABEL

UNCERTIFIED = (214, 39, 40)


def value_floor(arrays: list[np.ndarray]) -> float:
    """The bottom of a log axis: below the small values that matter, above the exact zeros of an
    error curve at its crossings (which a log axis cannot show)."""
    pos = np.concatenate([a[np.isfinite(a) & (a > 0)] for a in arrays] or [np.zeros(0)])
    if not pos.size:
        return 1e-8
    return max(float(np.quantile(pos, 0.01)) * 0.5, float(pos.max()) * 1e-8)


def interval_at(intervals: np.ndarray, bound: np.ndarray, v: float) -> tuple[float, float, float] | None:
    inside = np.flatnonzero((intervals[:, 0] <= v) & (v <= intervals[:, 1])) if len(intervals) else []
    if not len(inside):
        return None
    k = inside[np.argmax(bound[inside])]  # on a shared edge the larger bound holds
    return float(intervals[k, 0]), float(intervals[k, 1]), float(bound[k])


@register_view
class PinnConditionsView(ResultView):
    name = "pinn_conditions"
    title = "Initial and boundary conditions"

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.hover = QLabel("hover over a plot to read values; wheel zooms, drag pans")
        self.hover.setMinimumWidth(200)
        self.controls.addWidget(self.hover, 1)
        self.plots: dict[str, pg.PlotItem] = {}
        self.curves: dict[str, pg.PlotDataItem] = {}

    @classmethod
    def unavailable(cls, data: ViewData) -> str | None:
        if data.record.status != "done":
            return "the run has no result"
        return None if data.pinn is not None else "this view shows PINN certification runs"

    def notes(self, data: ViewData | None) -> str:
        return "; ".join([*(data.notes if data else []), NOT_SOLUTION_ERROR])

    def caption(self) -> str:
        return ("Left: the initial-condition error |u(t₀, x) − g(x)| of the network along x, under "
                "the certified bound of each x-interval (filled step). Right: the same for each "
                "boundary condition along t. Red at the top: intervals left uncertified.")

    def draw(self, data: ViewData) -> None:
        p = data.pinn
        assert p is not None
        self.plots = {"initial": self.canvas.addPlot(row=0, col=0), "boundary": self.canvas.addPlot(row=0, col=1)}
        self.curves = {}
        t0 = p.t_range[0]
        ic = p.part("initial")
        entries = self._draw_part(self.plots["initial"], "initial", p.ic_x, p.ic_error, p.initial_boxes,
                                  p.initial_bound, CLASS_COLORS[0], "IC")
        h = "h" if len(p.pde.get("outputs") or []) > 1 else "u"  # Schrödinger: h = (u, v)
        # short titles: in pyqtgraph a title's width is its plot's minimum width
        style_plot(self.plots["initial"], f"certified IC error ≤ {fmt(ic.get('bound'))}", X_LABEL,
                   f"|{h}(t₀, x) − g(x)|, t₀ = {t0:g}")
        legend = legend_below(self.canvas, 1, 0, entries, columns=1)
        legend.setMaximumHeight(legend.layout.preferredHeight())  # stretched, its rows drift apart
        entries = []
        for k, bc in enumerate(p.conditions):
            name = str(bc.get("name", k))
            rows = p.boundary_condition == k
            entries += self._draw_part(self.plots["boundary"], f"bc:{name}", p.bc_t,
                                       p.bc_errors.get(name), p.boundary_boxes[rows],
                                       p.boundary_bound[rows], CLASS_COLORS[(k + 1) % len(CLASS_COLORS)], name)
        bc = p.part("boundary")
        style_plot(self.plots["boundary"], f"certified BC error ≤ {fmt(bc.get('bound'))}",
                   T_LABEL, "boundary error")
        legend_below(self.canvas, 1, 1, entries, columns=2 if len(entries) > 4 else 1)
        self._set_ranges(p)
        self.plots["initial"].scene().sigMouseMoved.connect(self._mouse_moved)

    def _draw_part(self, plot: pg.PlotItem, key: str, along: np.ndarray | None, error: np.ndarray | None,
                   intervals: np.ndarray, bound: np.ndarray, color: tuple[int, int, int], label: str) -> list:
        plot.setLogMode(x=False, y=True)
        entries = []
        bx, by = step_curve(intervals, bound)
        finite = np.where(np.isfinite(by), by, np.nan)
        if np.isfinite(finite).any():
            band = pg.PlotDataItem(bx, finite, pen=pg.mkPen(color, width=2), connect="finite")
            plot.addItem(band)
            self.curves[key + ":bound"] = band
            entries.append((swatch("s", (*color, 60), color), f"{label}: certified bound"))
        if np.isposinf(by).any():
            self.curves[key + ":uncertified"] = pg.PlotDataItem(bx, np.where(np.isposinf(by), 1.0, np.nan),
                                                                pen=pg.mkPen(UNCERTIFIED, width=5))
            plot.addItem(self.curves[key + ":uncertified"])
            entries.append((swatch("s", UNCERTIFIED), f"{label}: not certified"))
        if along is not None and error is not None:
            dark = tuple(int(c * 0.55) for c in color)
            curve = pg.PlotDataItem(along, error, pen=pg.mkPen(dark, width=1.5), connect="finite")
            plot.addItem(curve)
            self.curves[key + ":empirical"] = curve
            entries.append((pg.PlotDataItem(pen=pg.mkPen(dark, width=2)), f"{label}: network's error"))
        return entries

    def _set_ranges(self, p: PinnData) -> None:
        """Clamp every curve to the plot's log floor (zeros cannot be drawn) and fill each band
        down to it; the uncertified marks sit at the top."""
        for part, plot in self.plots.items():
            keys = [k for k in self.curves if k.startswith("initial" if part == "initial" else "bc:")]
            ys = [self.curves[k].yData for k in keys if not k.endswith(":uncertified")]
            ys = [y for y in ys if y is not None]
            lo = value_floor(ys)
            hi = max((float(np.nanmax(y)) for y in ys if np.isfinite(y).any()), default=lo * 10) * 3
            for k in keys:
                c = self.curves[k]
                x, y = c.xData, c.yData
                if k.endswith(":uncertified"):
                    c.setData(x, np.where(np.isnan(y), np.nan, hi * 0.8))
                    continue
                c.setData(x, np.where(np.isnan(y), np.nan, np.maximum(y, lo)))
                if k.endswith(":bound"):
                    color = c.opts["pen"].color()
                    color.setAlpha(40)
                    c.setFillLevel(np.log10(lo))  # the curve lives in log10 coordinates
                    c.setBrush(pg.mkBrush(color))
            plot.setYRange(np.log10(lo), np.log10(hi), padding=0.02)
            plot.getAxis("left").setWidth(62)  # room for "0.0001" beside the axis label
            xs = [x for x in (self.curves[k].xData for k in keys) if x is not None and len(x)]
            if xs:
                plot.setXRange(min(float(np.nanmin(x)) for x in xs), max(float(np.nanmax(x)) for x in xs),
                               padding=0.01)

    def _mouse_moved(self, pos: QPointF) -> None:
        for part, plot in self.plots.items():
            if plot.sceneBoundingRect().contains(pos):
                self.hover.setText(self.hover_text(part, plot.vb.mapSceneToView(pos).x()))
                return

    def hover_text(self, part: str, v: float) -> str:
        """The numbers at x = v (part "initial") or t = v ("boundary")."""
        p = self._data.pinn if self._data is not None else None
        if p is None:
            return ""
        if part == "initial":
            return f"x = {v:.4g}" + self._numbers(p.ic_x, p.ic_error, p.initial_boxes, p.initial_bound, v, "IC")
        text = f"t = {v:.4g}"
        for k, bc in enumerate(p.conditions):
            rows = p.boundary_condition == k
            name = str(bc.get("name", k))
            text += self._numbers(p.bc_t, p.bc_errors.get(name), p.boundary_boxes[rows],
                                  p.boundary_bound[rows], v, name)
        return text

    @staticmethod
    def _numbers(along: np.ndarray | None, error: np.ndarray | None, intervals: np.ndarray,
                 bound: np.ndarray, v: float, label: str) -> str:
        text = f" · {label}:"
        if along is not None and error is not None and len(along):
            i = int(np.argmin(np.abs(along - v)))
            if np.isfinite(error[i]):
                text += f" error {error[i]:.3g}"
        iv = interval_at(intervals, bound, v)
        if iv is not None:
            text += (f", not certified on [{iv[0]:.3g}, {iv[1]:.3g}]" if not np.isfinite(iv[2])
                     else f", certified ≤ {iv[2]:.3g} on [{iv[0]:.3g}, {iv[1]:.3g}]")
        return text
