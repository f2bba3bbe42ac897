"""What every result view shares: the registry by name, colours, and offscreen PNG rendering.

A method lists view names (``Method.views``); the result area shows the class registered under
each name. A view is a thin widget over a ``ViewData``: it draws, it does not compute (the data was
prepared in a worker), so switching runs never blocks the GUI thread on torch.
"""
from __future__ import annotations

import html
from pathlib import Path
from typing import Any, ClassVar

import pyqtgraph as pg
from PySide6.QtCore import QCoreApplication, QEvent, QSize, Qt
from PySide6.QtGui import QColor, QImage
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSpinBox, QVBoxLayout, QWidget

from workbench.gui.viewdata import ViewData

# White plots: the same figure works on screen and printed in a report.
pg.setConfigOptions(background="w", foreground="k", antialias=True, imageAxisOrder="row-major")

VERDICT_COLORS = {"verified": (44, 160, 44), "falsified": (214, 39, 40), "unknown": (255, 127, 14)}
# matplotlib's tab10: distinguishable, and familiar to the people reading these plots
CLASS_COLORS = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
                (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207)]
DEFAULT_RENDER_SIZE = (1000, 560)
VIEWS: dict[str, type["ResultView"]] = {}


def class_color(k: int) -> tuple[int, int, int]:
    return CLASS_COLORS[k % len(CLASS_COLORS)]


def register_view(cls: type["ResultView"]) -> type["ResultView"]:
    """Class decorator: make a view available under ``cls.name``."""
    VIEWS[cls.name] = cls
    return cls


def view_class(name: str) -> type["ResultView"] | None:
    return VIEWS.get(name)


def eps_symbol(norm: str) -> str:
    return "ε (L∞)" if norm == "inf" else f"ε (L{norm})"


def style_plot(plot: pg.PlotItem, title: str, bottom: str, left: str) -> None:
    """Axis labels and a readable title size; every plot names its axes (units in brackets)."""
    plot.setTitle(title, size="11pt")
    plot.setLabel("bottom", bottom)
    plot.setLabel("left", left)
    plot.showGrid(x=True, y=True, alpha=0.15)
    for side in ("left", "bottom"):
        axis = plot.getAxis(side)
        axis.setTextPen("k")
        # "(x0.001)" beside an ε axis reads as a unit: never scale. pyqtgraph 0.14 recomputes
        # the scale even when disabled, so also leave it no range to scale in.
        axis.setSIPrefixEnableRanges(())
        axis.enableAutoSIPrefix(False)


def swatch(symbol: str = "s", brush: Any = None, pen: Any = None, size: int = 12) -> pg.ScatterPlotItem:
    """A legend-only sample (a PlotDataItem without data would draw the default colours)."""
    return pg.ScatterPlotItem(symbol=symbol, size=size, brush=pg.mkBrush(brush or (0, 0, 0, 0)),
                              pen=pg.mkPen(pen) if pen is not None else pg.mkPen(None))


def legend_below(canvas: pg.GraphicsLayoutWidget, row: int, col: int,
                 entries: list[tuple[Any, str]], columns: int = 1) -> pg.LegendItem:
    """A legend in its own layout cell under a plot, so it never hides data."""
    legend = pg.LegendItem(offset=None, colCount=columns, verSpacing=-6, horSpacing=16)
    legend.setLabelTextColor("k")
    for item, name in entries:
        legend.addItem(item, html.escape(name))  # labels are rich text: "< 0" would open a tag
    canvas.addItem(legend, row=row, col=col)
    return legend


