"""The smoothing views (Cohen, ANCER, RANCER): certificate geometry, the Monte-Carlo decision
regions, pixels of the drawn regions, hover texts, the result tabs and the PDF report.

Runs are synthetic but real (``smoothing_runs``: tiny Monte-Carlo certificates stored through
``RunStore``), so these tests do not wait for the smoothing package."""
from __future__ import annotations

import re
import unicodedata

import numpy as np
import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from PySide6.QtCore import QPoint, QPointF  # noqa: E402
from PySide6.QtGui import QImage  # noqa: E402
from scipy.stats import norm as normal  # noqa: E402

from smoothing_runs import ensure_methods, make_smoothing_run  # noqa: E402
from workbench.gui.result_area import ResultArea  # noqa: E402
from workbench.gui.smoothing_grids import grid_points  # noqa: E402
from workbench.gui.smoothing_geometry import (gap_from_p_lower, inscribed_radius, make_region,  # noqa: E402
                                              noise_std_per_coordinate)
from workbench.gui.viewdata import load_view_data  # noqa: E402
from workbench.gui.views import view_class  # noqa: E402
from workbench.gui.views.smoothing_hessian import POSITIVE  # noqa: E402
from workbench.jobs import registry  # noqa: E402
from workbench.jobs.store import RunStore  # noqa: E402
from workbench.nets.loading import load_network  # noqa: E402
from workbench.runtime import Cancelled  # noqa: E402
from workbench.report.content import build_report  # noqa: E402

NAMES = ("smoothing_toy2d", "smoothing_accuracy", "smoothing_hessian", "smoothing_sigma_image")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    added = ensure_methods()
    store = RunStore(tmp_path_factory.mktemp("smoothing-workspace"))
    ids = {m: make_smoothing_run(store, m, shrink_row=3) for m in ("smoothing", "ancer", "rancer")}
    ids["l1"] = make_smoothing_run(store, "ancer", norm="1", sigma=0.5, samples="0:200:25")
    ids["digits"] = make_smoothing_run(store, "ancer", model="digits_relu_mlp", dataset="digits",
                                       samples="0:40:4", sigma=0.15, n=200)
    ids["digits_rancer"] = make_smoothing_run(store, "rancer", model="digits_relu_mlp", dataset="digits",
                                              samples="0:40:8", sigma=0.15, n=200)
    data = {k: load_view_data(store, i) for k, i in ids.items()}
    yield store, ids, data
    store.close()
    for name in added:
        registry.unregister(name)


