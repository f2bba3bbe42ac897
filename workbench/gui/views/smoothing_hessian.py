"""Hessian directions of one sample of a 2-D RANCER run: the eigenvectors of the input Hessian of
the loss, ∇²ₓ CE(f(x), ŷ), drawn as arrows at the point with length proportional to |eigenvalue|
(an eigenvector has no sign, so each is a double-headed arrow), over the base classifier's regions,
with the certified RANCER ellipse whose axes follow those directions; beside it, the eigenvalues
and the ellipse's semi-axes σ_i·ρ per direction."""
from __future__ import annotations

from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF
from PySide6.QtWidgets import QWidget

from workbench.gui.viewdata import ViewData
from workbench.gui.views.base import SampleView, legend_below, register_view, style_plot, swatch
from workbench.gui.views.smoothing_common import (first_rows, grid_image, most_anisotropic,
                                                  region_item, sample_words, smoothing_reason)
from workbench.gui.views.toy2d import region_image

POSITIVE = (148, 103, 189)  # curvature up (the loss grows along it): purple
NEGATIVE = (23, 190, 207)   # curvature down: cyan, so the sign reads without the legend
FLAT = 1e-3                 # |λ| below this fraction of the largest is drawn as no arrow


def arrow_angle(direction: np.ndarray) -> float:
    """ArrowItem angle (screen degrees, 0 points left) for a data-space direction, aspect locked."""
    theta = np.degrees(np.arctan2(direction[1], direction[0]))
    return 180.0 - theta


