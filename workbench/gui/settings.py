"""Persistent window state (geometry, dock layout, last folders) through ``QSettings``.

``WORKBENCH_SETTINGS_DIR`` redirects the settings to INI files in that folder: tests point it at
a temporary directory so they never read or overwrite a user's real settings.
"""
from __future__ import annotations

import os
from pathlib import Path

from typing import TYPE_CHECKING

from PySide6.QtCore import QByteArray, QCoreApplication, QSettings

if TYPE_CHECKING:
    from workbench.gui.main_window import MainWindow

ORGANIZATION = "certification-workbench"
APPLICATION = "workbench"
SETTINGS_ENV = "WORKBENCH_SETTINGS_DIR"


def configure() -> None:
    """Name the application (QSettings keys off these) and honour ``WORKBENCH_SETTINGS_DIR``."""
    QCoreApplication.setOrganizationName(ORGANIZATION)
    QCoreApplication.setApplicationName(APPLICATION)
    folder = os.environ.get(SETTINGS_ENV)
    if folder:
        QSettings.setDefaultFormat(QSettings.Format.IniFormat)
        QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, folder)


def settings() -> QSettings:
    return QSettings()


def last_folder(kind: str) -> str:
    """The folder the user last opened a ``kind`` file from (model, data, report...)."""
    value = settings().value(f"folders/{kind}", "")
    return str(value) if value and Path(str(value)).is_dir() else str(Path.home())


def remember_folder(kind: str, path: str | os.PathLike) -> None:
    p = Path(path)
    settings().setValue(f"folders/{kind}", str(p if p.is_dir() else p.parent))


def restore_window(window: "MainWindow") -> bool:
    """Geometry, dock layout and last method of the previous session; False on a first start."""
    s = settings()
    geometry, state = s.value("window/geometry"), s.value("window/state")
    if isinstance(state, QByteArray):
        window.restoreState(state)
    method = s.value("method/name")
    if method:
        try:
            window.method.set_method(str(method))
        except ValueError:  # a method this installation no longer has
            pass
    return isinstance(geometry, QByteArray) and window.restoreGeometry(geometry)


def save_window(window: "MainWindow") -> None:
    s = settings()
    s.setValue("window/geometry", window.saveGeometry())
    s.setValue("window/state", window.saveState())
    s.setValue("method/name", window.method.method_name)
    s.sync()
