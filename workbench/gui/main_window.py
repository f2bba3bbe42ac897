"""The main window: panels in docks, the result tabs in the middle, menus, shortcuts, status bar.

It is the glue between thin widgets: panels say what the user chose, ``launch`` turns that into a
stored run, the ``JobRunner`` executes it, and the runs table, result area and status bar follow
the job's signals. Nothing here computes; every load, run and report goes through the runner.
"""
from __future__ import annotations

import functools
from typing import Callable

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (QDockWidget, QFileDialog, QLabel, QMainWindow, QMessageBox,
                               QProgressBar, QWidget)

from workbench.gui import launch, settings
from workbench.gui.actions import build_actions
from workbench.gui.data_panel import DATA_FILTER, DataPanel
from workbench.gui.dialogs import device_text, show_about, show_error
from workbench.gui.live import LiveRuns
from workbench.gui.method_panel import MethodPanel
from workbench.gui.modelinfo import ModelInfo
from workbench.gui.models_panel import NETWORK_FILTER, ModelsPanel
from workbench.gui.result_area import ResultArea
from workbench.gui.runner import JobError, JobRunner
from workbench.gui.runs_panel import RunsPanel
from workbench.gui.pinndata import guess_pde
from workbench.gui.viewdata import ViewData, load_view_data
from workbench.jobs import registry
from workbench.jobs.store import RunStore, RunStoreError


def _ask(parent: QWidget, question: str) -> bool:
    answer = QMessageBox.question(parent, "Certification workbench", question)
    return answer == QMessageBox.StandardButton.Yes


