"""The real main window, offscreen: load a sample model, pick data, run CROWN, inspect the result,
cancel, survive a failing method, export a PDF, keep the event loop responsive, persist state."""
from __future__ import annotations

import re
import time
import unicodedata
from dataclasses import dataclass

import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from PySide6.QtCore import QTimer  # noqa: E402
from PySide6.QtWidgets import QMessageBox  # noqa: E402

from workbench.gui import settings  # noqa: E402
from workbench.gui.main_window import MainWindow  # noqa: E402
from workbench.jobs import registry  # noqa: E402
from workbench.jobs.registry import Method, param  # noqa: E402
from workbench.jobs.store import RunStore  # noqa: E402
from workbench.runtime import check_cancelled  # noqa: E402

FAST = {"attack_steps": 3, "attack_restarts": 1}


@pytest.fixture
def make_window(qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv(settings.SETTINGS_ENV, str(tmp_path / "settings"))
    settings.configure()  # never the user's real settings
    stores = []

    def make() -> MainWindow:
        store = RunStore(tmp_path / "workspace")
        stores.append(store)
        w = MainWindow(store, confirm=lambda parent, question: True)
        qtbot.addWidget(w)
        w.show()
        return w

    yield make
    for s in stores:
        s.close()


@pytest.fixture
def window(make_window):
    return make_window()


def load_moons(qtbot, w: MainWindow, start: int = 0, stop: int = 200, step_note: str = "") -> None:
    with qtbot.waitSignal(w.models.loaded, timeout=30000):
        w.models.select_sample("moons_relu_mlp")
    assert w.data_panel.source_fields == {"dataset": "moons"}  # picked from the manifest
    w.data_panel.set_range(start, stop)


def run_and_wait(qtbot, w: MainWindow, timeout: int = 60000) -> tuple[str, str]:
    with qtbot.waitSignal(w.run_finished, timeout=timeout) as blocker:
        run_id = w.start_run()
        assert run_id is not None, w.statusBar().currentMessage()
    assert blocker.args[0] == run_id
    return run_id, blocker.args[1]


def test_crown_run_end_to_end(qtbot, window, tmp_path):
    w = window
    load_moons(qtbot, w, 90, 110)  # both classes and the boundary
    assert "2,802 parameters" in w.models.summary.text()
    w.method.set_method("crown")
    w.method.set_values({"eps": "0.05", "radius": True, **FAST})
    assert w.actions["run"].isEnabled()
    run_id, status = run_and_wait(qtbot, w)
    assert status == "done"
    record = w.store.get(run_id)
    assert record.summary["samples"] == 20 and record.command.startswith("workbench certify")
    # the runs table shows it, done, with its headline numbers
    m = w.runs.model
    row = m.row_of(run_id)
    assert m.index(row, 3).data() == "done"
    assert "verified" in m.index(row, 6).data()
    # the selected run's views show real content
    with qtbot.waitSignal(w.result_shown, timeout=30000):
        w.show_run(run_id)
    tabs = [w.result.tabs.tabText(i) for i in range(w.result.tabs.count())]
    assert tabs == ["Output bounds", "Certified accuracy", "2-D decision regions", "Details"]
    toy = w.result.view("toy2d")
    assert toy.data is not None and toy.data.grid is not None and toy.data.inputs.shape == (20, 2)
    assert "radius" in toy.hover_text(*toy.data.inputs[0], 0.05, 0.05)
    bounds = w.result.view("output_bounds")
    assert "true class" in bounds.info.text()
    bounds.select_sample(3)
    assert f"index {93}" in bounds.info.text()
    # export a PDF of it
    pdf = tmp_path / "report.pdf"
    with qtbot.waitSignal(w.report_written, timeout=60000):
        w.export_report([run_id], str(pdf))
    pypdf = pytest.importorskip("pypdf")
    reader = pypdf.PdfReader(str(pdf))
    text = re.sub(r"\s+", " ", unicodedata.normalize("NFKC", " ".join(p.extract_text() for p in reader.pages)))
    assert reader.metadata.title.startswith("Certification report")
    assert len(reader.pages) >= 3
    assert sum(len(p.images) for p in reader.pages) >= 3  # the views' figures are embedded
    for words in ("moons_relu_mlp", "ε = 0.05", "workbench certify", "attack_steps", "verified",
                  record.environment["torch"]):
        assert words in text, words


def test_cancel_a_run(qtbot, window):
    w = window
    load_moons(qtbot, w)
    # one sample per batch plus the radius search: long enough to cancel in the middle
    w.method.set_values({"batch_size": 1, "radius": True, **FAST})
    seen = []
    w.runs.model.dataChanged.connect(lambda *a: seen.append(1))
    run_id = w.start_run()
    assert run_id is not None
    qtbot.waitUntil(lambda: len(seen) > 0 or w.store.get(run_id).status != "queued", timeout=30000)
    assert w.actions["cancel"].isEnabled()
    with qtbot.waitSignal(w.run_finished, timeout=30000) as blocker:
        w.actions["cancel"].trigger()
    assert blocker.args == [run_id, "cancelled"]
    assert w.store.get(run_id).status == "cancelled"
    assert not w.actions["cancel"].isEnabled()


@dataclass
class ExplodingParams:
    eps: float = param(0.1, help="unused", min=0.0)


def _explode(job, *, progress, cancelled):
    progress(0.5, "about to fail")
    raise RuntimeError("kaboom in the worker")


def test_a_failing_method_is_reported_without_a_crash(qtbot, window):
    registry.register(Method("explode", "Explode", "bounds", ExplodingParams, _explode, ()))
    try:
        w = window
        load_moons(qtbot, w)
        w.method.refresh_methods()
        w.method.set_method("explode")
        errors = []
        w.error_reported.connect(errors.append)
        run_id, status = run_and_wait(qtbot, w)
        assert status == "failed"
        assert errors and "kaboom in the worker" in errors[0].message
        assert "Traceback" in errors[0].details  # details on demand
        boxes = [b for b in w.findChildren(QMessageBox) if b.objectName() == "errorBox"]
        assert boxes and boxes[0].isVisible() and "kaboom" in boxes[0].text()
        record = w.store.get(run_id)
        assert record.status == "failed" and "kaboom" in record.error
        assert w.runs.selected_ids() == [run_id]  # a new run is selected when it starts
        with qtbot.waitSignal(w.result_shown, timeout=10000):
            w.show_run(run_id)
        assert w.result.tabs.tabText(0) == "Details"  # the traceback is one click away
    finally:
        registry.unregister("explode")
    assert w.isVisible()


def test_a_broken_network_file_is_reported_in_plain_words(qtbot, window, tmp_path):
    bad = tmp_path / "broken.onnx"
    bad.write_bytes(b"this is not an ONNX file")
    with qtbot.waitSignal(window.models.failed, timeout=30000) as blocker:
        window.models.load(bad)
    assert blocker.args[0].startswith("broken.onnx")
    assert "Cannot load broken.onnx" in window.models.summary.text()
    assert "Traceback" not in window.models.summary.text()
    assert not window.actions["run"].isEnabled()


def test_invalid_parameters_are_caught_before_run(qtbot, window):
    w = window
    load_moons(qtbot, w)
    w.method.set_values({"eps": "-1"})
    assert "eps" in w.method.error.text()
    assert not w.actions["run"].isEnabled()
    assert w.method.form.widgets["eps"].toolTip().startswith("perturbation radius")
    assert w.start_run() is None and "eps" in w.statusBar().currentMessage()
    assert w.store.list() == []
    import torch

    device = w.method.form.widgets["device"]
    cuda = device.findData("cuda")
    assert device.model().item(cuda).isEnabled() == torch.cuda.is_available()


@dataclass
class SlowParams:
    steps: int = param(400, help="iterations", min=1)


def _slow(job, *, progress, cancelled):
    """A long job that holds the GIL in Python loops between reports, like a real method."""
    for i in range(job.params.steps):
        check_cancelled(cancelled)
        deadline = time.perf_counter() + 0.005
        while time.perf_counter() < deadline:
            pass
        progress((i + 1) / job.params.steps, f"step {i + 1}")
    raise RuntimeError("slow method has no result")


def test_heartbeat_stays_under_100ms_during_a_long_run(qtbot, window):
    w = window
    load_moons(qtbot, w, 0, 100)
    w.method.set_values({"batch_size": 2, "radius": True, **FAST})  # 50 batches of bounds and bisection
    ticks = []
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    timer.start(10)
    try:
        with qtbot.waitSignal(w.result_shown, timeout=60000):  # the run, then its views drawn
            run_id, status = run_and_wait(qtbot, w)
    finally:
        timer.stop()
    assert status == "done"
    gaps = [b - a for a, b in zip(ticks, ticks[1:])]
    assert len(ticks) > 20
    assert max(gaps) < 0.1, f"the GUI thread stalled for {max(gaps) * 1000:.0f} ms"


def test_quitting_during_a_run_cancels_and_waits(qtbot, window):
    registry.register(Method("slow", "Slow", "bounds", SlowParams, _slow, ()))
    try:
        w = window
        load_moons(qtbot, w)
        w.method.refresh_methods()
        w.method.set_method("slow")
        run_id = w.start_run()
        qtbot.waitUntil(lambda: w.store.get(run_id).status == "running", timeout=10000)
        w.close()  # closeEvent: cancel everything and wait for the worker
        assert w.runner.active() == [] or all(w.runner.job(j).done for j in w.runner.active())
        assert w.store.get(run_id).status == "cancelled"
    finally:
        registry.unregister("slow")


def test_runs_survive_a_restart_and_can_be_rerun_and_deleted(qtbot, make_window):
    w = make_window()
    load_moons(qtbot, w, 0, 10)
    w.method.set_method("ibp")
    w.method.set_values(FAST)
    run_id, status = run_and_wait(qtbot, w)
    assert status == "done"
    w.close()
    w2 = make_window()  # a new session on the same workspace and settings
    assert w2.method.method_name == "ibp"  # remembered
    assert w2.runs.model.row_of(run_id) is not None
    w2.runs.filter.setText("ibp")
    assert w2.runs.proxy.rowCount() == 1
    w2.runs.filter.setText("no such run")
    assert w2.runs.proxy.rowCount() == 0
    w2.runs.filter.setText("")
    with qtbot.waitSignal(w2.run_finished, timeout=60000) as blocker:
        new_id = w2.rerun(run_id)
    assert blocker.args == [new_id, "done"]
    assert w2.store.get(new_id).spec == w2.store.get(run_id).spec
    w2.delete_runs([run_id])
    assert [r.id for r in w2.store.list()] == [new_id]


def test_about_box_names_versions_and_device(qtbot, window):
    window.actions["about"].trigger()
    box = next(b for b in window.findChildren(QMessageBox) if b.objectName() == "aboutBox")
    assert "torch" in box.text() and "PySide6" in box.text() and ("CPU" in box.text() or "CUDA" in box.text())
    shortcuts = {name: [s.toString() for s in a.shortcuts()] for name, a in window.actions.items()}
    assert shortcuts["run"] == ["Ctrl+R", "F5"] and shortcuts["cancel"] == ["Esc"]
    assert "Ctrl+O" in shortcuts["open"] and "Ctrl+E" in shortcuts["export"] and "Ctrl+Q" in shortcuts["quit"]


def test_a_run_that_finishes_on_its_details_tab_opens_its_result(qtbot, window):
    w = window
    load_moons(qtbot, w, 0, 100)
    w.method.set_method("crown")
    w.method.set_values({"batch_size": 2, "radius": True, **FAST})
    with qtbot.waitSignal(w.run_finished, timeout=60000):
        run_id = w.start_run()
        qtbot.waitUntil(lambda: w.result.tabs.count() and w.result.tabs.tabText(0) == "Details", timeout=10000)
        w.result.tabs.setCurrentIndex(0)   # while it runs, the details are all there is
    qtbot.waitUntil(lambda: w.result.data is not None and w.result.data.record.id == run_id, timeout=30000)
    assert w.result.tabs.tabText(w.result.tabs.currentIndex()) == w.result.tabs.tabText(0) != "Details"
