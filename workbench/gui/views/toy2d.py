"""The 2-D toy view: decision regions as an image, the samples coloured by class (fill) and verdict
(outline and symbol), and the certified L∞ squares / L2 discs around them. Zoom and pan are
pyqtgraph's own (wheel, drag); hovering shows the numbers under the cursor."""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF
from PySide6.QtWidgets import QCheckBox, QGraphicsEllipseItem, QGraphicsRectItem, QLabel, QWidget

from workbench.gui.viewdata import ViewData
from workbench.gui.views.base import (VERDICT_COLORS, ResultView, class_color, legend_below,
                                      register_view, style_plot, swatch)

SYMBOLS = {"verified": "o", "falsified": "x", "unknown": "s"}
HOVER_PIXELS = 12  # how close (in screen pixels) the cursor must be to "hover" a sample


def region_image(classes: np.ndarray, margin: np.ndarray) -> np.ndarray:
    """Light class colours, paler where the top-2 logit gap is small (near the boundary)."""
    colors = np.array([class_color(k) for k in range(int(classes.max()) + 1)], dtype=float)
    scale = float(np.quantile(margin, 0.9)) or 1.0
    alpha = 0.18 + 0.22 * np.clip(margin / scale, 0.0, 1.0)
    rgb = 255.0 * (1 - alpha[..., None]) + colors[classes] * alpha[..., None]
    return rgb.astype(np.uint8)


class RegionsHover:
    """What the 2-D region views share: showing/hiding the certified regions, and a hover line
    from ``hover_text(x, y, tol_x, tol_y)`` with the tolerance in data units (HOVER_PIXELS)."""

    def _toggle_regions(self, on: bool) -> None:
        for item in self._region_items:
            item.setVisible(on)

    def _mouse_moved(self, pos: QPointF) -> None:
        plot = self._plot
        if plot is None or self._data is None or not plot.sceneBoundingRect().contains(pos):
            return
        p = plot.vb.mapSceneToView(pos)
        px, py = plot.vb.viewPixelSize()
        self.hover.setText(self.hover_text(p.x(), p.y(), HOVER_PIXELS * px, HOVER_PIXELS * py))


