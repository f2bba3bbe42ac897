"""Views, forms and table models, each on its own (no main window): pixels, texts, Qt contracts."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from PySide6.QtGui import QImage  # noqa: E402
from PySide6.QtWidgets import QCheckBox, QComboBox, QLineEdit, QSpinBox  # noqa: E402

from workbench.data.samples import list_sample_models  # noqa: E402
from workbench.gui import launch  # noqa: E402
from workbench.gui.data_panel import DataPanel  # noqa: E402
from workbench.gui.param_form import ParamForm  # noqa: E402
from workbench.gui.runs_model import RunsTableModel  # noqa: E402
from workbench.gui.viewdata import certified_accuracy_curve, load_view_data  # noqa: E402
from workbench.gui.views import VIEWS, view_class  # noqa: E402
from workbench.gui.views.base import VERDICT_COLORS  # noqa: E402
from workbench.jobs import registry  # noqa: E402
from workbench.jobs.store import RunStore  # noqa: E402
from workbench.runtime import never_cancelled, no_progress  # noqa: E402


def sample_model(name: str) -> str:
    return str(next(m["weights"] for m in list_sample_models() if m["name"] == name))


def make_run(store: RunStore, model: str, method: str, params: dict, data: dict) -> str:
    prepared = launch.prepare(store, launch.RunRequest(sample_model(model), method, params, data))
    return launch.execute(store, prepared, no_progress, never_cancelled)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    store = RunStore(tmp_path_factory.mktemp("views-workspace"))
    fast = {"attack_steps": 3, "attack_restarts": 1}
    ids = {
        "moons": make_run(store, "moons_relu_mlp", "crown",
                          {"eps": 0.05, "radius": True, **fast}, {"dataset": "moons", "samples": "90:110"}),
        "moons_l2": make_run(store, "moons_relu_mlp", "ibp", {"eps": 0.1, "norm": "2", **fast},
                             {"dataset": "moons", "samples": "0:200:20"}),
        "digits": make_run(store, "digits_relu_mlp", "crown", {"eps": 0.01, **fast},
                           {"dataset": "digits", "samples": "0:8"}),
    }
    yield store, ids
    store.close()


def colour_share(image: QImage, rgb: tuple[int, int, int], tol: int = 40) -> float:
    image = image.convertToFormat(QImage.Format.Format_RGB32)
    a = np.frombuffer(image.constBits(), np.uint8).reshape(image.height(), image.bytesPerLine() // 4, 4)
    bgr = a[:, : image.width(), :3].astype(int)
    close = np.abs(bgr - np.array(rgb[::-1])).max(axis=2) <= tol
    return float(close.mean())


def test_views_are_registered_under_the_methods_view_names():
    for method in registry.list_methods("bounds"):
        for name in method.views:
            assert view_class(name) is not None, name


def test_every_view_renders_to_png_offscreen(qtbot, runs, tmp_path):
    store, ids = runs
    data = load_view_data(store, ids["moons"])
    assert data.grid is not None and data.clean.shape == (20, 2) and data.out_lower.shape == (20, 2)
    rendered = []
    for name, cls in VIEWS.items():
        if cls.unavailable(data) is not None:  # another family's view (PINN, smoothing): own tests
            continue
        rendered.append(name)
        view = cls()
        qtbot.addWidget(view)
        view.set_data(data)
        path = view.render_png(tmp_path / f"{name}.png", (900, 500))
        image = QImage(str(path))
        assert (image.width(), image.height()) == (900, 500)
        assert colour_share(image, (255, 255, 255)) < 0.97, f"{name} rendered blank"
    assert {"output_bounds", "certified_accuracy", "toy2d"} <= set(rendered)


def test_toy2d_draws_regions_and_certified_squares(qtbot, runs):
    store, ids = runs
    data = load_view_data(store, ids["moons"])
    view = view_class("toy2d")()
    qtbot.addWidget(view)
    view.set_data(data)
    with_squares = view.render_image((800, 500))
    assert colour_share(with_squares, VERDICT_COLORS["verified"], 30) > 0.001  # square outlines
    view.regions.setChecked(False)
    without = view.render_image((800, 500))
    assert colour_share(without, VERDICT_COLORS["verified"], 30) < colour_share(with_squares, VERDICT_COLORS["verified"], 30)
    x, y = data.inputs[0]
    text = view.hover_text(x, y, 0.05, 0.05)
    assert "region:" in text and f"sample {data.samples[0]['index']}" in text
    assert "sample" not in view.hover_text(x + 50, y + 50, 0.05, 0.05)  # far from every sample


def test_l2_discs_and_views_that_do_not_apply(qtbot, runs):
    store, ids = runs
    l2 = load_view_data(store, ids["moons_l2"])
    assert l2.norm == "2" and l2.radii is None
    view = view_class("toy2d")()
    qtbot.addWidget(view)
    view.set_data(l2)
    assert "L2 discs" in view._plot.titleLabel.text
    digits = load_view_data(store, ids["digits"])
    assert "two inputs" in view_class("toy2d").unavailable(digits)
    acc = view_class("certified_accuracy")()
    qtbot.addWidget(acc)
    acc.set_data(digits)
    assert "one point per run" in acc.message.text()


def test_output_bounds_view_for_ten_classes(qtbot, runs):
    store, ids = runs
    digits = load_view_data(store, ids["digits"])
    assert digits.out_lower.shape == (8, 10)
    assert np.all(digits.out_lower <= digits.clean + 1e-5) and np.all(digits.clean <= digits.out_upper + 1e-5)
    view = view_class("output_bounds")()
    qtbot.addWidget(view)
    view.set_data(digits)
    assert view.sample.maximum() == 7
    view.select_sample(5)
    label = digits.samples[5]["label"]
    assert f"true class <b>{label}</b>" in view.info.text()
    # the true class bar: orange at alpha 200 over white
    assert colour_share(view.render_image((900, 450)), (255, 155, 66), 25) > 0.0002
    states = view_class("output_bounds").report_states(digits)  # the report's figures
    assert [digits.samples[s["sample"]]["status"] == "verified" for s in states][0]


def test_certified_accuracy_curve_counts_correct_and_certified():
    r, acc = certified_accuracy_curve(np.array([0.0, 0.1, 0.2, 0.3]), np.array([True, True, False, True]))
    assert acc[0] == 0.75  # at radius 0: the correct samples
    assert acc[np.searchsorted(r, 0.15)] == 0.25  # only sample 3 (0.3); sample 2 is wrong
    assert acc[-1] == 0.0


def test_runs_table_model_contract(qtmodeltester, runs):
    store, ids = runs
    model = RunsTableModel(store)
    qtmodeltester.check(model)
    assert model.rowCount() == 3
    row = model.row_of(ids["moons"])
    assert model.index(row, 3).data() == "done" and "verified" in model.index(row, 6).data()
    model.set_progress(ids["moons"], 0.5, "half")  # a done run ignores live progress
    assert model.index(row, 4).data() == "100%"


def test_param_form_is_generated_from_the_dataclass(qtbot):
    form = ParamForm()
    qtbot.addWidget(form)
    form.set_params_class(registry.get_method("alpha-crown").params)
    w = form.widgets
    assert isinstance(w["eps"], QLineEdit) and isinstance(w["norm"], QComboBox)
    assert isinstance(w["radius"], QCheckBox) and isinstance(w["alpha_iters"], QSpinBox)
    assert w["alpha_iters"].maximum() == 10000
    assert "Unit: s" in w["timeout"].toolTip() and "Default: 60.0" in w["timeout"].toolTip()
    assert form.error == "" and form.params().alpha_iters == 20
    form.set_values({"eps": "abc"})
    assert form.error.startswith("eps") and w["eps"].styleSheet()
    form.set_values({"eps": "0.25", "norm": "2", "radius": True})
    assert form.error == "" and not w["eps"].styleSheet()
    p = form.params()
    assert (p.eps, p.norm, p.radius) == (0.25, "2", True)
    form.set_params_class(registry.get_method("smoothing").params)
    batch = form.widgets["batch_size"]
    assert batch.value() == 0 and batch.text() == "auto"        # 0 chooses the size: shown as such
    batch.setValue(500)
    assert batch.text() == "500" and form.values()["batch_size"] == 500


def test_data_panel_previews_images_and_scatter(qtbot):
    panel = DataPanel()
    qtbot.addWidget(panel)
    assert panel.selection() == {"dataset": "moons", "samples": "0:20"}
    items = panel.plot.getPlotItem().items
    assert any(type(i).__name__ == "ScatterPlotItem" for i in items)
    panel.set_selection({"dataset": "digits", "samples": "5:9"})
    assert panel.selection() == {"dataset": "digits", "samples": "5:9"}
    items = panel.plot.getPlotItem().items
    assert any(type(i).__name__ == "ImageItem" for i in items)
    panel.set_range(0, len(panel.x))
    assert panel.selection() == {"dataset": "digits"}  # the whole set: no --samples
