"""The Qt front end: the main window, pyqtgraph views and the background job runner.

This package and ``workbench.report`` are the only places that import Qt. The binding is pinned
here, before anything else can import qtpy-based helpers (pytest-qt, superqt), because qtpy would
otherwise default to PyQt5 when several bindings are installed.
"""
from __future__ import annotations

import os
import sys

os.environ.setdefault("QT_API", "pyside6")
os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")

import PySide6  # noqa: E402  - imported first so pyqtgraph picks this binding


def _pin_singletons() -> None:
    """Work around a PySide6 6.12 reference-count bug on Python 3.11.

    Shiboken 6.12 drops one reference to ``None``/``True``/``False`` each time C++ converts such a
    value returned by a Python override (``QAbstractItemModel.data`` returning ``None``,
    pyqtgraph's ``itemChange``...). From Python 3.12 on these objects are immortal and nothing
    happens; on 3.11 their count reaches zero after some minutes of use and the interpreter
    aborts with "deallocating None". Raising their counts by 2**40 makes them as good as
    immortal, which is exactly what Python 3.12 does. CPython keeps the count in the first word
    of every object, which is what the ctypes write relies on. PySide6 6.11 is not affected.
    """
    if sys.version_info >= (3, 12) or sys.implementation.name != "cpython":
        return
    if tuple(int(p) for p in PySide6.__version__.split(".")[:2]) < (6, 12):
        return
    import ctypes

    for obj in (None, True, False):
        ctypes.c_ssize_t.from_address(id(obj)).value += 1 << 40


_pin_singletons()