def pixels(image: QImage) -> np.ndarray:
    image = image.convertToFormat(QImage.Format.Format_RGB32)
    a = np.frombuffer(image.constBits(), np.uint8).reshape(image.height(), image.bytesPerLine() // 4, 4)
    return a[:, : image.width(), 2::-1].astype(int)  # BGRA -> RGB


def settled_pixels(qtbot, widget) -> np.ndarray:
    """The widget's pixels once layout and auto-range have settled (two grabs 30 ms apart agree):
    on a loaded machine a fixed short wait can grab a half-updated view."""
    last = pixels(widget.grab().toImage())
    for _ in range(60):
        qtbot.wait(30)
        now = pixels(widget.grab().toImage())
        if np.array_equal(now, last):
            return now
        last = now
    return last


def colour_share(image: QImage, rgb: tuple[int, int, int], tol: int = 30) -> float:
    return float((np.abs(pixels(image) - np.array(rgb)).max(axis=2) <= tol).mean())


# ------------------------------------------------------------------ geometry (no Qt)
def test_gap_and_regions_follow_the_certificates():
    assert gap_from_p_lower(0.9, "2") == pytest.approx(normal.ppf(0.9))
    assert gap_from_p_lower(0.9, "1") == pytest.approx(0.8)
    assert gap_from_p_lower(0.5, "2") == 0.0 and gap_from_p_lower(None, "2") == 0.0
    try:  # the views and the algorithm must agree on ρ
        from workbench.smoothing import stats
    except ImportError:
        stats = None
    if stats is not None and hasattr(stats, "gap"):
        p = np.array([0.6, 0.9, 0.999])
        for norm in ("1", "2"):
            assert np.allclose(stats.gap(p, norm), [gap_from_p_lower(v, norm) for v in p])
    theta = np.deg2rad(30)
    rot = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    ellipse = make_region(np.array([1.0, 2.0]), np.array([0.5, 0.2]), 2.0, "2", rot)
    assert ellipse.kind == "rotated ellipse" and np.allclose(ellipse.axes, [1.0, 0.4])
    assert all(ellipse.level(p) == pytest.approx(1.0) for p in ellipse.outline(40))
    assert np.allclose(ellipse.outline(5)[0], [1.0 + np.cos(theta), 2.0 + np.sin(theta)])  # first axis = R[:, 0]
    assert ellipse.level(ellipse.center + 0.39 * rot[:, 1]) < 1 < ellipse.level(ellipse.center + 0.41 * rot[:, 1])
    diamond = make_region(np.zeros(2), np.array([0.5, 0.2]), 0.5, "1")
    assert diamond.kind == "cross-polytope"
    assert np.allclose(diamond.outline()[:4], [[0.25, 0], [0, 0.1], [-0.25, 0], [0, -0.1]])
    assert diamond.level(np.array([0.125, 0.05])) == pytest.approx(1.0)
    assert inscribed_radius(np.array([0.5, 0.2]), 2.0) == pytest.approx(0.4)
    shrunk = make_region(np.zeros(2), np.array([0.5, 0.2]), 2.0, "2", rot, shrunk_radius=0.1)
    assert shrunk.shrunk and shrunk.kind == "disc" and np.allclose(shrunk.axes, 0.1)
    assert make_region(np.zeros(2), np.ones(2), 0.0, "2") is None  # abstained: nothing certified
    sigma = np.array([0.1, 0.3])
    assert np.allclose(noise_std_per_coordinate(sigma, None), sigma)
    assert np.allclose(noise_std_per_coordinate(sigma, rot), np.sqrt((rot ** 2) @ sigma ** 2))


# ------------------------------------------------------------------ view data
def test_smoothed_regions_are_a_majority_vote(runs):
    """Where the Monte-Carlo grid's smoothed class differs from the base class, an independent
    brute-force vote (numpy noise, many draws) agrees with the grid wherever it is clear."""
    store, ids, data = runs
    view = data["smoothing"]
    sm = view.smoothing
    assert sm.smoothed is not None and sm.base is not None and sm.base.extent == sm.smoothed.extent
    graph = load_network(view.payload["model"])
    pts = grid_points(sm.smoothed.extent, sm.smoothed.classes.shape)
    base_at = graph_classes(graph, pts)
    differ = np.nonzero(base_at != sm.smoothed.classes.ravel())[0]
    assert len(differ) > 20  # σ = 0.3 visibly moves the boundary of the moons network
    rng = np.random.default_rng(1)
    chosen = np.concatenate([rng.choice(differ, 8, replace=False),
                             rng.choice(len(pts), 8, replace=False)])
    clear = 0
    for k in chosen:
        votes = graph_classes(graph, pts[k] + rng.standard_normal((4000, 2)) * sm.sigma)
        share = np.bincount(votes, minlength=2) / len(votes)
        if share.max() >= 0.7:
            clear += 1
            assert sm.smoothed.classes.ravel()[k] == share.argmax(), (pts[k], share)
    assert clear >= 6


def graph_classes(graph, points: np.ndarray) -> np.ndarray:
    import torch

    with torch.no_grad():
        return graph(torch.as_tensor(points, dtype=torch.float32)).argmax(1).numpy()


def test_regions_and_curves_from_the_stored_certificates(runs):
    store, ids, data = runs
    view = data["rancer"]
    sm = view.smoothing
    for row, s in enumerate(view.samples):
        region = sm.region(view, row)
        if s["status"] != "certified":
            assert region is None
        elif s.get("memory") == "shrunk":
            assert region.shrunk and np.allclose(region.axes, s["radius"])
        else:  # semi-axes σ_i·ρ along the stored rotation; the inscribed ball is the stored radius
            sigma = view.arrays["sigma"][row]
            assert np.allclose(region.axes, sigma * normal.ppf(s["p_lower"]))
            assert np.allclose(region.rotation, view.arrays["rotation"][row])
            assert inscribed_radius(sigma, sm.gaps[row]) == pytest.approx(s["radius"])
    assert not view.notes  # the stored radii agree with the regions drawn
    # the accuracy view compares the three L2 moons runs; the L1 and digits runs are elsewhere
    curves = sm.curves
    assert curves[0].this_run and curves[0].run_id == ids["rancer"]
    assert {c.run_id for c in curves} == {ids["smoothing"], ids["ancer"], ids["rancer"]}
    iso = next(c for c in curves if c.method == "smoothing")
    assert iso.proxy is None  # isotropic: the proxy radius is the radius
    mine = curves[0]
    summary = view.record.summary
    assert mine.ok.mean() == pytest.approx(summary["certified_accuracy"])  # an abstention counts nowhere


def test_preparation_is_cancellable_and_survives_a_missing_network(runs, tmp_path):
    store, ids, data = runs
    with pytest.raises(Cancelled):  # the Monte-Carlo grid stops between chunks
        load_view_data(store, ids["l1"], cancelled=lambda: True)
    moved = data["l1"].payload["model"]
    spec = dict(data["l1"].record.spec, model=str(tmp_path / "gone.pt"))
    payload = dict(data["l1"].payload, model=spec["model"])
    run_id = store.create("ancer", "smoothing", spec, "", title="moved model")
    store.start(run_id)
    store.finish(run_id, payload, data["l1"].arrays, data["l1"].record.summary)
    view = load_view_data(store, run_id)
    assert any("decision regions unavailable" in n for n in view.notes) and moved != spec["model"]
    assert view.smoothing.smoothed is None and view.smoothing.curves  # the certificates still show
    assert "could not be computed" in view_class("smoothing_toy2d").unavailable(view)
    assert view_class("smoothing_accuracy").unavailable(view) is None
    store.delete(run_id)


# ------------------------------------------------------------------ views
def test_smoothing_methods_list_installed_views(runs):
    methods = registry.list_methods("smoothing")
    assert {"smoothing", "ancer", "rancer"} <= {m.name for m in methods}
    for m in methods:
        assert m.views and all(view_class(name) is not None for name in m.views), m.name


def test_each_view_renders_where_it_applies(qtbot, runs, tmp_path):
    store, ids, data = runs
    expected = {"smoothing": {"smoothing_toy2d", "smoothing_accuracy"},
                "rancer": {"smoothing_toy2d", "smoothing_accuracy", "smoothing_hessian"},
                "l1": {"smoothing_toy2d", "smoothing_accuracy"},
                "digits": {"smoothing_accuracy", "smoothing_sigma_image"}}
    for key, names in expected.items():
        available = {n for n in NAMES if view_class(n).unavailable(data[key]) is None}
        assert available == names, key
        for name in names:
            view = view_class(name)()
            qtbot.addWidget(view)
            view.set_data(data[key])
            image = QImage(str(view.render_png(tmp_path / f"{key}-{name}.png", (900, 500))))
            assert (image.width(), image.height()) == (900, 500)
            assert colour_share(image, (255, 255, 255), 3) < 0.9, f"{key}/{name} rendered blank"
    bounds_like = data["smoothing"]
    assert "two inputs" in view_class("smoothing_hessian").unavailable(data["digits"])
    assert "Hessian" in view_class("smoothing_hessian").unavailable(bounds_like)


def test_certified_regions_are_drawn_where_they_are(qtbot, runs):
    """Turning the regions off changes exactly the pixels of the drawn ellipses: every outline
    point (mapped to the screen) changes, and nothing changes away from them."""
    store, ids, data = runs
    view_data = data["rancer"]
    view = view_class("smoothing_toy2d")()
    qtbot.addWidget(view)
    view.resize(900, 700)
    view.show()
    qtbot.waitExposed(view)
    view.set_data(view_data)
    on = settled_pixels(qtbot, view.canvas)
    view.regions.setChecked(False)
    off = settled_pixels(qtbot, view.canvas)
    changed = np.abs(on - off).max(axis=2) > 20
    plot = view._plot

    def to_pixel(x: float, y: float) -> tuple[int, int]:
        p = view.canvas.mapFromScene(plot.vb.mapViewToScene(QPointF(float(x), float(y))))
        return p.y(), p.x()

    sm = view_data.smoothing
    markers = np.array([to_pixel(x, y) for x, y in sm.inputs])
    allowed = np.zeros_like(changed)
    hit = total = 0
    for row in range(len(view_data.samples)):
        region = sm.region(view_data, row)
        if region is None:
            continue
        outline = np.array([to_pixel(x, y) for x, y in region.outline(60)])
        (r0, c0), (r1, c1) = outline.min(axis=0) - 3, outline.max(axis=0) + 4
        allowed[max(r0, 0):r1, max(c0, 0):c1] = True
        for r, c in outline[::5]:
            if (np.hypot(*(markers - (r, c)).T) < 8).any():
                continue  # under a sample's marker, which is drawn on top of the regions
            total += 1
            hit += bool(changed[r - 1:r + 2, c - 1:c + 2].any())
    assert total > 50 and hit == total
    assert changed.sum() > 2000 and not (changed & ~allowed).any()
    # the real mouse: hovering a sample's marker names it
    r, c = markers[5]
    qtbot.mouseMove(view.canvas.viewport(), QPoint(int(c), int(r)))
    qtbot.waitUntil(lambda: f"sample {view_data.samples[5]['index']}," in view.hover.text())


def test_toy2d_hover_and_backgrounds(qtbot, runs):
    store, ids, data = runs
    view_data = data["ancer"]
    view = view_class("smoothing_toy2d")()
    qtbot.addWidget(view)
    view.set_data(view_data)
    row = next(i for i, s in enumerate(view_data.samples) if s["status"] == "certified" and s["memory"] == "kept")
    x, y = view_data.smoothing.inputs[row]
    s = view_data.samples[row]
    text = view.hover_text(x, y, 0.05, 0.05)
    assert "smoothed:" in text and "base:" in text and f"sample {s['index']}" in text
    assert f"radius {s['radius']:.4g}" in text and f"proxy radius {s['proxy_radius']:.4g}" in text
    assert "ellipse half-axes" in text
    assert "sample" not in view.hover_text(x + 50, y + 50, 0.05, 0.05)
    assert "smoothed, σ = 0.3" in view._plot.titleLabel.text
    view.set_state({"background": "base"})
    assert "base classifier" in view._plot.titleLabel.text
    assert view.caption().startswith("Decision regions of the base classifier")
    l1 = data["l1"]
    view.set_data(l1)
    assert "cross-polytopes" in view._plot.titleLabel.text and "uniform noise" in view.caption()


def test_hessian_arrows_follow_the_eigenvectors(qtbot, runs):
    store, ids, data = runs
    view_data = data["rancer"]
    view = view_class("smoothing_hessian")()
    qtbot.addWidget(view)
    view.set_data(view_data)
    row = view_class("smoothing_hessian").report_states(view_data)[0]["sample"]
    view.select_sample(row)
    vals, vecs = view_data.arrays["hessian_eigvals"][row], view_data.arrays["hessian_eigvecs"][row]
    region = view_data.smoothing.region(view_data, row)
    start, end, lam = view.arrows[0]
    direction = (end - start) / np.linalg.norm(end - start)
    assert abs(direction @ vecs[0]) == pytest.approx(1.0) and lam == pytest.approx(vals[0])
    assert np.linalg.norm(end - start) / 2 == pytest.approx(region.reach * abs(vals[0]) / np.abs(vals).max())
    assert colour_share(view.render_image((900, 470)), POSITIVE, 25) > 0.0005  # the arrow is drawn
    c = region.center
    assert "inside the certified region" in view.hover_text(*c)
    assert "outside" in view.hover_text(*(c + 1.1 * region.reach * region.rotation[:, 0] / 1.0))


def test_sigma_image_shows_sigma_per_pixel(qtbot, runs):
    store, ids, data = runs
    view = view_class("smoothing_sigma_image")()
    qtbot.addWidget(view)
    view.set_data(data["digits"])
    view.sample.setValue(2)
    assert np.allclose(view.sigma_picture, data["digits"].arrays["sigma"][2].reshape(8, 8))
    assert "sample " + str(data["digits"].samples[2]["index"]) in view.info.text()
    image = view.render_image((900, 470))
    assert colour_share(image, (68, 1, 84), 60) + colour_share(image, (253, 231, 37), 60) > 0.001  # viridis
    rancer = data["digits_rancer"]
    view.set_data(rancer)
    row = view.sample.value()  # the picked row stays picked across runs
    sigma, rot = rancer.arrays["sigma"][row], rancer.arrays["rotation"][row]
    assert np.allclose(view.sigma_picture.ravel(), np.sqrt((rot ** 2) @ sigma ** 2))
    assert "eigen-direction" in view.caption()


def test_result_tabs_for_a_smoothing_run(qtbot, runs):
    store, ids, data = runs
    area = ResultArea()
    qtbot.addWidget(area)
    area.show_record(data["ancer"].record, data["ancer"])
    titles = [area.tabs.tabText(i) for i in range(area.tabs.count())]
    views = registry.get_method("ancer").views
    assert set(views) <= set(NAMES) and titles == [view_class(n).title for n in views] + ["Details"]
    for i, name in enumerate(views):  # a view that does not apply is greyed out, saying why
        reason = view_class(name).unavailable(data["ancer"])
        assert area.tabs.isTabEnabled(i) == (reason is None) and area.tabs.tabToolTip(i) == (reason or "")
    assert view_class("smoothing_toy2d").unavailable(data["ancer"]) is None
    assert "image inputs" in view_class("smoothing_sigma_image").unavailable(data["ancer"])


# ------------------------------------------------------------------ report
def test_report_of_a_smoothing_run(runs, tmp_path):
    pypdf = pytest.importorskip("pypdf")
    from workbench.report.figures import render_figures
    from workbench.report.pdf import render_pdf

    store, ids, data = runs
    text = build_report([(data["ancer"], [])]).text()
    for words in ("Gaussian N(0, σ_i²) per coordinate", "axis-aligned ellipsoid", "proxy radius",
                  "p_A lower bound", "memory", "certified", "abstain"):
        assert words in text, words
    assert "worst lower bound" not in text  # no bound columns for a smoothing run
    # what write_report does, from the already loaded run (loading again would redo the grids)
    out = render_pdf(build_report([(data["rancer"], render_figures(data["rancer"]))]), tmp_path / "rancer.pdf")
    reader = pypdf.PdfReader(str(out))
    pdf = re.sub(r"[ \t]+", " ", unicodedata.normalize("NFKC", "\n".join(p.extract_text() for p in reader.pages)))
    assert sum(len(p.images) for p in reader.pages) >= 3  # regions, accuracy, Hessian
    for words in ("rotated ellipses", "proxy radius", "certified", "abstain", "Hessian", "memory"):
        assert words in pdf, words
