"""``workbench`` without arguments: the desktop window.

``main(argv)`` is the entry point the CLI calls; ``create_window`` builds the window on an
existing QApplication (tests and the screenshot script use it).
"""
from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path
from typing import Sequence

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from workbench.allocator import keep_freed_memory
from workbench.gui import settings
from workbench.gui.dialogs import load_bundled_font
from workbench.gui.main_window import MainWindow
from workbench.jobs.store import RunStore


def application(argv: Sequence[str] = ()) -> QApplication:
    """The QApplication (created once), named for QSettings, with the bundled font registered."""
    app = QApplication.instance()
    if app is None:
        app = QApplication([sys.argv[0] if sys.argv else "workbench", *argv])
    settings.configure()
    load_bundled_font()
    return app  # type: ignore[return-value]


def create_window(workspace: str | Path | None = None) -> MainWindow:
    from workbench.jobs.environment import default_workspace

    application()
    store = RunStore(Path(workspace) if workspace else default_workspace())
    return MainWindow(store)


def main(argv: Sequence[str] | None = None) -> int:
    """Open the window; returns the exit code. ``--workspace DIR`` picks the run store."""
    parser = argparse.ArgumentParser(prog="workbench", description="Certification workbench window")
    parser.add_argument("--workspace", metavar="DIR", help="run store folder")
    args, qt_args = parser.parse_known_args(list(sys.argv[1:] if argv is None else argv))
    keep_freed_memory()
    app = application(qt_args)
    window = create_window(args.workspace)
    window.show()
    # Ctrl-C in the terminal closes the window cleanly (Python only sees signals between events,
    # so a timer wakes the interpreter a few times a second).
    signal.signal(signal.SIGINT, lambda *_: window.close())
    timer = QTimer()
    timer.timeout.connect(lambda: None)
    timer.start(250)
    code = app.exec()
    window.runner.shutdown()
    window.store.close()
    window.deleteLater()
    return int(code)
