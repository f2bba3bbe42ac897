"""A parameter form generated from a method's parameter dataclass (``registry.param_specs``).

Widgets follow the field types: a check box for bools, a combo box for choices, a spin box for
ints, a line edit for floats and text (a float spin box would round 1e-4 to its decimals). Every
widget carries the help, unit, range and default as a tooltip. Validation is the registry's own
``params_from_dict`` (the CLI uses it too), run on every edit, so the field in error is marked
before the user presses Run.
"""
from __future__ import annotations

import types
import typing
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (QCheckBox, QComboBox, QFormLayout, QLabel, QLineEdit, QSpinBox,
                               QWidget)

from workbench.jobs.registry import ParamError, ParamSpec, param_specs, params_from_dict

INT_LIMIT = 2**31 - 1
ERROR_STYLE = "background: #fde2e1;"


def tooltip(spec: ParamSpec) -> str:
    bits = [spec.help.rstrip(".") + "."] if spec.help else []
    if spec.unit:
        bits.append(f"Unit: {spec.unit}.")
    if spec.min is not None or spec.max is not None:
        lo = "" if spec.min is None else f"{spec.min:g} ≤ "
        hi = "" if spec.max is None else f" ≤ {spec.max:g}"
        bits.append(f"Range: {lo}{spec.name}{hi}.")
    if spec.choices:
        bits.append("One of: " + ", ".join(map(str, spec.choices)) + ".")
    if not spec.required:
        bits.append(f"Default: {spec.default}.")
    return " ".join(bits)


def _base_type(spec: ParamSpec) -> Any:
    """``int`` for ``int | None`` (an optional int is still edited as an int)."""
    if typing.get_origin(spec.type) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(spec.type) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return spec.type


class ParamForm(QWidget):
    """The form; ``values()`` gives raw values, ``params()`` the validated dataclass."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._layout = QFormLayout(self)
        self._layout.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self._cls: type | None = None
        self._specs: list[ParamSpec] = []
        self.widgets: dict[str, QWidget] = {}
        self.error = ""

    def set_params_class(self, cls: type) -> None:
        while self._layout.rowCount():
            self._layout.removeRow(0)
        self.widgets = {}
        self._cls = cls
        self._specs = param_specs(cls)
        for spec in self._specs:
            widget = self._widget_for(spec)
            widget.setObjectName(f"param_{spec.name}")
            widget.setToolTip(tooltip(spec))
            label = QLabel(spec.name.replace("_", " ") + (f" [{spec.unit}]" if spec.unit else ""))
            label.setToolTip(tooltip(spec))
            self._layout.addRow(label, widget)
            self.widgets[spec.name] = widget
        self.validate()

    def _widget_for(self, spec: ParamSpec) -> QWidget:
        default = None if spec.required else spec.default
        base = _base_type(spec)
        if spec.choices:
            w = QComboBox()
            for choice in spec.choices:
                w.addItem(str(choice), choice)
            if default is not None:
                w.setCurrentIndex(max(0, w.findData(default)))
            w.currentIndexChanged.connect(self._edited)
        elif base is bool:
            w = QCheckBox()
            w.setChecked(bool(default))
            w.toggled.connect(self._edited)
        elif base is int:
            w = QSpinBox()
            # a QSpinBox holds 32-bit ints: a wider declared range (n up to 1e10 draws) is clamped
            w.setRange(max(-INT_LIMIT, int(spec.min)) if spec.min is not None else -INT_LIMIT,
                       min(INT_LIMIT, int(spec.max)) if spec.max is not None else INT_LIMIT)
            w.setSpecialValueText(spec.min_label)
            w.setValue(int(default or 0))
            w.valueChanged.connect(self._edited)
        else:
            w = QLineEdit()
            if isinstance(default, (list, tuple)):
                w.setText(",".join(map(str, default)))
            elif default is not None:
                w.setText(str(default))
            if spec.required:
                w.setPlaceholderText("required")
            w.textChanged.connect(self._edited)
        return w

    def _edited(self, *args: Any) -> None:
        self.validate()
        self.changed.emit()

    @staticmethod
    def _value(widget: QWidget) -> Any:
        if isinstance(widget, QComboBox):
            return widget.currentData()
        if isinstance(widget, QCheckBox):
            return widget.isChecked()
        if isinstance(widget, QSpinBox):
            return widget.value()
        return widget.text()  # type: ignore[attr-defined]

    def values(self) -> dict[str, Any]:
        """Raw values (text for floats); empty optional text fields are left out (defaults)."""
        out = {}
        for spec in self._specs:
            value = self._value(self.widgets[spec.name])
            if isinstance(value, str) and not value.strip() and not spec.required:
                continue
            out[spec.name] = value
        return out

    def set_values(self, values: dict[str, Any]) -> None:
        """Fill the form (re-running a stored run); unknown names are ignored."""
        for name, value in values.items():
            w = self.widgets.get(name)
            if isinstance(w, QComboBox):
                w.setCurrentIndex(max(0, next((i for i in range(w.count()) if str(w.itemData(i)) == str(value)), 0)))
            elif isinstance(w, QCheckBox):
                w.setChecked(bool(value))
            elif isinstance(w, QSpinBox):
                w.setValue(int(value))
            elif isinstance(w, QLineEdit):
                w.setText(",".join(map(str, value)) if isinstance(value, (list, tuple)) else
                          "" if value is None else str(value))
        self.validate()

    def params(self) -> Any:
        """The validated parameters dataclass; raises ``ParamError`` naming the field."""
        assert self._cls is not None
        return params_from_dict(self._cls, self.values())

    def validate(self) -> str:
        """Check the whole form; mark the field in error; returns the message ('' when valid)."""
        for w in self.widgets.values():
            w.setStyleSheet("")
        self.error = ""
        if self._cls is None:
            return ""
        try:
            self.params()
        except ParamError as err:
            self.error = str(err)
            w = self.widgets.get(err.param)
            if w is not None:
                w.setStyleSheet(ERROR_STYLE)
        except (ValueError, TypeError) as err:
            self.error = str(err).splitlines()[0] if str(err) else type(err).__name__
        return self.error
