"""The 2-D toy view of a smoothing run: the decision regions of the smoothed classifier (a
Monte-Carlo majority vote per pixel, prepared in ``smoothing_data``) or of the base classifier as
the background, the other one's class boundary as a dashed line, and each sample's certified
region -- disc (Cohen), axis-aligned ellipse (ANCER, L2), rotated ellipse (RANCER) or generalised
cross-polytope (ANCER, L1) -- with semi-axes σ_i·ρ (see ``smoothing_geometry``). Zoom and pan are
pyqtgraph's own (wheel, drag); hovering shows the numbers under the cursor."""
from __future__ import annotations

from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QCheckBox, QComboBox, QLabel, QWidget

from workbench.gui.smoothing_grids import pixel
from workbench.gui.viewdata import ViewData
from workbench.gui.views.base import ResultView, class_color, legend_below, register_view, style_plot, swatch
from workbench.gui.views.smoothing_common import (STATUS_COLORS, STATUS_SYMBOLS, WRONG,
                                                  boundary_segments, grid_image, method_title, noise_words, region_item,
                                                  region_words, sample_words, smoothing_reason)
from workbench.gui.views.toy2d import RegionsHover, region_image

BACKGROUNDS = {"smoothed": "smoothed classifier", "base": "base classifier"}


@register_view
class SmoothingToy2dView(RegionsHover, ResultView):
    name = "smoothing_toy2d"
    title = "2-D certified regions"

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.background = QComboBox()
        for key, text in BACKGROUNDS.items():
            self.background.addItem(text, key)
        self.background.setToolTip("which classifier's decision regions fill the background; the "
                                   "other one's boundary is the dashed line")
        self.background.currentIndexChanged.connect(self._redraw)
        self.controls.addWidget(self.background)
        self.regions = QCheckBox("certified regions")
        self.regions.setChecked(True)
        self.regions.toggled.connect(self._toggle_regions)
        self.controls.addWidget(self.regions)
        self.hover = QLabel("hover over the plot to read values; wheel zooms, drag pans")
        self.hover.setMinimumWidth(200)
        self.hover.setWordWrap(True)
        self.controls.addWidget(self.hover, 1)
        self._plot: pg.PlotItem | None = None
        self._region_items: list = []
        self._points = np.zeros((0, 2))
        # once, not per drawing: the scene outlives every redraw, and so would extra connections
        self.canvas.scene().sigMouseMoved.connect(self._mouse_moved)

    @classmethod
    def unavailable(cls, data: ViewData) -> str | None:
        reason = smoothing_reason(data)
        if reason:
            return reason
        if not data.is_2d:
            return "the 2-D view needs a network with two inputs"
        if data.smoothing.base is None or data.smoothing.smoothed is None:
            return "decision regions could not be computed" + (f": {data.notes[-1]}" if data.notes else "")
        return None

    def state(self) -> dict[str, Any]:
        return {"background": self.background.currentData(), "regions": self.regions.isChecked()}

    def set_state(self, state: dict[str, Any]) -> None:
        index = self.background.findData(state.get("background", "smoothed"))
        self.background.setCurrentIndex(max(index, 0))
        self.regions.setChecked(bool(state.get("regions", True)))

    @classmethod
    def report_states(cls, data: ViewData) -> list[dict[str, Any]]:
        return [{"background": "smoothed"}]

    def caption(self) -> str:
        sm = self._data.smoothing if self._data is not None else None
        if sm is None:
            return self.title
        other = "base" if self.background.currentData() == "smoothed" else "smoothed"
        return (f"Decision regions of the {BACKGROUNDS[self.background.currentData()]} (background, paler "
                f"where the vote or logit gap is small; the smoothed classifier is a majority vote of "
                f"{sm.votes} noisy copies per pixel at σ = {sm.sigma:g}) with the {other} classifier's "
                f"boundary dashed, and the certified {region_words(sm.method, sm.norm)} around each "
                f"certified sample (semi-axes σ_i·ρ, ρ from p̲_A; {noise_words(sm.norm)}). Samples are "
                f"filled by true class; a dashed outline is a region the memory pass shrank to a ball, "
                f"a red one a certified wrong class.")

    def _redraw(self, *_: object) -> None:
        if self._data is not None and self.unavailable(self._data) is None:
            self.canvas.clear()
            self.draw(self._data)

    def draw(self, data: ViewData) -> None:
        sm = data.smoothing
        smoothed = self.background.currentData() == "smoothed"
        back, other = (sm.smoothed, sm.base) if smoothed else (sm.base, sm.smoothed)
        plot = self._plot = self.canvas.addPlot(row=0, col=0)
        plot.setAspectLocked(True)  # discs must look like discs and ellipses keep their axes
        plot.addItem(grid_image(back, region_image(back.classes, back.margin)))
        bx, by = boundary_segments(other)
        dash = pg.mkPen((40, 40, 40), width=1.5, style=pg.QtCore.Qt.PenStyle.DashLine)
        entries = [(plot.plot(bx, by, connect="pairs", pen=dash),
                    f"{'base' if smoothed else 'smoothed'} classifier boundary")]
        self._points = pts = sm.inputs.reshape(-1, 2)
        self._region_items = []
        shrunk = wrong = 0
        for row, s in enumerate(data.samples):
            region = sm.region(data, row)
            if region is None:
                continue
            correct = bool(s.get("correct", True))
            item = region_item(region, int(s.get("prediction", 0)), correct)
            item.setVisible(self.regions.isChecked())
            plot.addItem(item)
            self._region_items.append(item)
            shrunk += region.shrunk
            wrong += not correct
        for status, symbol in STATUS_SYMBOLS.items():
            rows = [i for i, s in enumerate(data.samples) if s.get("status") == status]
            if not rows:
                continue
            brushes = [pg.mkBrush(*class_color(int(data.samples[i].get("label", 0) or 0))) for i in rows]
            pen = pg.mkPen(STATUS_COLORS[status], width=2)
            outline = pen if status == "certified" else pg.mkPen("k", width=1)  # an x has no outline to colour
            plot.addItem(pg.ScatterPlotItem(pts[rows, 0], pts[rows, 1], symbol=symbol, size=10,
                                            brush=brushes, pen=outline))
            sample = swatch(symbol, (255, 255, 255), pen, 10) if status == "certified" else \
                swatch(symbol, (110, 110, 110), "k", 10)  # an abstention's fill is its true class
            entries.append((sample, f"{status} ({len(rows)})"))
        if self._region_items:
            entries.append((swatch("s", (120, 120, 120, 55), (80, 80, 80)),
                            f"certified {region_words(sm.method, sm.norm)}"))
        if shrunk:
            entries.append((pg.PlotDataItem(pen=pg.mkPen((80, 80, 80), width=2, style=dash.style())),
                            f"shrunk to a ball by memory ({shrunk})"))
        if wrong:
            entries.append((pg.PlotDataItem(pen=pg.mkPen(WRONG, width=2)), f"certified wrong class ({wrong})"))
        for k in range(len(data.classes)):
            entries.append((swatch("o", class_color(k), None, 10), f"class {data.class_name(k)}"))
        legend_below(self.canvas, 1, 0, entries, columns=3)
        x0, x1, y0, y1 = back.extent
        plot.setRange(xRange=(x0, x1), yRange=(y0, y1), padding=0)
        what = f"smoothed, σ = {sm.sigma:g}" if smoothed else "base classifier"
        style_plot(plot, f"{method_title(sm.method)}: certified {region_words(sm.method, sm.norm)} ({what})",
                   "x₁ [input 1]", "x₂ [input 2]")

    def hover_text(self, x: float, y: float, tol_x: float = 0.0, tol_y: float = 0.0) -> str:
        """Numbers at (x, y): both classifiers' class there and, near a sample, its certificate."""
        data = self._data
        if data is None or data.smoothing is None or data.smoothing.smoothed is None:
            return ""
        sm = data.smoothing
        text = f"x₁ = {x:.3f}, x₂ = {y:.3f}"
        at = pixel(sm.smoothed, x, y)
        if at is not None:
            cls = int(sm.smoothed.classes[at])
            text += f" · smoothed: {data.class_name(cls)} (vote-share gap {sm.smoothed.margin[at]:.2f})"
        at = pixel(sm.base, x, y)
        if at is not None:
            text += f" · base: {data.class_name(int(sm.base.classes[at]))} (logit gap {sm.base.margin[at]:.3g})"
        if len(self._points) and tol_x > 0 and tol_y > 0:
            d = np.hypot((self._points[:, 0] - x) / tol_x, (self._points[:, 1] - y) / tol_y)
            row = int(d.argmin())
            if d[row] <= 1.0:
                text += " · " + sample_words(data, row)
                region = sm.region(data, row)
                if region is not None:
                    a, b = region.axes
                    text += f", {region.kind} half-axes {a:.3g} × {b:.3g}"
        return text
