"""Certified accuracy of smoothing runs against the radius (left) and the proxy radius (right).

Every finished run of the smoothing family on the same network, data and norm is one curve
(``smoothing_data.related_curves``), so Cohen, ANCER and RANCER compare on one plot; this run is
the thick line. The radius is the inscribed ball (ρ·min σ_i): the fair, worst-direction number. The
proxy radius, the radius of the ball with the region's volume, is what anisotropic certificates
gain; for an isotropic run the two coincide (drawn dashed on the right for reference).
"""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg

from workbench.gui.viewdata import ViewData
from workbench.gui.views.base import CLASS_COLORS, ResultView, legend_below, register_view, style_plot
from workbench.gui.views.smoothing_common import smoothing_reason

METHOD_COLORS = {"smoothing": (31, 119, 180), "ancer": (255, 127, 14), "rancer": (44, 160, 44)}


def accuracy_at(radius: np.ndarray, ok: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Fraction of samples certified, correct and with radius ≥ r (an abstention counts nowhere)."""
    if not radius.size:
        return np.zeros_like(r)
    return ((radius[None, :] >= r[:, None]) & ok[None, :]).mean(axis=1)


@register_view
class SmoothingAccuracyView(ResultView):
    name = "smoothing_accuracy"
    title = "Certified accuracy (smoothing)"

    @classmethod
    def unavailable(cls, data: ViewData) -> str | None:
        return smoothing_reason(data)

    def caption(self) -> str:
        n = len(self._data.smoothing.curves) if self._data is not None and self._data.smoothing else 1
        return (f"Certified accuracy (share of samples certified for their true class) against the certified "
                f"radius, the largest ball inside each region (left), and against the proxy radius, the ball "
                f"of equal volume (right), for {n} smoothing run{'s' if n != 1 else ''} on the same network, "
                f"data and norm (thick: this run).")

    def draw(self, data: ViewData) -> None:
        sm = data.smoothing
        curves = sm.curves
        norm = "L1" if sm.norm == "1" else "L2"
        top = max([float(c.radius.max()) for c in curves if c.radius.size]
                  + [float(c.proxy.max()) for c in curves if c.proxy is not None and c.proxy.size] + [0.0])
        r = np.linspace(0.0, 1.05 * top if top > 0 else 1.0, 300)
        left = self.canvas.addPlot(row=0, col=0)
        right = self.canvas.addPlot(row=0, col=1)
        entries_left, entries_right = [], []
        seen: dict[str, int] = {}
        for c in curves:
            k = seen[c.method] = seen.get(c.method, -1) + 1
            color = METHOD_COLORS.get(c.method, CLASS_COLORS[(len(seen) + 4) % len(CLASS_COLORS)])
            color = tuple(int(v * (1 - 0.25 * min(k, 3))) for v in color)  # siblings of one method darker
            width = 3.5 if c.this_run else 1.5
            styles = [pg.QtCore.Qt.PenStyle.SolidLine, pg.QtCore.Qt.PenStyle.DashDotLine,
                      pg.QtCore.Qt.PenStyle.DotLine]
            pen = pg.mkPen(color, width=width, style=styles[k % 3])
            label = c.label + (" — this run" if c.this_run else "")
            entries_left.append((left.plot(r, accuracy_at(c.radius, c.ok, r), pen=pen), label))
            if c.proxy is not None:
                entries_right.append((right.plot(r, accuracy_at(c.proxy, c.ok, r), pen=pen), label))
            else:  # isotropic: the proxy radius is the radius itself
                iso = pg.mkPen(color, width=width, style=pg.QtCore.Qt.PenStyle.DashLine)
                entries_right.append((right.plot(r, accuracy_at(c.radius, c.ok, r), pen=iso),
                                      label + " (isotropic: = radius)"))
        for plot, entries, col, what in ((left, entries_left, 0, f"certified radius, {norm} [input units]"),
                                         (right, entries_right, 1, f"proxy radius, {norm} [input units]")):
            legend_below(self.canvas, 1, col, entries)
            plot.setYRange(-0.02, 1.05, padding=0)  # a hair below 0: pyqtgraph drops a tick on the edge
            plot.setXRange(-0.03 * r[-1], r[-1], padding=0)
            style_plot(plot, "vs " + what.split(",")[0], what, "certified accuracy [fraction]")
        summary = data.record.summary
        if summary.get("certified_accuracy") is not None:
            self.message.setText("; ".join(data.notes + [
                f"this run: certified accuracy {float(summary['certified_accuracy']):.1%}, "
                f"{summary.get('abstain', 0)} of {summary.get('samples', len(data.samples))} abstained"]))
