"""The PINN residual view: the certified bound of |f| per sub-box, the empirical |f| on a dense
grid (same log colour scale, so "certified ≥ empirical" can be read off the colours) and the
network's solution, all over (t, x). Hovering shows the numbers under the cursor."""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF
from PySide6.QtWidgets import QCheckBox, QLabel, QWidget

from workbench.gui.pinndata import NOT_SOLUTION_ERROR, PinnData, fmt, outline_path
from workbench.gui.viewdata import ViewData
from workbench.gui.views.base import ResultView, legend_below, register_view, style_plot, swatch

HEAT = pg.colormap.get("inferno")          # larger |f| is hotter
SIGNED = pg.colormap.get("CET-D1")         # u changes sign: blue < 0 < red, white at 0
MAGNITUDE = pg.colormap.get("viridis")     # |h| of a two-output PINN
UNCERTIFIED = (150, 150, 150)              # boxes whose bound is +inf
OUTLINE = (255, 255, 255, 110)             # box outlines, readable over the whole colour map
MIN_OUTLINE_PX = 4                         # narrower boxes are not outlined at the current zoom
MARK = (0, 200, 255)                       # the empirical arg-max
T_LABEL, X_LABEL = "t (time, PDE units)", "x (space, PDE units)"


def log_levels(data: PinnData) -> tuple[float, float]:
    """Shared log10 colour levels of the certified and empirical residual images."""
    values = [data.box_bound[np.isfinite(data.box_bound) & (data.box_bound > 0)]]
    if data.residual_abs is not None:
        emp = data.residual_abs[data.residual_abs > 0]
        values.append(emp)
    hi = max((float(v.max()) for v in values if v.size), default=1.0)
    lows = [float(values[0].min())] if values[0].size else []
    if len(values) > 1 and values[1].size:
        lows.append(float(np.quantile(values[1], 0.01)))  # a few zeros of |f| must not set the scale
    lo = max(min(lows, default=hi * 1e-3), hi * 1e-8)
    lo, hi = np.log10(lo), np.log10(hi)
    return (lo, hi) if hi > lo else (lo - 1.0, lo + 1.0)


def log_ticks(lo: float, hi: float) -> list[tuple[float, str]]:
    """Ticks of a log10-valued axis labelled with the values: decades, plus 2 and 5 times them
    when the range spans less than three decades (pyqtgraph's own log ticks crowd a short bar)."""
    factors = (1, 2, 5) if hi - lo < 3 else (1,)
    ticks = []
    for k in range(int(np.floor(lo)), int(np.ceil(hi)) + 1):
        for f in factors:
            v = np.log10(f) + k
            if lo - 1e-9 <= v <= hi + 1e-9:
                ticks.append((float(v), f"{f * 10.0 ** k:g}"))
    return ticks


def log_image(values: np.ndarray) -> np.ndarray:
    """log10 of the values; zero (a ReLU PINN's u = 0 region) is the coldest colour, and +inf
    (not certified) or NaN is NaN: transparent, over the grey layer beneath."""
    out = np.full(values.shape, np.nan)
    ok = np.isfinite(values)
    out[ok] = np.log10(np.maximum(values[ok], 1e-300))  # the colour levels clip it to the bottom
    return out


def summary_text(p: PinnData) -> str:
    """One line of numbers: the certified bound against the empirical maximum, and the boxes."""
    res = p.part("residual")
    bad = int(np.isposinf(p.box_bound).sum())
    return (f"certified max |f| ≤ {fmt(res.get('bound'))}, empirical {fmt(res.get('empirical_max'))}, "
            f"{len(p.boxes):,} boxes" + (f" ({bad:,} not certified)" if bad else ""))


