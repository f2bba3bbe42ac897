"""Per-pixel smoothing parameters of an image run: the input beside its σ as a heat image.

For ANCER σ_i is per pixel already. RANCER's σ_i scale the Hessian eigen-directions, not pixels,
so the heat image shows the per-pixel standard deviation of the noise R·diag(σ)·ε,
√Σ_j R_ij²σ_j² (``noise_std_per_coordinate``), and a third panel plots σ_i per eigen-direction.
Colour levels are shared by all samples of the run, so pictures of two samples compare; the
isotropic σ of the run is marked on the colour bar's range in the caption.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QWidget

from workbench.gui.smoothing_geometry import noise_std_per_coordinate
from workbench.gui.viewdata import ViewData
from workbench.gui.views.base import SampleView, legend_below, register_view, style_plot
from workbench.gui.views.smoothing_common import (first_rows, most_anisotropic, sample_words,
                                                  smoothing_reason)

INK = pg.ColorMap([0.0, 1.0], [(255, 255, 255), (0, 0, 0)])  # as the data panel: white paper, black ink


def image_shape(input_shape: list[int]) -> tuple[int, int, int] | None:
    """(channels, height, width) of an image input, None for a vector input."""
    shape = [int(v) for v in input_shape]
    if len(shape) == 3:
        return shape[0], shape[1], shape[2]
    if len(shape) == 2:
        return 1, shape[0], shape[1]
    return None


def to_picture(values: np.ndarray, chw: tuple[int, int, int]) -> np.ndarray:
    """[H, W] (one channel, or the mean over channels) or [H, W, 3] for an RGB input."""
    c, h, w = chw
    v = np.asarray(values, float).reshape(c, h, w)
    return v[0] if c == 1 else v.transpose(1, 2, 0) if c == 3 else v.mean(axis=0)


@register_view
class SmoothingSigmaImageView(SampleView):
    name = "smoothing_sigma_image"
    title = "Smoothing σ per pixel"

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.sigma_picture: np.ndarray | None = None  # what the heat image shows (tests read it)

    @classmethod
    def unavailable(cls, data: ViewData) -> str | None:
        reason = smoothing_reason(data)
        if reason:
            return reason
        if image_shape((data.payload.get("network") or {}).get("input_shape") or []) is None:
            return "the σ image needs image inputs (channels × height × width)"
        if data.smoothing.inputs is None:
            return "the run stored no inputs"
        return None

    @classmethod
    def report_states(cls, data: ViewData) -> list[dict[str, Any]]:
        rows = [most_anisotropic(data)] + first_rows(data, "abstain")
        return [{"sample": r} for r in rows if r is not None] or [{}]

    def caption(self) -> str:
        if self._data is None or not self._data.samples:
            return self.title
        sm = self._data.smoothing
        s = self._data.samples[self.sample.value()]
        what = ("the per-pixel standard deviation of the rotated noise R·diag(σ)·ε (σ is per Hessian "
                "eigen-direction, plotted right)" if sm.rotations is not None else "σ per pixel")
        return (f"Sample {s.get('index')} ({s.get('status')}, {sm.method}): the input (left) and {what}; "
                f"colour levels are shared by all samples of the run (base σ = {sm.sigma:g}).")


    def _stds(self, data: ViewData) -> np.ndarray:
        """[N, d] per-coordinate noise std of every sample (one colour scale for the run)."""
        sm = data.smoothing
        d = int(np.prod(sm.inputs.shape[1:]))
        return np.stack([noise_std_per_coordinate(sm.sigma_of(i, d), sm.rotation_of(i))
                         for i in range(len(data.samples))])

    def _draw_sample(self, data: ViewData, row: int) -> None:
        sm = data.smoothing
        chw = image_shape(data.payload["network"]["input_shape"])
        self.info.setText(sample_words(data, row))
        stds = self._stds(data)
        lo, hi = float(stds.min()), float(stds.max())
        if hi - lo < 1e-9:  # isotropic: one colour; give the bar a range around σ
            lo, hi = lo * 0.9, hi * 1.1 + 1e-9
        x = np.asarray(sm.inputs[row], float)
        clip = data.data.get("clip")
        xlo, xhi = (float(clip[0]), float(clip[1])) if clip else (float(sm.inputs.min()), float(sm.inputs.max()))
        left = self.canvas.addPlot(row=0, col=0)
        picture = to_picture(x, chw)
        image = pg.ImageItem(picture, levels=(xlo, xhi))
        if picture.ndim == 2:
            image.setColorMap(INK)
        left.addItem(self._placed(image, chw))
        self._image_axes(left, f"Input (sample {data.samples[row].get('index')})", chw)
        right = self.canvas.addPlot(row=0, col=1)
        self.sigma_picture = to_picture(stds[row], chw)
        if self.sigma_picture.ndim == 3:  # RGB input: one heat value per pixel
            self.sigma_picture = self.sigma_picture.mean(axis=2)
        heat = self._placed(pg.ImageItem(self.sigma_picture, levels=(lo, hi)), chw)
        right.addItem(heat)
        right.addColorBar(heat, colorMap="viridis", values=(lo, hi), interactive=False,
                          label="noise std [input units]")
        title = "Noise std per pixel" if sm.rotations is not None else "σ per pixel"
        self._image_axes(right, f"{title} (mean {stds[row].mean():.3g})", chw)
        if sm.rotations is not None:
            spectrum = self.canvas.addPlot(row=0, col=2)
            sig = sm.sigma_of(row, stds.shape[1])
            line = spectrum.plot(np.arange(1, len(sig) + 1), sig, pen=pg.mkPen((31, 119, 180), width=2))
            base = pg.InfiniteLine(sm.sigma, angle=0, pen=pg.mkPen((120, 120, 120), width=1.5,
                                                                  style=pg.QtCore.Qt.PenStyle.DashLine))
            spectrum.addItem(base)
            legend_below(self.canvas, 1, 2, [(line, "σ_i of this sample"),
                                              (pg.PlotDataItem(pen=base.pen), f"base σ = {sm.sigma:g}")])
            style_plot(spectrum, "σ per eigen-direction", "direction (by |eigenvalue|)", "σ_i [input units]")
        for col in range(self.canvas.ci.layout.columnCount()):
            self.canvas.ci.layout.setColumnStretchFactor(col, 1)

    @staticmethod
    def _placed(image: pg.ImageItem, chw: tuple[int, int, int]) -> pg.ImageItem:
        """Pixel (r, c) centred on the integer coordinates (c, r), so ticks name pixels."""
        image.setRect(-0.5, -0.5, chw[2], chw[1])
        return image

    @staticmethod
    def _image_axes(plot: pg.PlotItem, title: str, chw: tuple[int, int, int]) -> None:
        plot.setAspectLocked(True)  # square pixels
        plot.invertY(True)          # row 0 at the top, as images are read
        plot.setRange(xRange=(-0.5, chw[2] - 0.5), yRange=(-0.5, chw[1] - 0.5), padding=0.02)
        style_plot(plot, title, "column [pixel]", "row [pixel]")
        plot.showGrid(x=False, y=False)
