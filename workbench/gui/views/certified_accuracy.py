"""Certified accuracy against the perturbation radius, and the histogram of certified radii.

With per-sample radii (a run with the radius search) the curve is exact for that run: the share
of samples that are correct and certified at every ε. Without radii a run is one point (its ε and
verified fraction); the other finished runs on the same network, data and norm are drawn beside
it, so a sweep of runs still draws the curve.
"""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg

from workbench.gui.viewdata import ViewData, certified_accuracy_curve
from workbench.gui.views.base import (CLASS_COLORS, ResultView, eps_symbol, legend_below,
                                      register_view, style_plot)

CURVE = (31, 119, 180)
THIS_RUN = (214, 39, 40)


@register_view
class CertifiedAccuracyView(ResultView):
    name = "certified_accuracy"
    title = "Certified accuracy"

    @classmethod
    def unavailable(cls, data: ViewData) -> str | None:
        if data.record.status != "done":
            return "the run has no result"
        if data.spec_kind == "vnnlib" or data.eps is None:
            return "certified accuracy needs a run over samples with an ε-ball (not a VNN-LIB property)"
        return None

    def caption(self) -> str:
        if self._data is not None and self._data.radii is not None:
            return ("Certified accuracy vs radius from the per-sample certified radii (left; star: "
                    "this run's ε), and the histogram of certified radii (right).")
        return ("Verified fraction at ε of this run (star) and of the other finished runs on the same "
                "network, data and norm (one point per run).")

    def draw(self, data: ViewData) -> None:
        plot = self.canvas.addPlot(row=0, col=0)
        entries = []
        radii = data.radii
        correct = None
        if data.samples and all("correct" in s for s in data.samples):
            correct = np.array([bool(s["correct"]) for s in data.samples])
        what = "certified accuracy" if correct is not None else "certified fraction"
        if radii is not None:
            r, acc = certified_accuracy_curve(radii, correct)
            entries.append((plot.plot(r, acc, pen=pg.mkPen(CURVE, width=2.5)),
                            "this run, from certified radii"))
        # every comparable run is a point; markers per method so a sweep reads as a curve
        methods = sorted({p.method for p in data.runs})
        for k, method in enumerate(methods):
            pts = [p for p in data.runs if p.method == method]
            color = CLASS_COLORS[(k + 2) % len(CLASS_COLORS)]
            entries.append((plot.plot([p.eps for p in pts], [p.verified_fraction for p in pts],
                                      pen=pg.mkPen(color, width=1), symbol="o", symbolSize=8,
                                      symbolBrush=color), f"{method} runs (verified at their ε)"))
        frac = float(data.record.summary.get("verified_fraction", np.nan))
        entries.append((plot.plot([data.eps], [frac], pen=None, symbol="star", symbolSize=16,
                                  symbolBrush=THIS_RUN), f"this run: {frac:.1%} verified at ε = {data.eps:g}"))
        legend_below(self.canvas, 1, 0, entries, columns=1)
        plot.setYRange(0, 1.05, padding=0)
        top = max([data.eps] + [p.eps for p in data.runs] + ([float(radii.max())] if radii is not None else []))
        plot.setXRange(0, 1.1 * top if top > 0 else 1.0, padding=0)  # ε is never negative
        style_plot(plot, f"{what.capitalize()} vs radius", f"{eps_symbol(data.norm)} [input units]",
                   what + " [fraction]")
        if radii is None:
            self.message.setText(
                "; ".join(data.notes + ["one point per run: enable 'radius' in the method "
                                        "parameters for the full curve of a single run"]))
            return
        hist = self.canvas.addPlot(row=0, col=1)
        counts, edges = np.histogram(radii, bins=min(30, max(5, len(radii) // 3)))
        hist.addItem(pg.BarGraphItem(x0=edges[:-1], x1=edges[1:], height=counts,
                                     brush=pg.mkBrush(*CURVE, 180), pen=pg.mkPen("k", width=1)))
        hist.addItem(pg.InfiniteLine(data.eps, angle=90, pen=pg.mkPen(THIS_RUN, width=2),
                                     label=f"ε = {data.eps:g}", labelOpts={"position": 0.9, "color": THIS_RUN}))
        style_plot(hist, f"Certified radii (mean {radii.mean():.4g})", f"certified radius, {eps_symbol(data.norm)}",
                   "samples [count]")
