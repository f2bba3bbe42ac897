"""The Method panel: a method from the registry, its generated parameter form, Run and Cancel."""
from __future__ import annotations

from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (QComboBox, QHBoxLayout, QLabel, QPushButton, QScrollArea,
                               QVBoxLayout, QWidget)

from workbench.gui.param_form import ParamForm
from workbench.jobs import registry


class MethodPanel(QWidget):
    changed = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        self.method = QComboBox()
        self.method.setObjectName("methodCombo")
        self.method.currentIndexChanged.connect(self._method_changed)
        layout.addWidget(self.method)
        self.description = QLabel()
        self.description.setWordWrap(True)
        self.description.setStyleSheet("color: #444;")
        layout.addWidget(self.description)
        self.form = ParamForm()
        self.form.changed.connect(self._form_changed)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.form)
        layout.addWidget(scroll, 1)
        self.error = QLabel()
        self.error.setWordWrap(True)
        self.error.setStyleSheet("color: #b00020;")
        layout.addWidget(self.error)
        buttons = QHBoxLayout()
        self.run_button = QPushButton("Run")
        self.run_button.setObjectName("runButton")
        self.run_button.setToolTip("certify the chosen samples (Ctrl+R, F5)")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setObjectName("cancelButton")
        self.cancel_button.setToolTip("stop the selected or latest run at its next check (Esc)")
        self.cancel_button.setEnabled(False)
        buttons.addWidget(self.run_button, 1)
        buttons.addWidget(self.cancel_button)
        layout.addLayout(buttons)
        self.refresh_methods()

    def refresh_methods(self) -> None:
        """Re-read the registry (a family registered later, or a test's own method)."""
        current = self.method.currentData()
        self.method.blockSignals(True)
        self.method.clear()
        for m in registry.list_methods():
            self.method.addItem(f"{m.title}  ({m.family})", m.name)
        index = self.method.findData(current) if current else self.method.findData("crown")
        self.method.setCurrentIndex(max(0, index))
        self.method.blockSignals(False)
        self._method_changed()

    @property
    def method_name(self) -> str:
        return str(self.method.currentData() or "")

    def set_method(self, name: str) -> None:
        index = self.method.findData(name)
        if index < 0:
            raise ValueError(f"no method {name!r} in the registry")
        self.method.setCurrentIndex(index)

    def values(self) -> dict[str, Any]:
        return self.form.values()

    def set_values(self, values: dict[str, Any]) -> None:
        self.form.set_values(values)
        self._show_error()

    def set_value(self, name: str, value: Any) -> None:
        self.set_values({name: value})

    def _method_changed(self, *_: object) -> None:
        name = self.method_name
        if not name:
            return
        m = registry.get_method(name)
        self.description.setText(m.description)
        self.form.set_params_class(m.params)
        self._disable_missing_devices()
        self._show_error()
        self.changed.emit()

    def _disable_missing_devices(self) -> None:
        """Grey out "cuda" where there is no GPU, instead of failing at Run."""
        combo = self.form.widgets.get("device")
        if not isinstance(combo, QComboBox):
            return
        import torch  # already loaded by the registry's methods

        if torch.cuda.is_available():
            return
        for i in range(combo.count()):
            if str(combo.itemData(i)).startswith("cuda"):
                item = combo.model().item(i)  # a QStandardItemModel for a plain combo box
                item.setEnabled(False)
                item.setToolTip("no CUDA GPU on this machine")

    def _form_changed(self) -> None:
        self._show_error()
        self.changed.emit()

    def _show_error(self) -> None:
        self.error.setText(self.form.error)
