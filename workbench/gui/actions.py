"""The window's menus and shortcuts (the ones users expect: Open, Run, Cancel, Export, Quit)."""
from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QApplication

if TYPE_CHECKING:
    from workbench.gui.main_window import MainWindow


def build_actions(w: "MainWindow") -> dict[str, QAction]:
    """Create the actions and menus of ``w``; returns the actions by name (tests trigger them)."""
    def action(name: str, text: str, slot: object, shortcuts: tuple = (), tip: str = "") -> QAction:
        a = QAction(text, w)
        a.setObjectName(f"action_{name}")
        if shortcuts:
            a.setShortcuts([QKeySequence(s) for s in shortcuts])
        if tip:
            a.setStatusTip(tip)
        a.triggered.connect(lambda checked=False: slot())  # type: ignore[operator]
        acts[name] = a
        return a

    acts: dict[str, QAction] = {}
    menu = w.menuBar().addMenu("&File")
    menu.addAction(action("open", "&Open network…", w.open_model, (QKeySequence.StandardKey.Open,),
                          "load an ONNX, torch.export, TorchScript or state-dict network"))
    menu.addAction(action("open_data", "Open &dataset…", lambda: w.open_data("dataset"), ("Ctrl+Shift+O",)))
    menu.addAction(action("open_vnnlib", "Open &VNN-LIB property…", lambda: w.open_data("vnnlib")))
    menu.addAction(action("open_input", "Open &input (.npy)…", lambda: w.open_data("input")))
    menu.addSeparator()
    menu.addAction(action("export", "&Export report…", w.export_report, ("Ctrl+E",),
                          "write a PDF report of the selected runs"))
    menu.addSeparator()
    menu.addAction(action("quit", "&Quit", w.close, (QKeySequence.StandardKey.Quit, "Ctrl+Q")))

    menu = w.menuBar().addMenu("&Run")
    menu.addAction(action("run", "&Run", w.start_run, ("Ctrl+R", "F5"),
                          "certify the chosen samples in the background"))
    menu.addAction(action("cancel", "&Cancel", w.cancel_run, ("Esc",),
                          "stop the selected (or latest) run at its next check"))
    menu.addSeparator()
    menu.addAction(action("rerun", "Re-run selected", lambda: [w.rerun(i) for i in w.runs.selected_ids()[:1]]))
    delete = action("delete", "Delete selected runs", lambda: w.delete_runs(w.runs.selected_ids()),
                    (QKeySequence.StandardKey.Delete,))
    # Del deletes runs only while the runs table has the focus, never while editing a field
    delete.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
    w.runs.table.addAction(delete)
    menu.addAction(delete)
    menu.addAction(action("refresh", "Refresh run list", w.runs.refresh, ("Ctrl+Shift+R",),
                          "re-read the run store (runs made from the command line appear)"))

    menu = w.menuBar().addMenu("&View")
    for dock in w.docks.values():
        menu.addAction(dock.toggleViewAction())

    menu = w.menuBar().addMenu("&Help")
    menu.addAction(action("about", "&About", w.about))
    menu.addAction(action("about_qt", "About &Qt", QApplication.aboutQt))
    return acts