@register_view
class PinnResidualView(ResultView):
    name = "pinn_residual"
    title = "Residual: certified vs empirical"

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.outlines = QCheckBox("box outlines")
        self.outlines.setChecked(True)
        self.outlines.setToolTip("draw the sub-boxes of the domain splitting")
        self.outlines.toggled.connect(self._toggle_outlines)
        self.controls.addWidget(self.outlines)
        self.hover = QLabel("hover over a plot to read values; wheel zooms, drag pans")
        self.hover.setMinimumWidth(200)
        self.controls.addWidget(self.hover, 1)
        self.plots: list[pg.PlotItem] = []
        self.images: dict[str, pg.ImageItem] = {}
        self._outline: pg.PlotCurveItem | None = None

    @classmethod
    def unavailable(cls, data: ViewData) -> str | None:
        if data.record.status != "done":
            return "the run has no result"
        return None if data.pinn is not None else "this view shows PINN certification runs"

    def notes(self, data: ViewData | None) -> str:
        numbers = [summary_text(data.pinn) + "."] if data is not None and data.pinn is not None else []
        return " ".join(numbers + [n + "." for n in (data.notes if data else [])] + [NOT_SOLUTION_ERROR])

    def state(self) -> dict:
        return {"outlines": self.outlines.isChecked()}

    def set_state(self, state: dict) -> None:
        self.outlines.setChecked(bool(state.get("outlines", True)))

    def caption(self) -> str:
        p = None if self._data is None else self._data.pinn
        numbers = "" if p is None else f" ({summary_text(p)})"
        return (f"Left: the certified upper bound of the residual |f| on each sub-box of the domain "
                f"splitting{numbers}; grey: not certified. Middle: |f| of the network on a dense "
                f"grid, same log colour scale. Right: the network's solution. The marker is the "
                f"largest residual the run found. {NOT_SOLUTION_ERROR}")

    def draw(self, data: ViewData) -> None:
        p = data.pinn
        assert p is not None
        (t0, t1), (x0, x1) = p.t_range, p.x_range
        rect = QRectF(t0, x0, t1 - t0, x1 - x0)
        levels = log_levels(p)
        self.plots, self.images = [], {}
        # Three in a row on a wide canvas (a report figure); two by two on a narrower one (the
        # window's result area), where three in a row would leave each plot a sliver.
        wide = self.canvas.width() >= 1.5 * self.canvas.height()
        cells = [(0, 0), (0, 1), (0, 2)] if wide else [(0, 0), (0, 1), (1, 0)]
        for row, col in cells:
            plot = self.canvas.addPlot(row=row, col=col)
            plot.setRange(xRange=(t0, t1), yRange=(x0, x1), padding=0)
            plot.setMouseEnabled(x=True, y=True)
            self.plots.append(plot)
        bound_plot, emp_plot, sol_plot = self.plots
        emp_plot.setXLink(bound_plot)  # zoom one, zoom all: the pictures stay comparable
        emp_plot.setYLink(bound_plot)
        sol_plot.setXLink(bound_plot)
        sol_plot.setYLink(bound_plot)
        # certified side: the per-pixel largest box bound, uncertified boxes in grey beneath
        uncertified = np.isposinf(p.bound_image)
        if uncertified.any():
            rgba = np.zeros((*p.bound_image.shape, 4), np.uint8)
            rgba[uncertified] = (*UNCERTIFIED, 255)
            grey = pg.ImageItem(rgba, levels=(0, 255))
            grey.setRect(rect)
            bound_plot.addItem(grey)
        self.images["bound"] = self._heat(bound_plot, log_image(p.bound_image), rect, levels)
        # One curve item outlines every box (cheap for 10⁵ boxes). Boxes a few pixels wide are
        # left out, or thousands of them near a shock would paint it white; zooming in brings
        # their outlines back.
        self._outline = pg.PlotCurveItem(pen=pg.mkPen(OUTLINE, width=1), antialias=False)
        self._outline.setVisible(self.outlines.isChecked())
        bound_plot.addItem(self._outline)
        self._update_outlines()
        bound_plot.vb.sigRangeChanged.connect(self._update_outlines)
        bound_plot.vb.sigResized.connect(self._update_outlines)
        res = p.part("residual")
        n_bad = int(np.isposinf(p.box_bound).sum())
        # Short titles: pyqtgraph makes a title's text width its plot's minimum width, so a long
        # one would widen its plot alone. The numbers are in the message line under the plots.
        style_plot(bound_plot, "certified |f|", T_LABEL, X_LABEL)
        entries = [(swatch("s", None, (90, 90, 90)), f"sub-box (≥ {MIN_OUTLINE_PX} px wide)")]
        if uncertified.any():
            entries.append((swatch("s", UNCERTIFIED), f"not certified ({n_bad} box{'es' if n_bad > 1 else ''})"))
        if p.residual_abs is not None:
            self.images["empirical"] = self._heat(emp_plot, log_image(p.residual_abs), rect, levels)
            title = "empirical |f|"
        else:
            title = "no network"
        style_plot(emp_plot, title, T_LABEL, X_LABEL)  # every plot labelled: equal widths
        for key, plot in (("bound", bound_plot), ("empirical", emp_plot)):
            if key in self.images:  # one bar per plot (same levels): equal plots, each readable alone
                bar = pg.ColorBarItem(values=levels, colorMap=HEAT, interactive=False, width=12,
                                      label="|f| (log scale)")
                bar.setImageItem(self.images[key], insert_in=plot)
                bar.axis.setTicks([log_ticks(*levels)])  # the images hold log10 values
                bar.axis.setWidth(58)  # pyqtgraph drops a label wider than its axis ("0.0001")
        point = p.empirical_point
        if point is not None:
            for plot in (bound_plot, emp_plot):
                plot.addItem(pg.ScatterPlotItem([point[0]], [point[1]], symbol="star", size=16,
                                                brush=pg.mkBrush(MARK), pen=pg.mkPen("k", width=1)))
            emp = res.get("empirical_max")
            entries.append((swatch("star", MARK, "k", 14),
                            "largest |f| found" + (f" ({emp:.3g})" if emp is not None else "")))
        self._draw_solution(sol_plot, p, rect)
        legend = legend_below(self.canvas, 1, 0 if wide else 1, entries, columns=3 if wide else 1)
        if wide:  # under all three plots, not widening the first
            self.canvas.ci.removeItem(legend)
            self.canvas.addItem(legend, row=1, col=0, colspan=3)
        else:  # a compact block in the free cell: stretched, its rows would drift apart
            legend.setMaximumHeight(legend.layout.preferredHeight())
        for plot in self.plots:
            plot.showGrid(x=False, y=False)  # grid lines over an image read as data
            plot.getAxis("bottom").setStyle(maxTextLevel=0)  # narrow plots: major labels only, no crowd
            plot.getAxis("left").setWidth(58)
        bound_plot.scene().sigMouseMoved.connect(self._mouse_moved)  # one scene for all plots

    @staticmethod
    def _heat(plot: pg.PlotItem, image: np.ndarray, rect: QRectF, levels: tuple[float, float]) -> pg.ImageItem:
        item = pg.ImageItem(image, levels=levels, colorMap=HEAT)  # explicit levels: comparable colours
        item.setRect(rect)
        plot.addItem(item)
        return item

    def _draw_solution(self, plot: pg.PlotItem, p: PinnData, rect: QRectF) -> None:
        label = p.solution_label
        if p.solution is None:
            style_plot(plot, "no network", T_LABEL, X_LABEL)
            return
        if label == "|h|":
            cmap, levels = MAGNITUDE, (0.0, float(np.nanmax(p.solution)) or 1.0)
        else:
            m = float(np.nanmax(np.abs(p.solution))) or 1.0
            cmap, levels = SIGNED, (-m, m)
        item = pg.ImageItem(p.solution, levels=levels, colorMap=cmap)
        item.setRect(rect)
        plot.addItem(item)
        self.images["solution"] = item
        bar = pg.ColorBarItem(values=levels, colorMap=cmap, interactive=False, width=12, label=label)
        bar.setImageItem(item, insert_in=plot)
        style_plot(plot, f"solution {label}", T_LABEL, X_LABEL)

    def _toggle_outlines(self, on: bool) -> None:
        if self._outline is not None:
            self._outline.setVisible(on)
            self._update_outlines()

    def _update_outlines(self, *_: object) -> None:
        """Outline the boxes at least MIN_OUTLINE_PX wide and high at the current zoom."""
        p = self._data.pinn if self._data is not None else None
        if self._outline is None or p is None or not self.outlines.isChecked() or not self.plots:
            return
        px, py = self.plots[0].vb.viewPixelSize()
        b = p.boxes
        width, height = b[:, 1, 0] - b[:, 0, 0], b[:, 1, 1] - b[:, 0, 1]
        shown = (width >= MIN_OUTLINE_PX * px) & (height >= MIN_OUTLINE_PX * py)
        t, x, connect = outline_path(b[shown])
        self._outline.setData(t, x, connect=connect)

    def _mouse_moved(self, pos: QPointF) -> None:
        for plot in self.plots:
            if plot.sceneBoundingRect().contains(pos):
                q = plot.vb.mapSceneToView(pos)
                self.hover.setText(self.hover_text(q.x(), q.y()))
                return

    def hover_text(self, t: float, x: float) -> str:
        """The numbers at (t, x): the certified bound of the box there, the empirical |f| and u."""
        p = self._data.pinn if self._data is not None else None
        if p is None:
            return ""
        text = f"t = {t:.4g}, x = {x:.4g}"
        k = p.box_at(t, x)
        if k is not None:
            (bt0, bx0), (bt1, bx1) = p.boxes[k]
            b = p.box_bound[k]
            text += (f" · box [{bt0:.3g}, {bt1:.3g}]×[{bx0:.3g}, {bx1:.3g}]: "
                     + ("not certified" if not np.isfinite(b) else f"|f| ≤ {b:.3g}"))
        ij = p.grid_index(t, x)
        if ij is not None and p.residual_abs is not None and p.solution is not None:
            text += f" · empirical |f| = {p.residual_abs[ij]:.3g} · {p.solution_label} = {p.solution[ij]:.4g}"
        return text