@register_view
class SmoothingHessianView(SampleView):
    name = "smoothing_hessian"
    title = "Hessian directions"

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._plot: pg.PlotItem | None = None
        self.arrows: list[tuple[np.ndarray, np.ndarray, float]] = []  # (start, end, eigenvalue) drawn
        # once, not per drawing: the scene outlives every redraw, and so would extra connections
        self.canvas.scene().sigMouseMoved.connect(self._mouse_moved)

    @classmethod
    def unavailable(cls, data: ViewData) -> str | None:
        reason = smoothing_reason(data)
        if reason:
            return reason
        if not data.is_2d:
            return "Hessian directions are drawn for networks with two inputs"
        if "hessian_eigvecs" not in data.arrays or "hessian_eigvals" not in data.arrays:
            return "the run stored no Hessian eigenvectors (RANCER computes them)"
        return None

    @classmethod
    def report_states(cls, data: ViewData) -> list[dict[str, Any]]:
        row = most_anisotropic(data)
        return [{"sample": row}] if row is not None else [{"sample": r} for r in first_rows(data, "abstain")] or [{}]

    def caption(self) -> str:
        if self._data is None or not self._data.samples:
            return self.title
        s = self._data.samples[self.sample.value()]
        return (f"Sample {s.get('index')} ({s.get('status')}): eigenvectors of the input Hessian of the "
                f"cross-entropy loss as double-headed arrows at the point, length ∝ |eigenvalue| (purple: "
                f"positive, cyan: negative), over the base classifier's regions, with the certified RANCER "
                f"ellipse (semi-axes σ_i·ρ along the eigenvectors). Right: eigenvalue and semi-axis per direction.")


    def _draw_sample(self, data: ViewData, row: int) -> None:
        sm = data.smoothing
        s = data.samples[row]
        self.info.setText(sample_words(data, row))
        center = sm.inputs[row].reshape(2).astype(float)
        vals = np.asarray(data.arrays["hessian_eigvals"][row], float)
        vecs = np.asarray(data.arrays["hessian_eigvecs"][row], float).reshape(len(vals), 2)
        region = sm.region(data, row)
        plot = self._plot = self.canvas.addPlot(row=0, col=0, rowspan=2)
        plot.setAspectLocked(True)  # arrows and ellipse keep their directions
        grid = sm.local.get(row, sm.base)  # a close-up grid when there is one (sharper than the global)
        if grid is not None:
            plot.addItem(grid_image(grid, region_image(grid.classes, grid.margin)))
        entries = []
        if region is not None:
            plot.addItem(region_item(region, int(s.get("prediction", 0)), bool(s.get("correct", True))))
            entries.append((swatch("s", (120, 120, 120, 55), (80, 80, 80)),
                            "certified ball (memory)" if region.shrunk else "certified RANCER ellipse"))
        # the longest arrow is as long as the region's largest semi-axis (3σ when abstained)
        span = region.reach if region is not None else 3 * max(sm.sigma, 1e-3)
        top = float(np.abs(vals).max()) or 1.0
        self.arrows = []
        for k, (lam, v) in enumerate(zip(vals, vecs)):
            color = POSITIVE if lam >= 0 else NEGATIVE
            tip = v / (np.linalg.norm(v) or 1.0) * span * abs(lam) / top
            if abs(lam) < FLAT * top:  # numerically flat: no arrow (its bar still shows the value)
                continue
            pen = pg.mkPen(color, width=3)
            plot.plot([center[0] - tip[0], center[0] + tip[0]], [center[1] - tip[1], center[1] + tip[1]], pen=pen)
            # heads on a direction shorter than 5 % of the longest would hide the point
            for end in ((tip, -tip) if abs(lam) >= 0.05 * top else ()):
                head = pg.ArrowItem(pos=(center[0] + end[0], center[1] + end[1]), angle=arrow_angle(end),
                                    headLen=14, tipAngle=30, brush=pg.mkBrush(color), pen=pg.mkPen(color))
                plot.addItem(head)
            self.arrows.append((center - tip, center + tip, float(lam)))
        plot.plot([center[0]], [center[1]], pen=None, symbol="o", symbolSize=9, symbolBrush="k")
        drawn = np.array([lam for _, _, lam in self.arrows])
        if (drawn > 0).any():
            entries.append((swatch("s", POSITIVE), "eigenvalue > 0"))
        if (drawn < 0).any():
            entries.append((swatch("s", NEGATIVE), "eigenvalue < 0"))
        legend_below(self.canvas, 2, 0, entries, columns=3)
        x0, x1, y0, y1 = sm.window(data, row)
        plot.setRange(xRange=(x0, x1), yRange=(y0, y1), padding=0)
        style_plot(plot, f"Loss Hessian at sample {s.get('index')}", "x₁ [input 1]", "x₂ [input 2]")
        self._spectrum(data, row, vals)

    def _spectrum(self, data: ViewData, row: int, vals: np.ndarray) -> None:
        """Eigenvalues (top) and the ellipse's semi-axes (bottom), one bar per eigen-direction."""
        sm = data.smoothing
        k = np.arange(len(vals))
        ticks = [[(int(i), f"v{i + 1}") for i in k]]
        top = self.canvas.addPlot(row=0, col=1)
        top.addItem(pg.BarGraphItem(x=k, height=vals, width=0.6, pen=pg.mkPen("k"),
                                    brushes=[pg.mkBrush(*(POSITIVE if v >= 0 else NEGATIVE)) for v in vals]))
        top.getAxis("bottom").setTicks(ticks)
        style_plot(top, "Eigenvalues", "", "λ [loss / input²]")
        bottom = self.canvas.addPlot(row=1, col=1)
        if sm.gaps[row] > 0 and sm.region(data, row) is not None and not sm.region(data, row).shrunk:
            axes = sm.sigma_of(row, 2) * sm.gaps[row]
            bottom.addItem(pg.BarGraphItem(x=k[:len(axes)], height=axes, width=0.6,
                                           brush=pg.mkBrush(120, 120, 120, 160), pen=pg.mkPen("k")))
            title = "Semi-axes σ_i·ρ"
        else:
            title = "No ellipse (abstained or shrunk)"
        bottom.getAxis("bottom").setTicks(ticks)
        bottom.setXLink(top)
        style_plot(bottom, title, "eigen-direction", "[input units]")
        self.canvas.ci.layout.setColumnStretchFactor(0, 3)
        self.canvas.ci.layout.setColumnStretchFactor(1, 1)

    def _mouse_moved(self, pos: QPointF) -> None:
        plot = self._plot
        if plot is None or self._data is None or not plot.sceneBoundingRect().contains(pos):
            return
        p = plot.vb.mapSceneToView(pos)
        self.info.setText(self.hover_text(p.x(), p.y()))

    def hover_text(self, x: float, y: float) -> str:
        """The point, and where it lies relative to the certified region (its gauge, ≤ 1 inside)."""
        data = self._data
        if data is None or data.smoothing is None:
            return ""
        row = self.sample.value()
        text = f"x₁ = {x:.3f}, x₂ = {y:.3f}"
        region = data.smoothing.region(data, row)
        if region is not None:
            level = region.level(np.array([x, y]))
            where = "inside" if level <= 1 else "outside"
            text += f" · {where} the certified region (‖diag(σ)⁻¹Rᵀδ‖/ρ = {level:.3f})"
        vals = data.arrays["hessian_eigvals"][row]
        return text + " · eigenvalues " + ", ".join(f"{v:.3g}" for v in vals)
