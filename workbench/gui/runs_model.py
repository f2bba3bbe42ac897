"""The runs table: a ``QAbstractTableModel`` over the SQLite run store, a filter proxy and a
progress-bar delegate.

The store is the truth (runs made by the CLI show up too, and everything survives a restart);
live progress of this window's own runs is kept as an overlay so a progress tick repaints one
cell instead of re-querying the database.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import (QAbstractTableModel, QModelIndex, QPersistentModelIndex,
                            QSortFilterProxyModel, Qt)
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (QApplication, QStyle, QStyledItemDelegate, QStyleOptionProgressBar,
                               QStyleOptionViewItem)

from workbench.gui.pinndata import fmt
from workbench.jobs.progressbar import format_duration, format_time
from workbench.jobs.store import RunRecord, RunStore

COLUMNS = ("Run", "Title", "Data", "Status", "Progress", "Duration", "Result", "Created")
COL = {name: i for i, name in enumerate(COLUMNS)}
SORT_ROLE = Qt.ItemDataRole.UserRole
ID_ROLE = Qt.ItemDataRole.UserRole + 1
STATUS_COLORS = {"done": "#2c7a2c", "failed": "#b00020", "cancelled": "#8a6d00",
                 "interrupted": "#8a6d00", "running": "#1f5fb4", "queued": "#555555"}
Index = QModelIndex | QPersistentModelIndex


def data_text(spec: dict) -> str:
    data = spec.get("data") or {}
    if data.get("pde"):
        return f"PDE {data['pde']}"
    for key in ("dataset", "input", "vnnlib"):
        if data.get(key):
            name = data[key] if key == "dataset" and "/" not in data[key] else Path(data[key]).name
            return name + (f" [{data['samples']}]" if data.get("samples") else "")
    return "-"


def headline(summary: dict) -> str:
    """The run's numbers in a few words (bounds runs: verified share, falsified, radius)."""
    if "samples" in summary and "verified" in summary:
        n = summary["samples"]
        text = f"{summary['verified']}/{n} verified ({summary.get('verified_fraction', 0):.0%})"
        if summary.get("falsified"):
            text += f", {summary['falsified']} falsified"
        if summary.get("mean_radius") is not None:
            text += f", mean radius {summary['mean_radius']:.3g}"
        return text
    if "residual_bound" in summary:  # a PINN run: the certified bound of each part
        return " · ".join(f"{label} ≤ {fmt(summary.get(part + '_bound'))}" for part, label in
                          (("residual", "|f|"), ("initial", "IC"), ("boundary", "BC")))
    items = [(k, v) for k, v in summary.items() if isinstance(v, (int, float, str))][:3]
    return ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in items)


