"""The PINN convergence view: each part's global certified bound (residual, initial, boundary)
against time, with the empirical maximum as a dashed line of the same colour; log y-axis.

It draws a finished run's stored history, and, while a run is in progress, the live points the
main window collects (``set_live``): the same picture, updated in place as bounds arrive.
"""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, Qt
from PySide6.QtWidgets import QLabel, QWidget

from workbench.gui.pinndata import PART_TITLES, PARTS, Series, fmt, stored_series
from workbench.gui.viewdata import ViewData
from workbench.gui.views.base import ResultView, legend_below, register_view, style_plot, swatch

PART_COLORS = {"residual": (31, 119, 180), "initial": (255, 127, 14), "boundary": (44, 160, 44)}


def positive(values: np.ndarray) -> np.ndarray:
    """Bounds a log axis can show: +inf (nothing certified yet) and non-positive become gaps."""
    v = np.asarray(values, float)
    return np.where(np.isfinite(v) & (v > 0), v, np.nan)


@register_view
class PinnConvergenceView(ResultView):
    name = "pinn_convergence"
    title = "Convergence"
    live_capable = True  # the result area shows it for running runs too, fed by set_live

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.hover = QLabel("hover over the plot to read values; wheel zooms, drag pans")
        self.hover.setMinimumWidth(200)
        self.controls.addWidget(self.hover, 1)
        self.plot: pg.PlotItem | None = None
        self.curves: dict[str, pg.PlotDataItem] = {}
        self.lines: dict[str, pg.PlotDataItem] = {}
        self.series: dict[str, Series] = {}
        self.live = False

    @classmethod
    def unavailable(cls, data: ViewData) -> str | None:
        if data.record.status != "done":
            return "the run has no result"
        return None if data.pinn is not None else "this view shows PINN certification runs"

    def caption(self) -> str:
        return ("The global certified upper bound of each part (residual, initial condition, "
                "boundary conditions) as the domain splitting refines, against the run's time; "
                "dashed: the empirical maximum of the same error, which the bound can approach "
                "but never cross.")

    def draw(self, data: ViewData) -> None:
        assert data.pinn is not None
        self.live = False
        self.plot = None  # set_data cleared the canvas
        self._show(stored_series(data.pinn))

    def set_live(self, series: dict[str, Series] | None) -> None:
        """Show (or update in place) the points of a running run."""
        self.live = True
        series = series or {}
        if not series:
            self.canvas.clear()
            self.plot = None
            self.message.setText("Waiting for the first certified bound of the running job…")
            return
        self.message.setText("Live: the run is still refining; the stored history replaces this "
                             "plot when it finishes.")
        self._show(series)

    def _show(self, series: dict[str, Series]) -> None:
        if self.plot is None or set(series) != set(self.series):
            self._rebuild(list(series))
        self.series = series
        tmax = max((float(s.time.max()) for s in series.values() if len(s.time)), default=1.0)
        for part, s in series.items():
            y = positive(s.bound)
            keep = np.isfinite(y)  # gaps would leave the symbols' all-NaN ranges to pyqtgraph
            self.curves[part].setData(s.time[keep], y[keep])
            emp = s.empirical
            if emp is not None and emp > 0:
                self.lines[part].setData([0.0, tmax], [emp, emp])
            else:
                self.lines[part].setData([], [])
        assert self.plot is not None
        short = {"residual": "|f|", "initial": "IC", "boundary": "BC"}
        latest = ", ".join(f"{short[p]} ≤ {fmt(series[p].bound[-1])}" for p in PARTS
                           if p in series and len(series[p].bound))
        style_plot(self.plot, ("Live: " if self.live else "") + "certified bounds" +
                   (f": {latest}" if latest else ""), "time since the run started [s]",
                   "max error bound (log scale)")

    def _rebuild(self, parts: list[str]) -> None:
        self.canvas.clear()
        self.plot = plot = self.canvas.addPlot(row=0, col=0)
        plot.setLogMode(x=False, y=True)
        plot.getAxis("bottom").setStyle(maxTextLevel=0)  # "0 1 2 … 23" would crowd: majors only
        self.curves, self.lines, entries = {}, {}, []
        for part in PARTS:
            if part not in parts:
                continue
            color = PART_COLORS[part]
            self.curves[part] = plot.plot([], [], pen=pg.mkPen(color, width=2), symbol="o", symbolSize=5,
                                          symbolBrush=pg.mkBrush(color), symbolPen=None, connect="finite")
            dashed = pg.mkPen(color, width=1.5, style=Qt.PenStyle.DashLine)
            self.lines[part] = plot.plot([], [], pen=dashed)
            entries += [(swatch("o", color, None, 8), f"{PART_TITLES[part]}: certified bound"),
                        (pg.PlotDataItem(pen=dashed), f"{PART_TITLES[part]}: empirical max")]
        legend_below(self.canvas, 1, 0, entries, columns=2)
        plot.scene().sigMouseMoved.connect(self._mouse_moved)

    def _mouse_moved(self, pos: QPointF) -> None:
        if self.plot is not None and self.plot.sceneBoundingRect().contains(pos):
            self.hover.setText(self.hover_text(self.plot.vb.mapSceneToView(pos).x()))

    def hover_text(self, time_s: float) -> str:
        """Each part's latest bound at that time, its box count and empirical maximum."""
        text = f"t = {time_s:.3g} s"
        for part in PARTS:
            s = self.series.get(part)
            if s is None:
                continue
            k = int(np.searchsorted(s.time, time_s, side="right")) - 1
            if k >= 0:
                text += f" · {part}: bound {fmt(s.bound[k])} ({int(s.boxes[k]):,} boxes)"
            if s.empirical is not None:
                text += f", empirical {s.empirical:.3g}"
        return text
