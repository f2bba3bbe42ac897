"""The Runs panel: the table of every stored run, a filter, and Re-run / Delete / Export."""
from __future__ import annotations

from PySide6.QtCore import QItemSelectionModel, Qt, QTimer, Signal
from PySide6.QtWidgets import (QAbstractItemView, QComboBox, QHBoxLayout, QHeaderView, QLineEdit,
                               QPushButton, QTableView, QVBoxLayout, QWidget)

from workbench.gui.runs_model import (COL, ID_ROLE, ProgressDelegate, RunsFilterModel,
                                      RunsTableModel)
from workbench.jobs.store import STATUSES, RunStore


class RunsPanel(QWidget):
    selection_changed = Signal(list)   # selected run ids, newest first
    rerun_requested = Signal(str)
    delete_requested = Signal(list)
    export_requested = Signal(list)

    def __init__(self, store: RunStore, parent: QWidget | None = None):
        super().__init__(parent)
        self.model = RunsTableModel(store, self)
        self.proxy = RunsFilterModel(self)
        self.proxy.setSourceModel(self.model)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        bar = QHBoxLayout()
        self.filter = QLineEdit()
        self.filter.setPlaceholderText("Filter runs (id, title, data, status, result)…")
        self.filter.setClearButtonEnabled(True)
        self.filter.textChanged.connect(self.proxy.set_text)
        bar.addWidget(self.filter, 1)
        self.status = QComboBox()
        self.status.addItem("all statuses", "")
        for s in STATUSES:
            self.status.addItem(s, s)
        self.status.currentIndexChanged.connect(lambda _: self.proxy.set_status(self.status.currentData()))
        bar.addWidget(self.status)
        self.rerun_button = QPushButton("Re-run")
        self.rerun_button.setToolTip("run the selected run's spec again (a new run)")
        self.delete_button = QPushButton("Delete")
        self.delete_button.setToolTip("delete the selected runs and their result files")
        self.export_button = QPushButton("Export report…")
        self.export_button.setToolTip("write a PDF report of the selected runs (Ctrl+E)")
        for b in (self.rerun_button, self.delete_button, self.export_button):
            bar.addWidget(b)
        self.rerun_button.clicked.connect(lambda: self.selected_ids() and
                                          self.rerun_requested.emit(self.selected_ids()[0]))
        self.delete_button.clicked.connect(lambda: self.selected_ids() and
                                           self.delete_requested.emit(self.selected_ids()))
        self.export_button.clicked.connect(lambda: self.export_requested.emit(self.selected_ids()))
        layout.addLayout(bar)
        self.table = QTableView()
        self.table.setObjectName("runsTable")
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(COL["Created"], Qt.SortOrder.DescendingOrder)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setAlternatingRowColors(True)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 8)
        self.table.setItemDelegateForColumn(COL["Progress"], ProgressDelegate(self.table))
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(False)
        header.setSectionResizeMode(COL["Result"], QHeaderView.ResizeMode.Stretch)
        for name, width in (("Run", 175), ("Title", 230), ("Data", 120), ("Status", 80),
                            ("Progress", 150), ("Duration", 70), ("Created", 140)):
            self.table.setColumnWidth(COL[name], width)
        self.table.selectionModel().selectionChanged.connect(self._selection_changed)
        layout.addWidget(self.table, 1)
        self._timer = QTimer(self)  # running durations tick on screen without database reads
        self._timer.timeout.connect(self.model.tick)
        self._timer.start(1000)
        self._update_buttons()

    def selected_ids(self) -> list[str]:
        rows = self.table.selectionModel().selectedRows()
        return [self.proxy.data(r, ID_ROLE) for r in sorted(rows, key=lambda i: i.row())]

    def select(self, run_id: str) -> None:
        for row in range(self.proxy.rowCount()):
            index = self.proxy.index(row, 0)
            if index.data(ID_ROLE) == run_id:
                flags = (QItemSelectionModel.SelectionFlag.ClearAndSelect |
                         QItemSelectionModel.SelectionFlag.Rows)
                self.table.selectionModel().select(index, flags)
                self.table.scrollTo(index)
                return

    def refresh(self) -> None:
        """Re-read the store, keeping the selection."""
        keep = self.selected_ids()
        self.table.selectionModel().blockSignals(True)
        self.model.refresh()
        selection = self.table.selectionModel()
        for row in range(self.proxy.rowCount()):
            index = self.proxy.index(row, 0)
            if index.data(ID_ROLE) in keep:
                selection.select(index, QItemSelectionModel.SelectionFlag.Select |
                                 QItemSelectionModel.SelectionFlag.Rows)
        selection.blockSignals(False)
        if self.selected_ids() != keep:
            self._selection_changed()
        self._update_buttons()

    def _selection_changed(self, *_: object) -> None:
        self._update_buttons()
        self.selection_changed.emit(self.selected_ids())

    def _update_buttons(self) -> None:
        ids = self.selected_ids()
        self.rerun_button.setEnabled(len(ids) == 1)
        self.delete_button.setEnabled(bool(ids))
        self.export_button.setEnabled(bool(ids))