class MainWindow(QMainWindow):
    run_finished = Signal(str, str)   # run id, final status: done / failed / cancelled
    result_shown = Signal(str)        # run id now shown in the result area
    error_reported = Signal(object)   # a JobError or a one-line message
    report_written = Signal(str)      # path of the PDF

    def __init__(self, store: RunStore, runner: JobRunner | None = None,
                 confirm: Callable[[QWidget, str], bool] = _ask):
        super().__init__()
        self.store = store
        self.runner = runner or JobRunner(self)
        self._confirm = confirm
        self.live_runs: set[str] = set()
        self._views: dict[str, ViewData] = {}
        self._shown: str | None = None
        self._seen_running: set[str] = set()   # runs whose details were refreshed once running
        self.live = LiveRuns()                 # live convergence points of running PINN runs
        self.setWindowTitle(f"Certification workbench — {store.workspace}")
        self.models = ModelsPanel(self.runner)
        self.data_panel = DataPanel()
        self.method = MethodPanel()
        self.runs = RunsPanel(store)
        self.result = ResultArea()
        self.setCentralWidget(self.result)
        self.docks = {}
        for name, widget, area in (("Model", self.models, Qt.DockWidgetArea.LeftDockWidgetArea),
                                   ("Data", self.data_panel, Qt.DockWidgetArea.LeftDockWidgetArea),
                                   ("Method", self.method, Qt.DockWidgetArea.RightDockWidgetArea),
                                   ("Runs", self.runs, Qt.DockWidgetArea.BottomDockWidgetArea)):
            dock = QDockWidget(name, self)
            dock.setObjectName(f"dock{name}")  # saveState needs names
            dock.setWidget(widget)
            self.addDockWidget(area, dock)
            self.docks[name] = dock
        self.resizeDocks([self.docks["Model"], self.docks["Method"]], [390, 290], Qt.Orientation.Horizontal)
        self.resizeDocks([self.docks["Runs"]], [230], Qt.Orientation.Vertical)
        self.actions = build_actions(self)
        self.progress = QProgressBar()  # the latest live run, also shown per run in the table
        self.progress.setMaximumWidth(260)
        self.progress.setRange(0, 1000)
        self.progress.setVisible(False)
        self.statusBar().addPermanentWidget(self.progress)
        self.busy = QLabel()
        self.device = QLabel("device: …")
        self.statusBar().addPermanentWidget(self.busy)
        self.statusBar().addPermanentWidget(self.device)
        self._connect()
        self._restore_settings()
        self.runner.submit(lambda p, c: device_text(), on_result=lambda t: self.device.setText(t))
        self._update_actions()
        self.statusBar().showMessage("Choose a network, data and a method, then press Run (Ctrl+R).")

    def _connect(self) -> None:
        self.models.open_button.clicked.connect(self.open_model)
        self.models.loaded.connect(self._model_loaded)
        self.models.failed.connect(lambda msg: self.statusBar().showMessage(f"Cannot load: {msg}"))
        for signal in (self.models.changed, self.data_panel.changed, self.method.changed):
            signal.connect(self._update_actions)
        self.data_panel.open_data.clicked.connect(lambda: self.open_data("dataset"))
        self.data_panel.open_vnnlib.clicked.connect(lambda: self.open_data("vnnlib"))
        self.data_panel.open_input.clicked.connect(lambda: self.open_data("input"))
        self.method.run_button.clicked.connect(self.start_run)
        self.method.cancel_button.clicked.connect(self.cancel_run)
        self.runs.selection_changed.connect(self._selection_changed)
        self.runs.rerun_requested.connect(self.rerun)
        self.runs.delete_requested.connect(self.delete_runs)
        self.runs.export_requested.connect(lambda ids: self.export_report(ids))
        self.runner.busy_changed.connect(lambda n: self.busy.setText(f"{n} job(s) running" if n else ""))

    # ------------------------------------------------------------ opening files
    def open_model(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open network", settings.last_folder("model"),
                                              NETWORK_FILTER)
        if path:
            settings.remember_folder("model", path)
            self.models.load(path)

    def open_data(self, kind: str = "dataset") -> None:
        filters = {"dataset": DATA_FILTER, "vnnlib": "VNN-LIB (*.vnnlib *.vnnlib.gz);;All files (*)",
                   "input": "NumPy array (*.npy);;All files (*)"}
        path, _ = QFileDialog.getOpenFileName(self, f"Open {kind}", settings.last_folder("data"),
                                              filters[kind])
        if path:
            settings.remember_folder("data", path)
            self.data_panel.add_source(kind, path)

    def _model_loaded(self, info: ModelInfo) -> None:
        trained_on = (info.manifest.get("dataset") or {}).get("name")
        fields = self.data_panel.source_fields
        if trained_on and ("dataset" in fields or "pde" in fields):
            self.data_panel.set_selection({"dataset": trained_on})  # the data it was trained for
        pinn = [m.name for m in registry.list_methods("pinn")]
        pde = guess_pde(info.manifest, info.path)  # a PINN: its PDE is the data, ∂-CROWN the method
        if pde is not None:
            try:
                self.data_panel.set_selection({"pde": pde})
            except ValueError:
                pass
            if pinn and self.method.method_name not in pinn:
                self.method.set_method(pinn[0])
        elif trained_on and self.method.method_name in pinn:  # back from a PINN to a classifier
            self.method.set_method("crown")
        self.statusBar().showMessage(f"Loaded {info.name}: {info.headline()}")

    # ------------------------------------------------------------ runs
    def current_request(self) -> launch.RunRequest:
        return launch.RunRequest(self.models.path, self.method.method_name, self.method.values(),
                                 self.data_panel.selection())

    def start_run(self) -> str | None:
        """Validate the panels' choice and run it in the background; returns the run id."""
        return self._launch(self.current_request())

    def _launch(self, request: launch.RunRequest) -> str | None:
        try:
            prepared = launch.prepare(self.store, request)
        except (ValueError, RunStoreError) as err:  # ParamError too: one line, no traceback
            self.problem(str(err).splitlines()[0])
            return None
        run_id = prepared.run_id
        self.live_runs.add(run_id)
        self.progress.setValue(0)
        self.runner.submit(functools.partial(launch.execute, self.store, prepared), job_id=run_id,
                           gpu=prepared.gpu,
                           on_progress=lambda f, m, d, rid=run_id: self._run_progress(rid, f, m, d),
                           on_result=lambda _v, rid=run_id: self._run_ended(rid, "done"),
                           on_error=lambda err, rid=run_id: self._run_ended(rid, "failed", err),
                           on_cancelled=lambda rid=run_id: self._run_ended(rid, "cancelled"))
        self.runs.refresh()
        self.runs.select(run_id)
        self.statusBar().showMessage(f"Run {run_id} started: {prepared.method.title}")
        self._update_actions()
        return run_id

    def _run_progress(self, run_id: str, fraction: float, message: str, detail: object = None) -> None:
        self.runs.model.set_progress(run_id, fraction, message)
        live = self.live.add(run_id, detail)
        if run_id == self._shown and run_id not in self._seen_running:
            self._seen_running.add(run_id)   # the details said "queued" until now: show it running
            self.show_run(run_id)
        elif live and run_id == self._shown:
            self.result.update_live(run_id, self.live.series(run_id))
        if run_id == max(self.live_runs, default=None):
            self.progress.setValue(int(fraction * 1000))
            short = message if len(message) <= 28 else message[:27] + "…"   # the bar is narrow
            self.progress.setFormat(f"{run_id[-4:]}: %p% {short}")

    def _run_ended(self, run_id: str, status: str, error: JobError | None = None) -> None:
        self.live_runs.discard(run_id)
        self.runs.model.forget_live(run_id)
        if status == "done":  # the stored history replaces the live points
            self.live.forget(run_id)
        if status == "cancelled":
            try:  # a job cancelled while still queued never reached the store
                if self.store.get(run_id).status == "queued":
                    self.store.cancel(run_id)
            except RunStoreError:
                pass
        self._views.clear()  # related-run points of cached results are stale now
        self.runs.refresh()
        if error is not None:
            self.problem(error, title=f"Run {run_id} failed")
        else:
            self.statusBar().showMessage(f"Run {run_id} {status}")
        if self.runs.selected_ids()[:1] == [run_id]:
            self.show_run(run_id)
        self._update_actions()
        self.run_finished.emit(run_id, status)

    def cancel_run(self) -> None:
        """Cancel the selected live runs, or else the latest one."""
        ids = [i for i in self.runs.selected_ids() if i in self.live_runs] or sorted(self.live_runs)[-1:]
        for run_id in ids:
            self.runner.cancel(run_id)
            self.statusBar().showMessage(f"Cancelling run {run_id}…")

    def rerun(self, run_id: str) -> str | None:
        request = launch.RunRequest.from_spec(self.store.get(run_id).spec)
        try:  # show what runs again; panels that cannot follow (a missing file) are left as they are
            self.method.set_method(request.method)
            self.method.set_values(request.params)
            self.data_panel.set_selection(request.data)
        except ValueError:
            pass
        return self._launch(request)

    def delete_runs(self, ids: list[str]) -> None:
        busy = [i for i in ids if i in self.live_runs]
        if busy:
            self.problem(f"run {busy[0]} is still running; cancel it first")
            return
        if not ids or not self._confirm(self, f"Delete {len(ids)} run(s) and their result files?"):
            return
        for run_id in ids:
            try:
                self.store.delete(run_id)
            except RunStoreError as err:
                self.problem(str(err))
            self._views.pop(run_id, None)
        self.runs.refresh()
        self.result.placeholder("Select a run in the table, or press Run.")
        self.statusBar().showMessage(f"Deleted {len(ids)} run(s)")

    # ------------------------------------------------------------ results
    def _selection_changed(self, ids: list[str]) -> None:
        self._update_actions()
        if ids:
            self.show_run(ids[0])

    def show_run(self, run_id: str) -> None:
        """Show a run's views; its result is loaded (and derived plots computed) in a worker."""
        self._shown = run_id
        try:
            record = self.store.get(run_id)
        except RunStoreError as err:
            self.problem(str(err))
            return
        if record.status != "done" or run_id in self._views:
            live = self.live.series(run_id) if run_id in self.live or run_id in self.live_runs else None
            self.result.show_record(record, self._views.get(run_id), live)
            self.result_shown.emit(run_id)
            return
        self.result.placeholder(f"Loading the result of run {run_id}…")
        self.runner.submit(lambda p, c: load_view_data(self.store, run_id, cancelled=c),
                           on_result=lambda data, rid=run_id: self._view_loaded(rid, data),
                           on_error=lambda err: self.problem(err, title="Cannot show the run"))

    def _view_loaded(self, run_id: str, data: ViewData) -> None:
        self._views[run_id] = data
        if self._shown == run_id:
            self.result.show_record(data.record, data)
            self.result_shown.emit(run_id)

    # ------------------------------------------------------------ reports
    def export_report(self, ids: list[str] | None = None, path: str | None = None) -> None:
        """Write a PDF of the selected finished runs (see ``workbench.gui.export``)."""
        from workbench.gui.export import export_report

        export_report(self, self.runs.selected_ids() if ids is None else ids, path)

    def report_done(self, path: str) -> None:
        self.statusBar().showMessage(f"Report written to {path}")
        self.report_written.emit(path)

    # ------------------------------------------------------------ chrome
    def problem(self, error: JobError | str, title: str = "Certification workbench") -> None:
        """The one place errors are shown: the status bar, and a non-modal box with details."""
        message = error.message if isinstance(error, JobError) else str(error)
        self.statusBar().showMessage(message)
        if isinstance(error, JobError):
            show_error(self, title, error)
        self.error_reported.emit(error)

    def about(self) -> None:
        show_about(self)

    def _update_actions(self, *_: object) -> None:
        ready = bool(self.models.path) and not self.method.form.error
        self.actions["run"].setEnabled(ready)
        self.method.run_button.setEnabled(ready)
        self.actions["cancel"].setEnabled(bool(self.live_runs))
        self.progress.setVisible(bool(self.live_runs))
        self.method.cancel_button.setEnabled(bool(self.live_runs))
        self.actions["export"].setEnabled(bool(self.runs.selected_ids()))

    def _restore_settings(self) -> None:
        if not settings.restore_window(self):
            self.resize(1400, 900)

    def save_settings(self) -> None:
        settings.save_window(self)

    def closeEvent(self, event: QCloseEvent) -> None:
        self.save_settings()
        self.statusBar().showMessage("Stopping background jobs…")
        self.runner.shutdown()  # running jobs stop at their next cancellation check
        super().closeEvent(event)
