"""*Export report…*: load the runs in a worker, render the figures in the GUI thread (views are
widgets), write the PDF in a worker (QTextDocument and QPdfWriter may run there)."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtWidgets import QFileDialog

from workbench.gui import settings
from workbench.gui.viewdata import ViewData, load_view_data

if TYPE_CHECKING:
    from workbench.gui.main_window import MainWindow


def ask_path(window: "MainWindow", first_id: str) -> str | None:
    suggestion = str(Path(settings.last_folder("report")) / f"report-{first_id}.pdf")
    path, _ = QFileDialog.getSaveFileName(window, "Export report", suggestion, "PDF (*.pdf)")
    if not path:
        return None
    if not path.lower().endswith(".pdf"):
        path += ".pdf"
    settings.remember_folder("report", path)
    return path


def export_report(window: "MainWindow", ids: list[str], path: str | None = None) -> None:
    """Write one PDF for the finished runs among ``ids``; ``window.report_written`` follows."""
    from workbench.report.content import build_report
    from workbench.report.figures import render_figures
    from workbench.report.pdf import render_pdf

    store = window.store
    ids = [i for i in ids if store.get(i).status == "done"]
    if not ids:
        window.problem("select one or more finished runs to export a report")
        return
    target = path or ask_path(window, ids[0])
    if not target:
        return

    def failed(err: object) -> None:
        window.problem(err, title="The report could not be written")  # type: ignore[arg-type]

    def assemble(datas: list[ViewData]) -> None:  # GUI thread: the views render the figures
        try:
            report = build_report([(d, render_figures(d)) for d in datas])
        except Exception as err:  # noqa: BLE001 - reported like a worker error, never a crash
            from workbench.gui.runner import JobError

            failed(JobError.from_exception("report", err))
            return
        window.runner.submit(lambda p, c: render_pdf(report, target),
                             on_result=lambda out: window.report_done(str(out)), on_error=failed)

    window.statusBar().showMessage(f"Writing the report of {len(ids)} run(s)…")
    window.runner.submit(lambda p, c: [load_view_data(store, i, cancelled=c) for i in ids],
                         on_result=assemble, on_error=failed)
