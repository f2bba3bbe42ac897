"""The Data panel: built-in datasets, user files, a VNN-LIB property or a single input; a sample
range; and a preview (the image for image data, a scatter of the classes for 2-D data)."""
from __future__ import annotations

import html
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Signal
from PySide6.QtWidgets import (QComboBox, QGridLayout, QHBoxLayout, QLabel, QPushButton, QSpinBox,
                               QVBoxLayout, QWidget)

from workbench.gui.views.base import class_color, style_plot

BUILTIN = ("moons", "digits")
DATA_FILTER = "Data (*.npz *.npy *.csv);;All files (*)"
INK = pg.ColorMap([0.0, 1.0], [(255, 255, 255), (0, 0, 0)])  # white paper, black ink


def pde_titles() -> list[tuple[str, str]]:
    """(name, title) of every defined PDE, for the data source list."""
    from workbench.pinn.pdes import get_pde, list_pdes

    return [(name, get_pde(name).title) for name in list_pdes()]


def canonical_pde(name: str) -> str:
    """The registry's name for a PDE given by name or alias ("nls" -> "schrodinger")."""
    from workbench.pinn.pdes import get_pde

    try:
        return get_pde(name).name
    except ValueError:
        return name


def image_shape(shape: tuple[int, ...]) -> tuple[int, int] | None:
    """(H, W) when samples of this shape are best shown as a grey image."""
    if len(shape) == 3 and shape[0] in (1, 3):
        return shape[1], shape[2]
    if len(shape) == 2 and min(shape) > 2:
        return shape
    if len(shape) == 1 and shape[0] >= 16 and int(np.sqrt(shape[0])) ** 2 == shape[0]:
        side = int(np.sqrt(shape[0]))
        return side, side
    return None


