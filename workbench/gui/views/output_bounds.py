"""Output bounds of one sample: an interval per class over the ε-ball, the clean output marked,
the true class highlighted, and the certified margins with the verdict."""
from __future__ import annotations

from typing import Any

import numpy as np
import pyqtgraph as pg
from workbench.gui.viewdata import ViewData
from workbench.gui.views.base import (VERDICT_COLORS, SampleView, eps_symbol, legend_below, register_view,
                                      style_plot, swatch, verdict_html)

BAR = (120, 144, 170)       # an ordinary class's interval
TRUE_BAR = (255, 127, 14)   # the true class stands out
UNDECIDED = (255, 187, 120)


def _ticks(plot: pg.PlotItem, names: list[str]) -> None:
    plot.getAxis("bottom").setTicks([[(k, n) for k, n in enumerate(names)]])
    plot.setXRange(-0.7, len(names) - 0.3, padding=0)


def _clean_marks(plot: pg.PlotItem, values: np.ndarray) -> pg.PlotDataItem:
    """A short black line across each bar at the clean value (pairs of points, one per class)."""
    x = np.repeat(np.arange(len(values)), 2) + np.tile([-0.38, 0.38], len(values))
    return plot.plot(x, np.repeat(values, 2), connect="pairs", pen=pg.mkPen("k", width=3))


@register_view
class OutputBoundsView(SampleView):
    name = "output_bounds"
    title = "Output bounds"

    @classmethod
    def unavailable(cls, data: ViewData) -> str | None:
        if data.record.status != "done":
            return "the run has no result"
        return None if data.samples else "the run certified no samples"

    @classmethod
    def report_states(cls, data: ViewData) -> list[dict[str, Any]]:
        """The first verified sample and the first one that is not (when there are both)."""
        rows = []
        for wanted in (lambda s: s == "verified", lambda s: s != "verified"):
            row = next((i for i, s in enumerate(data.samples) if wanted(s.get("status"))), None)
            if row is not None:
                rows.append(row)
        return [{"sample": r} for r in rows] or [{}]

    def caption(self) -> str:
        data = self._data
        if data is None or not data.samples:
            return self.title
        s = data.samples[self.sample.value()]
        what = ("the raw output interval of every class over the input set (clean output as a black "
                "line, true class in orange) and " if data.out_lower is not None else "")
        return (f"Output bounds of sample {s.get('index')} (row {self.sample.value()}, "
                f"{s.get('status')}): {what}the certified margins, proved where the lower bound is above 0.")


    def _draw_sample(self, data: ViewData, row: int) -> None:
        s = data.samples[row]
        label, pred = s.get("label"), s.get("prediction")
        status = str(s.get("status", "unknown"))
        bits = [f"index {s.get('index')}"]
        if label is not None:
            bits.append(f"true class <b>{data.class_name(label)}</b>")
        if pred is not None:
            bits.append(f"prediction {data.class_name(pred)}")
        if s.get("radius") is not None:
            bits.append(f"certified radius {s['radius']:.4g}")
        if data.eps is not None:
            bits.append(f"{eps_symbol(data.norm)} = {data.eps:g}")
        self.info.setText(" · ".join(bits) + " · " + verdict_html(status))
        eps = data.eps
        ball = f"{eps_symbol(data.norm)} = {eps:g}" if eps is not None else "the input set"
        col = 0
        if data.out_lower is not None and data.out_upper is not None:
            self._outputs(data, row, label, ball)
            col = 1
        if data.spec_kind != "outputs":
            self._margins(data, s, label, status, ball, col)

    def _outputs(self, data: ViewData, row: int, label: int | None, ball: str) -> None:
        lo, up = np.asarray(data.out_lower[row], float), np.asarray(data.out_upper[row], float)
        n = len(lo)
        names = [data.class_name(k) for k in range(n)]
        plot = self.canvas.addPlot(row=0, col=0)
        brushes = [pg.mkBrush(*(TRUE_BAR if k == label else BAR), 200) for k in range(n)]
        plot.addItem(pg.BarGraphItem(x=np.arange(n), y0=lo, y1=up, width=0.6, brushes=brushes,
                                     pen=pg.mkPen("k", width=1)))
        entries = [(swatch(brush=BAR), f"bounds over {ball}")]
        if label is not None:
            entries.append((swatch(brush=TRUE_BAR), "true class"))
        if data.clean is not None:
            entries.append((_clean_marks(plot, np.asarray(data.clean[row], float)), "clean output"))
        legend_below(self.canvas, 1, 0, entries)
        _ticks(plot, names)
        how = data.bound_method.upper() if data.bound_method else ""
        style_plot(plot, f"Outputs per class ({how} bounds)", "class", "output (logit)")

    def _margins(self, data: ViewData, s: dict, label: int | None, status: str, ball: str,
                 col: int) -> None:
        lo, up = np.asarray(s.get("lower") or [], float), np.asarray(s.get("upper") or [], float)
        plot = self.canvas.addPlot(row=0, col=col)
        if lo.size == 0:
            style_plot(plot, "no bounds stored", "", "")
            return
        n = len(lo)
        if data.spec_kind == "vnnlib":
            names, ylabel, title = [f"row {k}" for k in range(n)], "C·y + d", "Property rows"
            clean = None
        else:
            others = [k for k in range(n + 1) if k != label] if label is not None else list(range(n))
            names = [data.class_name(k) for k in others]
            true = data.class_name(label)
            ylabel, title = f"margin y[{true}] − y[j]", "Certified margins"
            clean = None
            if data.clean is not None and label is not None and len(others) == n:
                row = data.samples.index(s)
                c = np.asarray(data.clean[row], float)
                clean = c[label] - c[others]
        colors = [VERDICT_COLORS["verified"] if a > 0 else VERDICT_COLORS["falsified"] if b < 0
                  else UNDECIDED for a, b in zip(lo, up)]
        plot.addItem(pg.BarGraphItem(x=np.arange(n), y0=lo, y1=up, width=0.6,
                                     brushes=[pg.mkBrush(*c, 200) for c in colors],
                                     pen=pg.mkPen("k", width=1)))
        plot.addItem(pg.InfiniteLine(0, angle=0, pen=pg.mkPen((80, 80, 80), width=1.5,
                                                               style=pg.QtCore.Qt.PenStyle.DashLine)))
        entries = [(swatch(brush=VERDICT_COLORS["verified"]), "lower bound > 0: proved"),
                   (swatch(brush=UNDECIDED), "interval contains 0"),
                   (swatch(brush=VERDICT_COLORS["falsified"]), "upper bound < 0: violated")]
        if clean is not None:
            entries.append((_clean_marks(plot, clean), "clean margin"))
        legend_below(self.canvas, 1, col, entries)
        _ticks(plot, names)
        # short titles: a pyqtgraph title never shrinks below its text, and would push the
        # plot out of the view; the ball is named in the left legend and the info line
        style_plot(plot, f"{title}: {verdict_html(status)}",
                   "other class j" if data.spec_kind != "vnnlib" else "property row", ylabel)
