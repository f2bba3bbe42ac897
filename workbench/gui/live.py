"""Live convergence points of running PINN runs (Qt-free).

A ∂-CROWN job reports ``progress(fraction, message, detail)`` with ``detail = {"kind": "pinn",
"part", "time_s", "bound", "empirical_max", "boxes"}`` as its global bounds tighten. The main
window feeds every such detail in here, keyed by run id, and the live convergence plot reads the
points back in the same [H, 4] layout as a finished run's stored ``history`` array, so one view
draws both. Reports may be dropped by the runner's throttle: the live plot is a preview, and the
stored history replaces it when the run is done.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from workbench.gui.pinndata import PARTS, Series, convergence_series


class LiveRuns:
    def __init__(self) -> None:
        self._rows: dict[str, list[tuple[float, float, float, float]]] = {}
        self._empirical: dict[str, dict[str, float]] = {}

    def add(self, run_id: str, detail: Any) -> bool:
        """Record one detail; False (and nothing stored) unless it is a well-formed PINN point."""
        if not isinstance(detail, dict) or detail.get("kind") != "pinn" or detail.get("part") not in PARTS:
            return False
        try:
            time_s, bound = float(detail["time_s"]), float(detail["bound"])
            boxes = float(detail.get("boxes") or 0)
        except (KeyError, TypeError, ValueError):
            return False
        if math.isnan(time_s) or math.isnan(bound):
            return False
        self._rows.setdefault(run_id, []).append((float(PARTS.index(detail["part"])), time_s, bound, boxes))
        emp = detail.get("empirical_max")
        if isinstance(emp, (int, float)) and math.isfinite(emp):
            self._empirical.setdefault(run_id, {})[detail["part"]] = float(emp)
        return True

    def __contains__(self, run_id: object) -> bool:
        return run_id in self._rows

    def count(self, run_id: str) -> int:
        return len(self._rows.get(run_id, ()))

    def history(self, run_id: str) -> np.ndarray:
        """[H, 4] rows (part index, time_s, global bound, boxes), in arrival order."""
        return np.asarray(self._rows.get(run_id, []), dtype=float).reshape(-1, 4)

    def empirical(self, run_id: str) -> dict[str, float]:
        return dict(self._empirical.get(run_id, {}))

    def series(self, run_id: str) -> dict[str, Series]:
        return convergence_series(self.history(run_id), self.empirical(run_id))

    def forget(self, run_id: str) -> None:
        self._rows.pop(run_id, None)
        self._empirical.pop(run_id, None)
