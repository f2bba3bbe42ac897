"""PINN views on their own: the Qt-free preparation (boxes to pixels, outlines, steps, live
points, PDE guessing) and the three views drawn from a stored run: pixels, hover texts, PNGs."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from PySide6.QtCore import QCoreApplication, QEvent, QPointF  # noqa: E402
from PySide6.QtGui import QImage  # noqa: E402

import pinn_fake  # noqa: E402
from workbench.data.samples import list_sample_models  # noqa: E402
from workbench.gui.data_panel import DataPanel  # noqa: E402
from workbench.gui.live import LiveRuns  # noqa: E402
from workbench.gui.pinndata import (convergence_series, guess_pde, outline_path,  # noqa: E402
                                    rasterize_boxes, step_curve)
from workbench.gui.viewdata import load_view_data  # noqa: E402
from workbench.gui.views import view_class  # noqa: E402
from workbench.gui.views.pinn_residual import HEAT, UNCERTIFIED  # noqa: E402
from workbench.jobs.store import RunStore  # noqa: E402
from workbench.pinn.pdes import list_pdes  # noqa: E402

BURGERS = str(next(m["weights"] for m in list_sample_models() if m["name"] == "pinn_burgers"))


@pytest.fixture(scope="module")
def pinn_run(tmp_path_factory):
    """A stored PINN run with hand-made residual boxes, and its view data (coarse grid: fast)."""
    store = RunStore(tmp_path_factory.mktemp("pinn-views"))
    run_id = pinn_fake.store_run(store, BURGERS, pinn_fake.handmade_result(BURGERS))
    data = load_view_data(store, run_id, grid_size=60)
    yield store, run_id, data
    store.close()


# ---------------------------------------------------------------- Qt-free preparation
def test_boxes_become_pixels_holding_the_largest_bound():
    boxes = np.array([[[0.0, 0.0], [0.5, 1.0]], [[0.5, 0.0], [1.0, 1.0]], [[0.5, 0.5], [0.501, 0.501]]])
    image = rasterize_boxes(boxes, np.array([1.0, 2.0, 9.0]), (0.0, 1.0), (0.0, 1.0), max_pixels=64)
    assert image.shape == (64, 64)  # limited by max_pixels, not by the tiny third box
    assert image[10, 10] == 1.0 and image[10, 50] == 2.0
    assert image[32, 32] == 9.0  # a box smaller than a pixel still shows, and its max wins
    assert not np.isnan(image).any()
    t, x, connect = outline_path(boxes)
    assert len(t) == len(x) == len(connect) == 15 and connect.tolist()[:5] == [1, 1, 1, 1, 0]
    assert (t[0], x[0], t[2], x[2]) == (0.0, 0.0, 0.5, 1.0)  # lower-left, then upper-right corner


def test_step_curve_has_gaps_between_disjoint_intervals():
    xs, ys = step_curve(np.array([[0.5, 1.0], [0.0, 0.5], [2.0, 3.0]]), np.array([2.0, 1.0, 3.0]))
    assert xs.tolist()[:4] == [0.0, 0.5, 0.5, 1.0] and ys.tolist()[:4] == [1.0, 1.0, 2.0, 2.0]
    assert np.isnan(ys[4]) and ys[-1] == 3.0  # nothing certified between 1 and 2


def test_live_runs_keep_pinn_points_per_run():
    live = LiveRuns()
    assert not live.add("a", None) and not live.add("a", {"kind": "other"})
    for k, (part, bound) in enumerate([("residual", 4.0), ("residual", 2.0), ("initial", 0.1)]):
        assert live.add("a", {"kind": "pinn", "part": part, "time_s": float(k), "bound": bound,
                              "empirical_max": 0.05 if part == "initial" else 1.0, "boxes": 4 ** k})
    live.add("b", {"kind": "pinn", "part": "boundary", "time_s": 0.0, "bound": float("inf"), "boxes": 1})
    assert live.count("a") == 3 and live.count("b") == 1 and "c" not in live
    assert live.history("a").tolist()[1] == [0.0, 1.0, 2.0, 4.0]  # the stored history's layout
    series = live.series("a")
    assert set(series) == {"residual", "initial"}
    assert series["residual"].bound.tolist() == [4.0, 2.0] and series["residual"].empirical == 1.0
    assert series["initial"].empirical == 0.05
    live.forget("a")
    assert "a" not in live and "b" in live
    stored = convergence_series(np.array([[2, 1.0, 0.5, 8], [2, 0.5, 0.9, 4]]), {"boundary": 0.1})
    assert stored["boundary"].time.tolist() == [0.5, 1.0]  # sorted by time


def test_which_pde_a_network_is_for():
    manifests = {m["name"]: m["manifest"] for m in list_sample_models()}
    assert guess_pde(manifests["pinn_burgers"], BURGERS) == "burgers"
    assert guess_pde(manifests["pinn_diffusion_sorption"], "x/model.pt") == "diffusion_sorption"
    assert guess_pde(manifests["moons_relu_mlp"], "burgers_named_moons.pt") is None
    assert guess_pde({}, "/data/burgers_tanh_lbfgs.onnx") == "burgers"
    assert guess_pde({}, "schrodinger_tanh.onnx") == "schrodinger"
    assert guess_pde({}, "nls_net.onnx") == "schrodinger"
    assert guess_pde({}, "mlp.onnx") is None


# ---------------------------------------------------------------- views
def _show(qtbot, name: str, data, size=(1000, 520)):
    view = view_class(name)()
    qtbot.addWidget(view)
    view.resize(*size)
    view.show()
    view.set_data(data)
    for _ in range(4):
        QCoreApplication.sendPostedEvents(None, QEvent.Type.LayoutRequest)
    return view


def _pixel(view, plot, t: float, x: float) -> tuple[int, int, int]:
    """The colour the canvas shows at data point (t, x) of ``plot``."""
    image = view.canvas.grab().toImage()
    p = view.canvas.mapFromScene(plot.vb.mapViewToScene(QPointF(t, x)))
    c = image.pixelColor(p.x(), p.y())
    return c.red(), c.green(), c.blue()


def _heat_position(rgb: tuple[int, int, int]) -> float:
    """Where a colour sits on the heat colour map (0 cold .. 1 hot)."""
    lut = HEAT.getLookupTable(nPts=256, alpha=False).astype(int)
    return float(np.abs(lut - np.array(rgb)).sum(axis=1).argmin() / 255)


def test_residual_view_colours_boxes_by_their_bound(qtbot, pinn_run):
    _, _, data = pinn_run
    assert data.pinn is not None and data.notes == []
    assert data.pinn.residual_abs.shape == (60, 60) and np.isfinite(data.pinn.residual_abs).all()
    view = _show(qtbot, "pinn_residual", data)
    bound_plot, emp_plot, _ = view.plots
    hot = _heat_position(_pixel(view, bound_plot, 0.8, -0.5))      # bound 10
    mid = _heat_position(_pixel(view, bound_plot, 0.6, 0.25))      # bound 1e-2
    cold = _heat_position(_pixel(view, bound_plot, 0.3, -0.5))     # bound 1e-3
    assert hot > mid > cold
    assert hot > 0.95  # the largest bound is the top of the scale
    grey = _pixel(view, bound_plot, 0.25, 0.5)                      # not certified
    assert max(abs(a - b) for a, b in zip(grey, UNCERTIFIED)) <= 3
    # the empirical image shares the scale: the network's |f| is far below the hot box
    assert _heat_position(_pixel(view, emp_plot, 0.8, -0.5)) < hot
    assert len(view._outline.xData) == 5 * 7  # one polyline for every box outline
    text = view.hover_text(0.8, -0.5)
    assert "|f| ≤ 10" in text and "empirical |f| = " in text and "u = " in text
    assert "not certified" in view.hover_text(0.25, 0.5)
    assert "box" not in view.hover_text(5.0, 5.0)  # outside the domain
    assert "does not bound the error" in view.message.text()


def test_conditions_and_convergence_views(qtbot, pinn_run):
    _, _, data = pinn_run
    p = data.pinn
    view = _show(qtbot, "pinn_conditions", data)
    assert {"initial:bound", "initial:empirical", "bc:x=-1:bound", "bc:x=+1:empirical"} <= set(view.curves)
    # every interval's certified bound lies above the network's error inside it
    for (a, b), bound in zip(p.initial_boxes, p.initial_bound):
        inside = (p.ic_x >= a) & (p.ic_x <= b)
        assert p.ic_error[inside].max() <= bound
    text = view.hover_text("initial", -0.5)
    assert text.startswith("x = -0.5") and "IC: error" in text and "certified ≤" in text
    text = view.hover_text("boundary", 0.5)
    assert "x=-1: error" in text and "x=+1: error" in text
    conv = _show(qtbot, "pinn_convergence", data)
    assert set(conv.curves) == {"residual", "initial", "boundary"}
    initial = conv.curves["initial"]
    assert len(initial.xData) == 4 and np.all(np.diff(initial.yData) < 0)  # tightening
    emp = data.pinn.part("initial")["empirical_max"]
    assert conv.lines["initial"].yData.tolist() == [emp, emp]  # the dashed empirical line
    assert "initial: bound" in conv.hover_text(1e9)
    # live: the same view updated in place
    live = LiveRuns()
    conv.set_live(live.series("run"))
    assert "Waiting" in conv.message.text()
    for k in range(3):
        live.add("run", {"kind": "pinn", "part": "residual", "time_s": k, "bound": 10.0 / (k + 1),
                         "empirical_max": 1.0, "boxes": 4 ** k})
        conv.set_live(live.series("run"))
        assert len(conv.curves["residual"].xData) == k + 1
    assert "Live" in conv.plot.titleLabel.text and "|f| ≤ 3.33" in conv.plot.titleLabel.text


def test_pinn_views_render_pngs(qtbot, pinn_run, tmp_path):
    _, _, data = pinn_run
    for name in pinn_fake.PINN_VIEWS:
        cls = view_class(name)
        assert cls.unavailable(data) is None
        image, caption = cls.render_offscreen(data, {}, (900, 470))
        path = tmp_path / f"{name}.png"
        assert image.save(str(path), "PNG")
        image = QImage(str(path)).convertToFormat(QImage.Format.Format_RGB32)
        a = np.frombuffer(image.constBits(), np.uint8).reshape(470, image.bytesPerLine() // 4, 4)[:, :900, :3]
        assert (a < 250).any(axis=2).mean() > 0.05, f"{name} rendered blank"
        assert caption and caption != cls.title


def test_data_panel_offers_pdes(qtbot):
    panel = DataPanel()
    qtbot.addWidget(panel)
    offered = [panel.source.itemData(i) for i in range(panel.source.count())]
    assert [d["pde"] for d in offered if d and "pde" in d] == list_pdes()
    panel.set_selection({"pde": "nls"})  # an alias
    assert panel.selection() == {"pde": "schrodinger"}
    assert "Schrödinger" in panel.info.text() and "BC:" in panel.info.text()
    assert not panel.start.isEnabled()  # a PDE has no samples to choose
    assert len(panel.plot.getPlotItem().listDataItems()) == 2  # the IC of u and of v
    with pytest.raises(ValueError):
        panel.set_selection({"pde": "navier_stokes"})
    panel.set_selection({"dataset": "moons"})
    assert panel.selection() == {"dataset": "moons", "samples": "0:20"}


def test_report_of_a_pinn_run_has_the_pde_and_the_certificate_table(pinn_run):
    from workbench.report.content import build_report
    from workbench.report.document import Figure, Table

    _, _, data = pinn_run
    report = build_report([(data, [Figure(b"png", "a figure", 10, 5)])])
    titles = [s.title for s in report.sections]
    assert "PDE" in titles and "Certificate" in titles
    assert "Data and specification" not in titles and "Samples" not in titles
    text = report.text()
    for words in ("u_t + u·u_x - 0.0031831·u_xx = 0", "u(0, x) = -sin(πx)", "u(t, -1) = 0 (dirichlet)",
                  "domain of x [-1, 1]", "Not certified (bound ∞ when the run stopped): 1 residual box",
                  "it does not bound the error |u_θ − u|"):
        assert words in text, words
    table = next(b for s in report.sections if s.title == "Certificate" for b in s.blocks if isinstance(b, Table))
    assert table.header == ["part", "certified bound", "empirical max", "ratio", "bound²", "empirical²",
                            "boxes", "time", "stop"]
    rows = {r[0]: r for r in table.rows}
    assert set(rows) == {"residual |f|", "initial condition", "boundary conditions", "boundary x=-1",
                         "boundary x=+1"}
    assert rows["residual |f|"][1] == "∞" and rows["residual |f|"][6] == "7"
    ic = data.pinn.part("initial")
    assert rows["initial condition"][1] == f"{ic['bound']:.4g}" and rows["initial condition"][8] == "target"
    assert rows["initial condition"][4] == f"{ic['bound'] ** 2:.3g}"


def test_a_moved_model_still_shows_the_certified_side(qtbot, tmp_path):
    result = pinn_fake.handmade_result(BURGERS)
    result.payload["model"] = str(tmp_path / "moved.pt")
    with RunStore(tmp_path / "ws") as store:
        data = load_view_data(store, pinn_fake.store_run(store, str(tmp_path / "moved.pt"), result))
    assert data.pinn is not None and data.pinn.residual_abs is None
    assert data.notes and "cannot be recomputed" in data.notes[0]
    view = _show(qtbot, "pinn_residual", data)
    assert set(view.images) == {"bound"} and view.plots[1].titleLabel.text == "no network"
    assert "|f| ≤ 10" in view.hover_text(0.8, -0.5)
    conditions = _show(qtbot, "pinn_conditions", data)
    assert "initial:bound" in conditions.curves and "initial:empirical" not in conditions.curves
