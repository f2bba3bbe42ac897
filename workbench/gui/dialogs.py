"""The error message box (details on demand), the About box, and the bundled font."""
from __future__ import annotations

import platform
from importlib import metadata
from pathlib import Path

from PySide6 import __version__ as pyside_version
from PySide6.QtCore import Qt, qVersion
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import QMessageBox, QWidget

from workbench.gui.runner import JobError

RESOURCES = Path(__file__).resolve().parents[2] / "resources"
FONT_FILES = ("fonts/DejaVuSans.ttf", "fonts/DejaVuSans-Bold.ttf")
_font_family: str | None = None


def load_bundled_font() -> str:
    """Register DejaVu Sans (it has ε, ∞, → and friends on every platform); returns its family,
    or the default family when the font files are missing."""
    global _font_family
    if _font_family is None:
        families = []
        for name in FONT_FILES:
            path = RESOURCES / name
            if path.is_file():
                font_id = QFontDatabase.addApplicationFont(str(path))
                families += QFontDatabase.applicationFontFamilies(font_id) if font_id >= 0 else []
        _font_family = families[0] if families else QFontDatabase.systemFont(
            QFontDatabase.SystemFont.GeneralFont).family()
    return _font_family


def show_error(parent: QWidget | None, title: str, error: JobError | str) -> QMessageBox:
    """A non-modal message box: one plain line, the traceback behind "Show Details...".

    Non-modal on purpose: a run failing in the background must not block the window (or a test).
    """
    box = QMessageBox(parent)
    box.setIcon(QMessageBox.Icon.Warning)
    box.setWindowTitle(title)
    box.setTextFormat(Qt.TextFormat.PlainText)
    if isinstance(error, JobError):
        box.setText(error.message)
        box.setDetailedText(error.details)
    else:
        box.setText(str(error))
    box.setObjectName("errorBox")
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, True)
    box.setModal(False)
    box.show()
    return box


def versions() -> dict[str, str]:
    def v(dist: str) -> str:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return "-"

    import torch

    return {"workbench": v("certification-workbench"), "Python": platform.python_version(),
            "torch": torch.__version__, "PySide6": pyside_version, "Qt": qVersion(),
            "pyqtgraph": v("pyqtgraph"), "numpy": v("numpy")}


def device_text() -> str:
    import torch

    if torch.cuda.is_available():
        return f"CUDA: {torch.cuda.get_device_name(0)} (CUDA {torch.version.cuda})"
    return f"CPU only ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


def about_text() -> str:
    rows = "".join(f"<tr><td>{k}</td><td>&nbsp;{val}</td></tr>" for k, val in versions().items())
    return (f"<h3>Certification workbench</h3><p>Sound bounds, verdicts and reports for neural "
            f"networks: IBP, CROWN and α-CROWN with PGD falsification.</p>"
            f"<table>{rows}</table><p>Device: {device_text()}</p>")


def show_about(parent: QWidget | None) -> QMessageBox:
    box = QMessageBox(parent)
    box.setWindowTitle("About the certification workbench")
    box.setTextFormat(Qt.TextFormat.RichText)
    box.setText(about_text())
    box.setObjectName("aboutBox")
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, True)
    box.setModal(False)
    box.show()
    return box
