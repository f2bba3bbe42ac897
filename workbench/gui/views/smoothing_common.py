"""Drawing pieces the smoothing views share: region images placed pixel-exactly, class boundaries,
certified-region polygons, the sample picker and the words for a method's certificate."""
from __future__ import annotations

from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QPolygonF
from PySide6.QtWidgets import QGraphicsPolygonItem

from workbench.gui.smoothing_geometry import Region
from workbench.gui.viewdata import Grid, ViewData
from workbench.gui.views.base import class_color

STATUS_COLORS = {"certified": (44, 160, 44), "abstain": (255, 127, 14)}
STATUS_SYMBOLS = {"certified": "o", "abstain": "x"}
WRONG = (214, 39, 40)  # certified, but not the true class


def smoothing_reason(data: ViewData) -> str | None:
    """Why a smoothing view cannot draw ``data`` at all (None when it can)."""
    if data.record.status != "done":
        return "the run has no result"
    if data.smoothing is None:
        return "this view shows runs of randomized smoothing, ANCER or RANCER"
    return None if data.samples else "the run certified no samples"


def noise_words(norm: str) -> str:
    return "uniform noise, L1 certificates" if norm == "1" else "Gaussian noise, L2 certificates"


def method_title(method: str) -> str:
    return {"smoothing": "Randomized smoothing", "ancer": "ANCER", "rancer": "RANCER"}.get(method, method)


def region_words(method: str, norm: str) -> str:
    """What a method certifies, in the words of the captions."""
    if norm == "1":
        return "L1 balls" if method == "smoothing" else "generalised cross-polytopes"
    return {"smoothing": "discs", "ancer": "axis-aligned ellipses", "rancer": "rotated ellipses"}.get(
        method, "ellipses")


def grid_image(grid: Grid, rgb: np.ndarray) -> pg.ImageItem:
    """An image whose pixel centres sit exactly on the grid's sample points."""
    x0, x1, y0, y1 = grid.extent
    h, w = grid.classes.shape
    dx, dy = (x1 - x0) / max(w - 1, 1), (y1 - y0) / max(h - 1, 1)
    image = pg.ImageItem(rgb, levels=(0, 255))  # explicit levels: no autoscaling of colours
    image.setRect(QRectF(x0 - dx / 2, y0 - dy / 2, x1 - x0 + dx, y1 - y0 + dy))
    return image


def boundary_segments(grid: Grid) -> tuple[np.ndarray, np.ndarray]:
    """Pixel edges between different classes, as (x, y) pairs for ``connect="pairs"``."""
    x0, x1, y0, y1 = grid.extent
    c = grid.classes
    h, w = c.shape
    xs, ys = np.linspace(x0, x1, w), np.linspace(y0, y1, h)
    dx, dy = (x1 - x0) / max(w - 1, 1), (y1 - y0) / max(h - 1, 1)
    i, j = np.nonzero(c[:, 1:] != c[:, :-1])       # vertical edges between columns j and j+1
    vx = np.repeat(xs[j] + dx / 2, 2)
    vy = np.stack([ys[i] - dy / 2, ys[i] + dy / 2], axis=1).ravel()
    i, j = np.nonzero(c[1:, :] != c[:-1, :])       # horizontal edges between rows i and i+1
    hx = np.stack([xs[j] - dx / 2, xs[j] + dx / 2], axis=1).ravel()
    hy = np.repeat(ys[i] + dy / 2, 2)
    return np.concatenate([vx, hx]), np.concatenate([vy, hy])


def region_item(region: Region, prediction: int, correct: bool) -> QGraphicsPolygonItem:
    """The region filled in the predicted class's colour; a dashed outline when the memory pass
    shrank it to a ball, a red one when the certified class is not the true class."""
    outline = region.outline()
    item = QGraphicsPolygonItem(QPolygonF([QPointF(float(x), float(y)) for x, y in outline]))
    color = class_color(prediction) if correct else WRONG
    dark = tuple(int(v * 0.7) for v in color)
    style = Qt.PenStyle.DashLine if region.shrunk else Qt.PenStyle.SolidLine
    item.setPen(pg.mkPen(dark, width=2, style=style))  # mkPen: cosmetic, 2 px at any zoom
    item.setBrush(pg.mkBrush(*class_color(prediction), 55))
    return item


def first_rows(data: ViewData, *wanted: Any) -> list[int]:
    """The first sample of each wanted status (for report figures), skipping statuses not present."""
    rows = []
    for status in wanted:
        row = next((i for i, s in enumerate(data.samples) if s.get("status") == status), None)
        if row is not None:
            rows.append(row)
    return rows


def most_anisotropic(data: ViewData) -> int | None:
    """The certified, unshrunk sample whose σ varies most (max/min): the report's telling example
    (a data-dependent method often keeps the isotropic σ for the first samples)."""
    sm = data.smoothing
    best, row_best = 0.0, None
    for row, s in enumerate(data.samples):
        if s.get("status") != "certified" or s.get("memory") == "shrunk" or sm.parameters is None:
            continue
        sigma = np.asarray(sm.parameters[row], float)
        spread = float(sigma.max() / max(sigma.min(), 1e-300))
        if row_best is None or spread > best + 1e-9:
            best, row_best = spread, row
    return row_best


def sample_words(data: ViewData, row: int) -> str:
    """One line about a sample: class, prediction, status and the certificate's numbers."""
    s = data.samples[row]
    pred = s.get("prediction")
    bits = [f"sample {s.get('index')}", f"class {data.class_name(s.get('label'))}",
            f"predicted {data.class_name(pred) if pred is not None and pred >= 0 else '-'}",
            str(s.get("status"))]
    if s.get("status") == "certified":
        bits.append(f"radius {float(s.get('radius') or 0):.4g}")
        if s.get("proxy_radius") is not None:
            bits.append(f"proxy radius {float(s['proxy_radius']):.4g}")
    if s.get("p_lower") is not None:
        bits.append(f"p̲_A {float(s['p_lower']):.4f}")
    sm = data.smoothing
    if sm is not None and sm.gaps[row] > 0:
        bits.append(f"ρ {sm.gaps[row]:.3f}")
    if s.get("memory") and s.get("memory") != "kept":
        bits.append(f"memory: {s['memory']}")
    return ", ".join(bits)