class ResultView(QWidget):
    """Base of the registered views: a control row over a pyqtgraph canvas."""

    name: ClassVar[str] = ""
    title: ClassVar[str] = ""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._data: ViewData | None = None
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        self.controls = QHBoxLayout()
        layout.addLayout(self.controls)
        self.canvas = pg.GraphicsLayoutWidget()
        self.canvas.setMinimumSize(QSize(300, 200))
        layout.addWidget(self.canvas, 1)
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.message.setStyleSheet("color: #555;")
        layout.addWidget(self.message)

    @classmethod
    def unavailable(cls, data: ViewData) -> str | None:
        """Why this view cannot show ``data`` (None when it can)."""
        return None if data.record.status == "done" else "the run has no result"

    @property
    def data(self) -> ViewData | None:
        return self._data

    def set_data(self, data: ViewData | None) -> None:
        self._data = data
        self.canvas.clear()
        reason = "no run selected" if data is None else self.unavailable(data)
        self.message.setText(reason or self.notes(data))
        if reason is None and data is not None:
            self.draw(data)

    def notes(self, data: ViewData | None) -> str:
        return "; ".join(data.notes) if data is not None else ""

    def draw(self, data: ViewData) -> None:
        raise NotImplementedError

    def caption(self) -> str:
        """A sentence saying what the figure shows (the report prints it under the figure)."""
        return self.title

    @classmethod
    def report_states(cls, data: ViewData) -> list[dict[str, Any]]:
        """The states worth a figure in a report (e.g. one verified and one failed sample)."""
        return [{}]

    # ------------------------------------------------------------ state and rendering
    def state(self) -> dict[str, Any]:
        """What a twin needs to look the same (e.g. the selected sample)."""
        return {}

    def set_state(self, state: dict[str, Any]) -> None:
        pass

    def render_image(self, size: tuple[int, int] = DEFAULT_RENDER_SIZE) -> QImage:
        """The plots (without the controls) at ``size`` pixels, drawn by an offscreen twin so the
        view on screen is not resized or disturbed."""
        return self.render_offscreen(self._data, self.state(), size)[0]

    @classmethod
    def render_offscreen(cls, data: ViewData | None, state: dict[str, Any] | None = None,
                         size: tuple[int, int] = DEFAULT_RENDER_SIZE) -> tuple[QImage, str]:
        """Draw ``data`` in a hidden view of exactly ``size`` pixels: (image, caption)."""
        twin = cls()
        twin.set_state(state or {})
        canvas = twin.canvas
        canvas.setParent(None)  # a top-level of its own: exactly ``size``, whatever the controls need
        canvas.setAttribute(Qt.WidgetAttribute.WA_DontShowOnScreen, True)
        canvas.resize(*size)
        twin.set_data(data)
        canvas.show()
        # pyqtgraph lays plots out on posted LayoutRequest events; deliver only those (a full
        # processEvents here could re-enter the caller's slots).
        for _ in range(4):
            QCoreApplication.sendPostedEvents(None, QEvent.Type.LayoutRequest)
        image = canvas.grab().toImage()
        caption = twin.caption()
        canvas.close()
        canvas.deleteLater()
        twin.deleteLater()
        return image, caption

    def render_png(self, path: str | Path, size: tuple[int, int] = DEFAULT_RENDER_SIZE) -> Path:
        path = Path(path)
        if not self.render_image(size).save(str(path), "PNG"):
            raise OSError(f"could not write {path}")
        return path


class SampleView(ResultView):
    """A view of one sample at a time, picked with a spin box; subclasses draw it in
    ``_draw_sample(data, row)``. The wanted row survives switching runs (clamped to the run)."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.controls.addWidget(QLabel("Sample:"))
        self.sample = QSpinBox()
        self.sample.setToolTip("row of the run (its index in the data is shown beside it)")
        self.controls.addWidget(self.sample)
        self.sample.valueChanged.connect(self._redraw)
        self.info = QLabel()
        self.info.setWordWrap(True)
        self.controls.addWidget(self.info, 1)
        self._wanted = 0

    def select_sample(self, row: int) -> None:
        self.sample.setValue(row)

    def state(self) -> dict[str, Any]:
        return {"sample": self.sample.value()}

    def set_state(self, state: dict[str, Any]) -> None:
        self._wanted = int(state.get("sample", 0))

    def draw(self, data: ViewData) -> None:
        self.sample.blockSignals(True)
        self.sample.setRange(0, max(0, len(data.samples) - 1))
        self.sample.setValue(min(self._wanted, len(data.samples) - 1))
        self.sample.blockSignals(False)
        self._draw_sample(data, self.sample.value())

    def _redraw(self, row: int) -> None:
        self._wanted = row
        if self._data is not None and self.unavailable(self._data) is None:
            self.canvas.clear()
            self._draw_sample(self._data, row)

    def _draw_sample(self, data: ViewData, row: int) -> None:
        raise NotImplementedError


def verdict_html(status: str) -> str:
    r, g, b = VERDICT_COLORS.get(status, (0, 0, 0))
    return f"<span style='color: {QColor(r, g, b).name()}; font-weight: bold'>{status}</span>"