class RunsTableModel(QAbstractTableModel):
    def __init__(self, store: RunStore, parent: Any = None):
        super().__init__(parent)
        self.store = store
        self._rows: list[RunRecord] = []
        self._live: dict[str, tuple[float, str]] = {}  # run id -> (progress, message)
        self.refresh()

    # ------------------------------------------------------------ updates
    def refresh(self) -> None:
        """Re-read the store (after a run starts, ends or is deleted)."""
        self.beginResetModel()
        self._rows = self.store.list()
        self.endResetModel()

    def set_progress(self, run_id: str, fraction: float, message: str) -> None:
        self._live[run_id] = (fraction, message)
        row = self.row_of(run_id)
        if row is not None:
            if self._rows[row].status == "queued":
                self._rows[row].status = "running"
                self._rows[row].started = self._rows[row].started or time.time()
            self.dataChanged.emit(self.index(row, COL["Status"]), self.index(row, COL["Duration"]))

    def forget_live(self, run_id: str) -> None:
        self._live.pop(run_id, None)

    def tick(self) -> None:
        """Repaint the durations of running runs (called once a second)."""
        for row, r in enumerate(self._rows):
            if r.status == "running":
                index = self.index(row, COL["Duration"])
                self.dataChanged.emit(index, index)

    def row_of(self, run_id: str) -> int | None:
        return next((i for i, r in enumerate(self._rows) if r.id == run_id), None)

    def record(self, row: int) -> RunRecord:
        return self._rows[row]

    def records(self) -> list[RunRecord]:
        return list(self._rows)

    # ------------------------------------------------------------ Qt model API
    def rowCount(self, parent: Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        return None

    def _progress(self, r: RunRecord) -> tuple[float, str]:
        if r.status == "done":
            return 1.0, ""
        return self._live.get(r.id, (r.progress, r.message))

    def _duration(self, r: RunRecord) -> float | None:
        if r.status == "running" and r.started:
            return time.time() - r.started
        return r.duration

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        r, col = self._rows[index.row()], COLUMNS[index.column()]
        if role == ID_ROLE:
            return r.id
        if role in (Qt.ItemDataRole.DisplayRole, SORT_ROLE):
            sort = role == SORT_ROLE
            if col == "Run":
                return r.id
            if col == "Title":
                return r.title
            if col == "Data":
                return data_text(r.spec)
            if col == "Status":
                return r.status
            if col == "Progress":
                fraction, message = self._progress(r)
                return fraction if sort else f"{fraction:.0%}"   # the message is the tooltip: bars are narrow
            if col == "Duration":
                d = self._duration(r)
                return (d if d is not None else -1.0) if sort else format_duration(d)
            if col == "Result":
                return (r.summary.get("verified_fraction", -1.0) if sort else
                        headline(r.summary) if r.status == "done" else r.message)
            if col == "Created":
                return r.created if sort else format_time(r.created)
        if role == Qt.ItemDataRole.ForegroundRole and col == "Status":
            return QBrush(QColor(STATUS_COLORS.get(r.status, "#000000")))
        if role == Qt.ItemDataRole.ToolTipRole:
            if col == "Progress":
                fraction, message = self._progress(r)
                return f"{fraction:.0%} {message}".strip()
            if r.status == "failed" and r.message:
                return f"{r.message}\n(select the run for the full traceback)"
            return r.command or r.title
        return None


class RunsFilterModel(QSortFilterProxyModel):
    """Free-text filter over id, title, data, status and result, plus a status filter."""

    def __init__(self, parent: Any = None):
        super().__init__(parent)
        self.setSortRole(SORT_ROLE)
        self.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self._status = ""
        self._text = ""

    def _refilter(self, change: object) -> None:
        # Qt 6.9 replaced invalidateFilter() (now deprecated) by begin/endFilterChange().
        if hasattr(self, "beginFilterChange"):
            self.beginFilterChange()
            change()  # type: ignore[operator]
            self.endFilterChange()
        else:
            change()  # type: ignore[operator]
            self.invalidateFilter()

    def set_text(self, text: str) -> None:
        self._refilter(lambda: setattr(self, "_text", text.strip().lower()))

    def set_status(self, status: str) -> None:
        self._refilter(lambda: setattr(self, "_status", status))

    def filterAcceptsRow(self, row: int, parent: Index) -> bool:
        model = self.sourceModel()
        if self._status and model.index(row, COL["Status"], parent).data() != self._status:
            return False
        if not self._text:
            return True
        cells = (model.index(row, c, parent).data() or "" for c in range(len(COLUMNS)))
        return any(self._text in str(c).lower() for c in cells)


class ProgressDelegate(QStyledItemDelegate):
    """Draws the Progress column as a progress bar with the job's message."""

    def paint(self, painter: Any, option: QStyleOptionViewItem, index: Index) -> None:
        fraction = index.data(SORT_ROLE)
        if not isinstance(fraction, float):
            return super().paint(painter, option, index)
        style = QApplication.style()
        cell = QStyleOptionViewItem(option)  # the cell's own background (selection included)
        self.initStyleOption(cell, index)
        cell.text = ""
        style.drawControl(QStyle.ControlElement.CE_ItemViewItem, cell, painter, cell.widget)
        bar = QStyleOptionProgressBar()
        bar.rect = option.rect.adjusted(3, 3, -3, -3)
        bar.minimum, bar.maximum = 0, 1000
        bar.progress = int(round(fraction * 1000))
        bar.text = str(index.data())
        bar.textVisible = True
        # not the row's selected state: a selected bar would be drawn in the selection colour
        bar.state = QStyle.StateFlag.State_Enabled | QStyle.StateFlag.State_Horizontal
        bar.palette = QApplication.palette()
        style.drawControl(QStyle.ControlElement.CE_ProgressBar, bar, painter)
