"""PINN runs in the real main window: the PDE picked for a PINN model, the live convergence plot
while the run works, the stored views after it, the runs table, and the PDF report."""
from __future__ import annotations

import re
import unicodedata

import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

import pinn_fake  # noqa: E402
from workbench.gui import settings  # noqa: E402
from workbench.gui.main_window import MainWindow  # noqa: E402
from workbench.gui.runs_model import COL  # noqa: E402
from workbench.jobs import registry  # noqa: E402
from workbench.jobs.store import RunStore  # noqa: E402


@pytest.fixture
def window(qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv(settings.SETTINGS_ENV, str(tmp_path / "settings"))
    settings.configure()  # never the user's real settings
    with pinn_fake.registered():
        store = RunStore(tmp_path / "workspace")
        w = MainWindow(store, confirm=lambda parent, question: True)
        qtbot.addWidget(w)
        w.show()
        yield w
        w.close()
        store.close()


def load_burgers(qtbot, w: MainWindow) -> None:
    with qtbot.waitSignal(w.models.loaded, timeout=30000):
        w.models.select_sample("pinn_burgers")
    assert w.data_panel.selection() == {"pde": "burgers"}  # from the manifest
    assert "PINN for Burgers" in w.models.summary.text()
    w.method.set_method(pinn_fake.NAME)  # the auto-picked PINN method may be the real one


def tab_texts(w: MainWindow) -> list[str]:
    return [w.result.tabs.tabText(i) for i in range(w.result.tabs.count())]


def test_pinn_run_live_then_stored_views_table_and_report(qtbot, window, tmp_path):
    w = window
    w.method.set_method("crown")
    load_burgers(qtbot, w)
    w.method.set_values({"depth": 2, "live_points": 6, "delay": 0.2})
    run_id = w.start_run()
    assert run_id is not None, w.statusBar().currentMessage()
    qtbot.waitUntil(lambda: w.live.count(run_id) >= 2, timeout=30000)
    assert tab_texts(w)[0] == "Convergence (live)" and w.result.tabs.currentIndex() == 0
    live_view = w.result.views["pinn_convergence"]
    seen = len(live_view.curves["residual"].xData)
    assert seen >= 1 and live_view.live
    qtbot.waitUntil(lambda: "initial" in live_view.curves, timeout=30000)  # the plot follows the run
    assert len(live_view.curves["residual"].xData) > seen
    with qtbot.waitSignal(w.run_finished, timeout=60000) as blocker:
        pass
    assert blocker.args == [run_id, "done"]
    assert run_id not in w.live  # the stored history replaces the live points
    qtbot.waitUntil(lambda: w.result.data is not None and w.result.data.record.id == run_id, timeout=30000)
    assert tab_texts(w) == ["Residual: certified vs empirical", "Initial and boundary conditions",
                            "Convergence", "Details"]
    assert w.result.tabs.tabText(w.result.tabs.currentIndex()) == "Convergence"  # still looking at it
    assert not w.result.view("pinn_convergence").live
    residual = w.result.view("pinn_residual")
    assert residual.data.pinn.residual_abs is not None and "certified max |f| ≤ ∞" in residual.message.text()
    # the runs table
    m = w.runs.model
    row = m.row_of(run_id)
    assert m.index(row, COL["Data"]).data() == "PDE burgers"
    assert m.index(row, COL["Result"]).data().startswith("|f| ≤ ∞ · IC ≤ ")
    # the PDF report
    pdf = tmp_path / "pinn.pdf"
    with qtbot.waitSignal(w.report_written, timeout=60000):
        w.export_report([run_id], str(pdf))
    pypdf = pytest.importorskip("pypdf")
    reader = pypdf.PdfReader(str(pdf))
    text = re.sub(r"\s+", " ", unicodedata.normalize("NFKC", " ".join(p.extract_text() for p in reader.pages)))
    assert sum(len(p.images) for p in reader.pages) >= 3  # the three views
    # NFKC turns "²" into "2"
    for words in ("Certificate", "certified bound empirical max ratio bound2 empirical2 boxes time stop",
                  "residual |f|", "initial condition", "boundary x=-1", "target", "u(0, x) = -sin",
                  "does not bound the error", "--pde burgers"):
        assert words in text, words


def test_a_cancelled_pinn_run_keeps_its_live_plot(qtbot, window):
    w = window
    load_burgers(qtbot, w)
    w.method.set_values({"depth": 1, "live_points": 50, "delay": 0.1})
    run_id = w.start_run()
    qtbot.waitUntil(lambda: w.live.count(run_id) >= 2, timeout=30000)
    with qtbot.waitSignal(w.run_finished, timeout=30000) as blocker:
        w.cancel_run()
    assert blocker.args == [run_id, "cancelled"]
    with qtbot.waitSignal(w.result_shown, timeout=10000):
        w.show_run(run_id)
    assert tab_texts(w) == ["Convergence (until cancelled)", "Details"]
    assert len(w.result.views["pinn_convergence"].curves["residual"].xData) >= 2


def test_an_onnx_pinn_gets_its_pde_from_the_file_name(qtbot, window, shared_dir):
    path = shared_dir / "pinn" / "schrodinger_tanh.onnx"
    if not path.is_file():
        pytest.skip("no ../shared/pinn/schrodinger_tanh.onnx")
    with qtbot.waitSignal(window.models.loaded, timeout=60000):
        window.models.load(path)
    assert window.data_panel.selection() == {"pde": "schrodinger"}
    assert window.method.method_name in {m.name for m in registry.list_methods("pinn")}


def test_back_from_a_pinn_to_a_classifier(qtbot, window):
    w = window
    load_burgers(qtbot, w)
    with qtbot.waitSignal(w.models.loaded, timeout=30000):
        w.models.select_sample("moons_relu_mlp")
    assert w.data_panel.source_fields == {"dataset": "moons"}  # not the PDE any more
    assert w.method.method_name == "crown"