class DataPanel(QWidget):
    changed = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.x: np.ndarray | None = None
        self.y: np.ndarray | None = None
        self.classes: list[str] = []
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        self.source = QComboBox()
        self.source.setObjectName("dataSource")
        for name in BUILTIN:
            self.source.addItem(f"{name} (built-in, test split)", {"dataset": name})
        self.source.insertSeparator(self.source.count())
        for name, title in pde_titles():  # the "data" of a PINN run: the PDE it must satisfy
            self.source.addItem(f"PDE: {title}", {"pde": name})
        self.source.currentIndexChanged.connect(self._source_changed)
        layout.addWidget(self.source)
        buttons = QHBoxLayout()
        self.open_data = QPushButton("Dataset…")
        self.open_data.setToolTip(".npz (x, y[, classes]), .npy inputs or .csv (last column "
                                  "'label' = labels)")
        self.open_vnnlib = QPushButton("VNN-LIB…")
        self.open_vnnlib.setToolTip("a VNN-LIB property: input box and output constraints")
        self.open_input = QPushButton("Input…")
        self.open_input.setToolTip("a single input or a batch of inputs as .npy")
        for b in (self.open_data, self.open_vnnlib, self.open_input):
            buttons.addWidget(b)
        layout.addLayout(buttons)
        grid = QGridLayout()
        self.start, self.stop, self.preview_index = QSpinBox(), QSpinBox(), QSpinBox()
        self.start.setToolTip("first sample to certify (an index into the data)")
        self.stop.setToolTip("one past the last sample to certify")
        self.preview_index.setToolTip("the sample shown in the preview")
        for col, (text, box) in enumerate((("from", self.start), ("to", self.stop),
                                           ("show", self.preview_index))):
            grid.addWidget(QLabel(text), 0, 2 * col)
            grid.addWidget(box, 0, 2 * col + 1)
            box.valueChanged.connect(self._range_changed)
        layout.addLayout(grid)
        self.info = QLabel()
        self.info.setWordWrap(True)
        layout.addWidget(self.info)
        self.plot = pg.PlotWidget()
        self.plot.setMinimumHeight(170)
        layout.addWidget(self.plot, 1)
        self._source_changed()

    # ------------------------------------------------------------ selection
    @property
    def source_fields(self) -> dict[str, str]:
        return dict(self.source.currentData() or {})

    def selection(self) -> dict[str, str]:
        """The data fields of a run (the CLI's --dataset/--input/--vnnlib/--samples)."""
        data = self.source_fields
        if "vnnlib" not in data and "pde" not in data and self.x is not None:
            if (self.start.value(), self.stop.value()) != (0, len(self.x)):
                data["samples"] = f"{self.start.value()}:{self.stop.value()}"
        return data

    def add_source(self, kind: str, path: str) -> None:
        """Add and select a user file: kind is dataset, input or vnnlib."""
        data = {kind: str(path)}
        for i in range(self.source.count()):
            if self.source.itemData(i) == data:
                self.source.setCurrentIndex(i)
                return
        self.source.addItem(f"{Path(path).name} ({'VNN-LIB' if kind == 'vnnlib' else kind})", data)
        self.source.setCurrentIndex(self.source.count() - 1)

    def set_selection(self, data: dict[str, str]) -> None:
        """Select what a stored run used (re-run); ``samples`` of the form a:b sets the range."""
        kind = next((k for k in ("dataset", "input", "vnnlib", "pde") if data.get(k)), None)
        if kind is None:
            return
        if kind == "pde":
            index = self.source.findData({"pde": canonical_pde(data["pde"])})
            if index < 0:
                raise ValueError(f"no PDE named {data['pde']!r}")
            self.source.setCurrentIndex(index)
            return
        if kind == "dataset" and data[kind] in BUILTIN:
            self.source.setCurrentIndex(BUILTIN.index(data[kind]))
        else:
            self.add_source(kind, data[kind])
        parts = str(data.get("samples", "")).split(":")
        if len(parts) == 2 and all(p.strip().isdigit() for p in parts):
            self.set_range(int(parts[0]), int(parts[1]))

    def set_range(self, start: int, stop: int) -> None:
        self.stop.setValue(stop)
        self.start.setValue(start)

    # ------------------------------------------------------------ loading and preview
    def _source_changed(self, *_: object) -> None:
        from workbench.data.datasets import load_array, load_dataset

        data = self.source_fields
        self.x = self.y = None
        self.classes = []
        try:
            if "dataset" in data:
                ds = load_dataset(data["dataset"])
                self.x, self.y, self.classes = ds.x, ds.y, ds.classes
                what = f"{len(ds)} samples of shape {list(ds.input_shape)}, {len(ds.classes)} classes"
            elif "pde" in data:
                what = self._show_pde(data["pde"])
            elif "input" in data:
                x = load_array(data["input"]).astype(np.float32)
                self.x = x if x.ndim > 1 else x[None]
                what = f"{len(self.x)} input(s) of shape {list(self.x.shape[1:])}, no labels"
            else:
                what = f"VNN-LIB property {Path(data['vnnlib']).name}: its input box is the data"
            self.info.setStyleSheet("")
            self.info.setText(what)
        except Exception as err:  # noqa: BLE001 - shown in plain words; the data stays unset
            self.info.setStyleSheet("color: #b00020;")
            self.info.setText(html.escape(str(err).splitlines()[0] if str(err) else type(err).__name__))
        n = 0 if self.x is None else len(self.x)
        for box in (self.start, self.stop, self.preview_index):
            box.blockSignals(True)
            box.setEnabled(n > 0)
        self.start.setRange(0, max(0, n - 1))
        self.stop.setRange(1 if n else 0, n)
        self.start.setValue(0)
        self.stop.setValue(min(n, 20))  # a quick first run; the user widens it
        self.preview_index.setRange(0, max(0, n - 1))
        self.preview_index.setValue(0)
        for box in (self.start, self.stop, self.preview_index):
            box.blockSignals(False)
        if "pde" not in data:  # a PDE's preview was drawn by _show_pde
            self._draw()
        self.changed.emit()

    def _show_pde(self, name: str) -> str:
        """Describe the PDE and preview its initial condition; returns the info text."""
        import torch

        from workbench.pinn.pdes import get_pde

        pde = get_pde(name)
        d = pde.describe()
        plot = self.plot.getPlotItem()
        plot.clear()
        plot.invertY(False)
        plot.setAspectLocked(False)
        x = torch.linspace(*pde.x_range, 400, dtype=torch.float64)
        g = pde.initial(x).reshape(len(x), -1).numpy()
        for k, out in enumerate(pde.outputs):
            plot.plot(x.numpy(), g[:, k], pen=pg.mkPen(class_color(k), width=2), name=out)
        t0 = pde.t_range[0]
        style_plot(plot, f"initial condition at t = {t0:g}", "x (space, PDE units)",
                   ", ".join(pde.outputs) + f"(t = {t0:g}, x)")
        bcs = "; ".join(bc["formula"] or bc["name"] for bc in d["boundary_conditions"])
        (ta, tb), (xa, xb) = pde.t_range, pde.x_range
        return (f"<b>{html.escape(pde.title)}</b><br>{html.escape(d['residual'])}<br>"
                f"t ∈ [{ta:g}, {tb:g}], x ∈ [{xa:g}, {xb:g}]<br>IC: {html.escape(d['initial_condition'])}"
                f"<br>BC: {html.escape(bcs)}")

    def _range_changed(self, *_: object) -> None:
        if self.stop.value() <= self.start.value():
            self.stop.setValue(self.start.value() + 1)
        self._draw()
        self.changed.emit()

    def _draw(self) -> None:
        plot = self.plot.getPlotItem()
        plot.clear()
        plot.invertY(False)
        plot.setAspectLocked(False)
        if self.x is None:
            style_plot(plot, "no preview", "", "")
            return
        flat = self.x.reshape(len(self.x), -1)
        lo, hi = self.start.value(), self.stop.value()
        k = self.preview_index.value()
        label = "" if self.y is None else f" · class {self._class(int(self.y[k]))}"
        img = image_shape(tuple(self.x.shape[1:]))
        if flat.shape[1] == 2:
            colors = [class_color(int(c)) for c in (self.y if self.y is not None else np.zeros(len(flat), int))]
            plot.addItem(pg.ScatterPlotItem(flat[:, 0], flat[:, 1], size=5, pen=None,
                                            brush=[pg.mkBrush(*c, 70) for c in colors]))
            plot.addItem(pg.ScatterPlotItem(flat[lo:hi, 0], flat[lo:hi, 1], size=8,
                                            pen=pg.mkPen("k", width=1), brush=[pg.mkBrush(*c) for c in colors[lo:hi]]))
            plot.addItem(pg.ScatterPlotItem([flat[k, 0]], [flat[k, 1]], size=14, symbol="o",
                                            pen=pg.mkPen((214, 39, 40), width=2), brush=None))
            plot.setAspectLocked(True)
            style_plot(plot, f"rows {lo}–{hi - 1} dark, row {k} circled", "x₁", "x₂")
        elif img is not None:
            h, w = img
            plot.addItem(pg.ImageItem(flat[k, : h * w].reshape(h, w), levels=(float(flat.min()),
                                      float(flat.max())), colorMap=INK))
            plot.invertY(True)  # images read top to bottom
            plot.setAspectLocked(True)
            style_plot(plot, f"sample {k}{label}", "column [pixel]", "row [pixel]")
        else:
            plot.plot(flat[k], pen=pg.mkPen((31, 119, 180), width=2), symbol="o", symbolSize=4)
            style_plot(plot, f"sample {k}{label}", "feature", "value")

    def _class(self, k: int) -> str:
        return self.classes[k] if 0 <= k < len(self.classes) else str(k)