@register_view
class Toy2dView(RegionsHover, ResultView):
    name = "toy2d"
    title = "2-D decision regions"

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.regions = QCheckBox("certified regions")
        self.regions.setChecked(True)
        self.regions.setToolTip("draw the certified L∞ square / L2 disc around each sample")
        self.regions.toggled.connect(self._toggle_regions)
        self.controls.addWidget(self.regions)
        self.hover = QLabel("hover over the plot to read values; wheel zooms, drag pans")
        self.hover.setMinimumWidth(200)
        self.controls.addWidget(self.hover, 1)
        self._region_items: list = []
        self._plot: pg.PlotItem | None = None
        self._points = np.zeros((0, 2))

    @classmethod
    def unavailable(cls, data: ViewData) -> str | None:
        if data.record.status != "done":
            return "the run has no result"
        if not data.is_2d:
            return "the 2-D view needs a network with two inputs"
        if data.spec_kind == "vnnlib":
            return "the 2-D view draws samples; a VNN-LIB run certifies an input box instead"
        if data.grid is None or data.inputs is None:
            return "decision regions could not be computed" + (f": {data.notes[0]}" if data.notes else "")
        return None

    def state(self) -> dict:
        return {"regions": self.regions.isChecked()}

    def set_state(self, state: dict) -> None:
        self.regions.setChecked(bool(state.get("regions", True)))

    def caption(self) -> str:
        shape = "L∞ square" if self._data is None or self._data.norm == "inf" else "L2 disc"
        return (f"Decision regions of the network (background, paler near the boundary), the samples "
                f"filled by true class and outlined by verdict, and the certified {shape} around each "
                f"certified sample; + marks a counterexample found by the attack.")

    def certified_radius(self, data: ViewData, row: int) -> float:
        """The radius drawn around a sample: its certified radius, else ε when verified."""
        s = data.samples[row]
        if s.get("radius") is not None:
            return float(s["radius"])
        return float(data.eps or 0.0) if s.get("status") == "verified" else 0.0

    def draw(self, data: ViewData) -> None:
        grid = data.grid
        assert grid is not None and data.inputs is not None
        plot = self._plot = self.canvas.addPlot(row=0, col=0)
        plot.setAspectLocked(True)  # squares and discs must look like squares and discs
        entries = []
        x0, x1, y0, y1 = grid.extent
        image = pg.ImageItem(region_image(grid.classes, grid.margin), levels=(0, 255))  # no autoscale
        image.setRect(QRectF(x0, y0, x1 - x0, y1 - y0))  # row-major: row 0 at y0, drawn at the bottom
        plot.addItem(image)
        self._points = pts = data.inputs.reshape(-1, 2)
        self._region_items = []
        square = data.norm == "inf"
        for row in range(len(pts)):
            r = self.certified_radius(data, row)
            if r <= 0:
                continue
            cx, cy = pts[row]
            item = (QGraphicsRectItem if square else QGraphicsEllipseItem)(cx - r, cy - r, 2 * r, 2 * r)
            item.setPen(pg.mkPen(VERDICT_COLORS["verified"], width=1.5))  # cosmetic: stays 1.5 px
            item.setBrush(pg.mkBrush(*VERDICT_COLORS["verified"], 45))
            item.setVisible(self.regions.isChecked())
            plot.addItem(item)
            self._region_items.append(item)
        for status, symbol in SYMBOLS.items():
            rows = [i for i, s in enumerate(data.samples) if s.get("status") == status]
            if not rows:
                continue
            brushes = [pg.mkBrush(*class_color(self._true_class(data, i))) for i in rows]
            pen = pg.mkPen(VERDICT_COLORS[status], width=2)
            plot.addItem(pg.ScatterPlotItem(pts[rows, 0], pts[rows, 1], symbol=symbol, size=11,
                                            brush=brushes, pen=pen))
            entries.append((swatch(symbol, (255, 255, 255), pen, 11), f"{status} ({len(rows)})"))
        cex = [np.asarray(s["counterexample"], float) for s in data.samples
               if s.get("status") == "falsified" and s.get("counterexample")]
        if cex:
            c = np.array(cex).reshape(-1, 2)
            pen = pg.mkPen(VERDICT_COLORS["falsified"], width=2)
            plot.addItem(pg.ScatterPlotItem(c[:, 0], c[:, 1], symbol="+", size=12, pen=pen))
            entries.append((swatch("+", None, pen), "counterexample"))
        if self._region_items:
            entries.append((swatch("s", (*VERDICT_COLORS["verified"], 45), VERDICT_COLORS["verified"]),
                            "certified " + ("square" if square else "disc")))
        for k in range(len(data.classes)):
            entries.append((swatch("o", class_color(k), None, 10), f"class {data.class_name(k)}"))
        legend_below(self.canvas, 1, 0, entries, columns=4)
        plot.setRange(xRange=(x0, x1), yRange=(y0, y1), padding=0)
        shape = "L∞ squares" if square else "L2 discs"
        what = "certified radius" if data.radii is not None else f"ε = {data.eps:g} where verified"
        style_plot(plot, f"Decision regions and certified {shape} ({what})", "x₁ [input 1]",
                   "x₂ [input 2]")
        plot.scene().sigMouseMoved.connect(self._mouse_moved)

    @staticmethod
    def _true_class(data: ViewData, row: int) -> int:
        s = data.samples[row]
        return int(s.get("label", s.get("prediction", 0)) or 0)

    def hover_text(self, x: float, y: float, tol_x: float = 0.0, tol_y: float = 0.0) -> str:
        """Numbers at data point (x, y): the region's class and, near a sample, the sample."""
        data = self._data
        if data is None or data.grid is None:
            return ""
        x0, x1, y0, y1 = data.grid.extent
        h, w = data.grid.classes.shape
        text = f"x₁ = {x:.3f}, x₂ = {y:.3f}"
        if x0 <= x <= x1 and y0 <= y <= y1:
            j = min(w - 1, int((x - x0) / (x1 - x0) * w))
            i = min(h - 1, int((y - y0) / (y1 - y0) * h))
            text += (f" · region: {data.class_name(int(data.grid.classes[i, j]))} "
                     f"(logit gap {data.grid.margin[i, j]:.3g})")
        if len(self._points) and tol_x > 0 and tol_y > 0:
            d = np.hypot((self._points[:, 0] - x) / tol_x, (self._points[:, 1] - y) / tol_y)
            row = int(d.argmin())
            if d[row] <= 1.0:
                s = data.samples[row]
                text += (f" · sample {s.get('index')}: class {data.class_name(s.get('label'))}, "
                         f"predicted {data.class_name(s.get('prediction'))}, {s.get('status')}, "
                         f"radius {self.certified_radius(data, row):.4g}")
        return text
