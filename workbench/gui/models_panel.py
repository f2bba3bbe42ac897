"""The Models panel: bundled sample models plus *Open…*, and the chosen network's summary.

Loading happens in the job runner (an ONNX file can take seconds); the panel shows the layers,
shapes and parameter counts when it arrives, or the loader's one-line message in plain words.
"""
from __future__ import annotations

import html
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QAbstractItemView, QHBoxLayout, QHeaderView, QLabel, QListWidget,
                               QListWidgetItem, QPushButton, QTableWidget, QTableWidgetItem,
                               QVBoxLayout, QWidget)

from workbench.gui.modelinfo import ModelInfo, describe_model, display_name
from workbench.gui.runner import JobError, JobRunner

NETWORK_FILTER = ("Networks (*.onnx *.pt2 *.pt *.pth *.ts *.torchscript *.jit);;"
                  "ONNX (*.onnx);;torch.export (*.pt2);;TorchScript (*.ts *.torchscript *.jit *.pt);;"
                  "State dict + arch.json (*.pt *.pth);;All files (*)")
PATH_ROLE = Qt.ItemDataRole.UserRole


class ModelsPanel(QWidget):
    loaded = Signal(object)   # ModelInfo
    failed = Signal(str)      # one-line message
    changed = Signal()

    def __init__(self, runner: JobRunner, parent: QWidget | None = None):
        super().__init__(parent)
        self._runner = runner
        self.info: ModelInfo | None = None
        self._pending: str | None = None
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        self.list = QListWidget()
        self.list.setObjectName("modelList")
        self.list.currentItemChanged.connect(self._item_changed)
        layout.addWidget(self.list)
        row = QHBoxLayout()
        self.open_button = QPushButton("Open network…")
        self.open_button.setToolTip("ONNX, torch.export (.pt2), TorchScript, or a state dict with "
                                    "its <name>.arch.json beside it (Ctrl+O)")
        row.addWidget(self.open_button)
        row.addStretch(1)
        layout.addLayout(row)
        self.summary = QLabel("No network loaded.")
        self.summary.setWordWrap(True)
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.summary)
        self.layers = QTableWidget(0, 3)
        self.layers.setHorizontalHeaderLabels(["layer", "output shape", "parameters"])
        self.layers.verticalHeader().setVisible(False)
        self.layers.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 6)
        self.layers.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.layers.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.layers.setMinimumHeight(70)
        layout.addWidget(self.layers, 1)
        self.populate()

    @property
    def path(self) -> str:
        return self.info.path if self.info is not None else ""

    def populate(self) -> None:
        from workbench.data.samples import list_sample_models

        self.list.clear()
        for entry in list_sample_models():
            item = QListWidgetItem(entry["name"])
            item.setData(PATH_ROLE, str(entry["weights"]))
            item.setToolTip(str(entry["manifest"].get("description", "")))
            self.list.addItem(item)
        # up to seven rows when there is room, down to three (then it scrolls) when the dock is
        # short: a fixed height would make the widgets below overlap in a small dock
        row = max(self.list.sizeHintForRow(0), 16)
        frame = 2 * self.list.frameWidth() + 4
        self.list.setMinimumHeight(min(self.list.count(), 3) * row + frame)
        self.list.setMaximumHeight(min(max(self.list.count(), 3), 7) * row + frame)

    def select_sample(self, name: str) -> None:
        matches = self.list.findItems(name, Qt.MatchFlag.MatchExactly)
        if not matches:
            raise ValueError(f"no sample model {name!r}")
        self.list.setCurrentItem(matches[0])

    def _item_changed(self, item: QListWidgetItem | None, _previous: object = None) -> None:
        if item is not None:
            self.load(item.data(PATH_ROLE))

    def load(self, path: str | Path) -> None:
        """Load ``path`` in the background; ``loaded`` or ``failed`` follows."""
        path = str(path)
        self._pending = path
        self.summary.setText(f"Loading {display_name(path)}…")
        self.summary.setStyleSheet("")
        if not any(self.list.item(i).data(PATH_ROLE) == path for i in range(self.list.count())):
            item = QListWidgetItem(f"{display_name(path)}  (file)")
            item.setData(PATH_ROLE, path)
            item.setToolTip(path)
            self.list.blockSignals(True)
            self.list.addItem(item)
            self.list.setCurrentItem(item)
            self.list.blockSignals(False)
        self._runner.submit(lambda progress, cancelled: describe_model(path),
                            on_result=lambda info, p=path: self._loaded(p, info),
                            on_error=lambda err, p=path: self._failed(p, err))

    def _loaded(self, path: str, info: ModelInfo) -> None:
        if path != self._pending:  # the user picked another model meanwhile
            return
        self.info = info
        self.summary.setStyleSheet("")
        lines = [f"<b>{info.name}</b>: {info.headline()}"]
        m = info.manifest
        if m.get("kind") == "pinn":  # a PINN: its PDE, not a dataset
            pde, l2 = m.get("pde") or {}, m.get("relative_l2")
            lines.append(f"PINN for {html.escape(str(pde.get('title') or pde.get('name')))}"
                         + (f", relative L2 error {l2:.2g}" if isinstance(l2, (int, float)) else ""))
        elif m:
            acc = m.get("test_accuracy")
            data = (m.get("dataset") or {}).get("name")
            lines.append(f"trained on {data}" + (f", test accuracy {acc:.1%}" if acc is not None else ""))
        lines.append(f"<span style='color:#666'>sha256 {info.sha256[:16]}…</span>")
        self.summary.setText("<br>".join(lines))
        rows = [r for r in info.layers if r["op"] != "input"]
        self.layers.setRowCount(len(rows))
        for i, r in enumerate(rows):
            for j, text in enumerate((f"{r['name']} ({r['op']})" if r["name"] != r["op"] else r["op"],
                                      "×".join(map(str, r["shape"])), f"{r['parameters']:,}")):
                self.layers.setItem(i, j, QTableWidgetItem(text))
        self.layers.resizeColumnsToContents()
        self.layers.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.loaded.emit(info)
        self.changed.emit()

    def _failed(self, path: str, err: JobError) -> None:
        if path != self._pending:
            return
        self.info = None
        self.layers.setRowCount(0)
        self.summary.setStyleSheet("color: #b00020;")
        self.summary.setText(html.escape(f"Cannot load {display_name(path)}: {err.message}"))
        self.failed.emit(err.message)
        self.changed.emit()
