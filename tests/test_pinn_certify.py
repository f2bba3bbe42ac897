"""PINN certification: every bound must hold at every point autograd can check.

Ground truth is autograd on the float64 graph (`workbench.pinn.pdes.evaluate`), independent of
the certifier's own forward-mode evaluator. Each PDE is covered: the real networks where the
project has them (the paper's Burgers ONNX, the heat and diffusion–sorption sample models),
random tanh MLPs otherwise.
"""
from __future__ import annotations

import json
import math

import pytest
import torch

from netgen import sample_boxes, tanh_graph
from workbench.jobs import cli
from workbench.nets.loading import load_network
from workbench.pinn.certify import Settings, certify_pinn, pinn_network
from workbench.pinn.certify.conditions import boundary_conditions, condition_bounds, initial_condition
from workbench.pinn.certify.forms import func_form, multiply, symbol_form
from workbench.pinn.certify.residual import CLASSICAL, UNDEFINED, ZERO, residual_bounds
from workbench.pinn.pdes import get_pde, list_pdes
from workbench.pinn.pdes.base import pointwise_norm
from workbench.pinn.pdes.definitions import INV_R
from workbench.pinn.pdes.evaluate import boundary_errors_at, initial_error_at, residual_at

SAMPLE = {"heat": "pinn_heat", "diffusion_sorption": "pinn_diffusion_sorption"}


@pytest.fixture(scope="module")
def networks(shared_dir, repo_root):
    """A float64 graph per PDE (real where we have one) and its input order."""
    out = {}
    for name in list_pdes():
        pde = get_pde(name)
        if name == "burgers":
            g = load_network(str(shared_dir / "pinn" / "burgers_tanh_lbfgs.onnx"))
        elif name in SAMPLE:
            g = load_network(str(repo_root / "sample_models" / SAMPLE[name] / "model.pt"))
        else:
            g = tanh_graph([12, 12], pde.n_outputs, seed=len(name), gain=1.2)
        out[name] = g.to(dtype=torch.float64)
    return out


def _boxes(pde, width: float, n: int, seed: int):
    gen = torch.Generator().manual_seed(seed)
    lo = torch.tensor([pde.t_range[0], pde.x_range[0]], dtype=torch.float64)
    ext = torch.tensor([pde.t_range[1], pde.x_range[1]], dtype=torch.float64) - lo
    w = width * ext
    start = lo + torch.rand(n, 2, generator=gen, dtype=torch.float64) * (ext - w)
    return start, start + w


# -- forms -----------------------------------------------------------------------------------------
def _within(form, values, truth):
    lin = sum(c * values[s] for s, c in form.coeffs.items()) + form.const
    tol = 1e-12 * (1 + truth.abs())
    assert bool((lin - form.rad - tol <= truth).all()) and bool((truth <= lin + form.rad + tol).all())
    assert bool((form.lo - tol <= truth).all()) and bool((truth <= form.hi + tol).all())


def test_product_forms_hold_for_every_value_in_the_intervals():
    gen = torch.Generator().manual_seed(0)
    n, p = 400, 64
    iv = {}
    for s in ("u", "v", "w"):
        c = torch.randn(n, generator=gen, dtype=torch.float64) * 3
        r = torch.rand(n, generator=gen, dtype=torch.float64) ** 3 * 2
        iv[s] = (c - r, c + r)
    vals = {s: lo[:, None] + (hi - lo)[:, None] * torch.rand(n, p, generator=gen, dtype=torch.float64)
            for s, (lo, hi) in iv.items()}
    f = {s: symbol_form(s, iv[s]) for s in iv}
    unsq = lambda form: type(form)({s: c[:, None] for s, c in form.coeffs.items()}, form.const[:, None],  # noqa: E731
                                   form.rad[:, None], form.lo[:, None], form.hi[:, None])
    _within(unsq(multiply(f["u"], f["v"])), vals, vals["u"] * vals["v"])
    _within(unsq(multiply(f["u"], f["u"])), vals, vals["u"] ** 2)
    _within(unsq(multiply(multiply(f["u"], f["u"]), f["v"])), vals, vals["u"] ** 2 * vals["v"])
    _within(unsq(multiply(multiply(f["u"], f["v"]), f["w"])), vals, vals["u"] * vals["v"] * vals["w"])
    _within(unsq(multiply(f["u"], f["v"]).scaled(-2.5)), vals, -2.5 * vals["u"] * vals["v"])


@pytest.mark.parametrize("scale", [1e-9, 1e-4, 1e-2, 1.0])
def test_inverse_retardation_form_holds_on_every_interval(scale):
    gen = torch.Generator().manual_seed(1)
    n = 500
    a = torch.rand(n, generator=gen, dtype=torch.float64) * 1.2 - 0.1   # some intervals reach below 0
    b = a + scale * torch.rand(n, generator=gen, dtype=torch.float64)
    u = a[:, None] + (b - a)[:, None] * torch.rand(n, 50, generator=gen, dtype=torch.float64)
    u = torch.cat([a[:, None], b[:, None], u], 1)
    form = func_form(INV_R, (a, b))
    k = form.coeffs.get("u", torch.zeros_like(a))[:, None]
    truth = INV_R(u)
    lin = k * u + form.const[:, None]
    assert bool((lin - form.rad[:, None] <= truth).all()) and bool((truth <= lin + form.rad[:, None]).all())
    if scale <= 1e-2:   # narrow intervals give narrow forms
        inside = a > 0.05
        assert float(form.rad[inside].max()) < 0.5 * scale + 1e-12   # |d(1/R)/du| < 1 there


# -- residual boxes --------------------------------------------------------------------------------
@pytest.mark.parametrize("name", list_pdes())
def test_residual_bounds_contain_autograd(networks, name):
    pde, graph = get_pde(name), networks[name]
    net = pinn_network(graph, pde)
    states = []
    for width, seed in ((0.2, 0), (1e-2, 1), (1e-3, 2)):
        lo, hi = _boxes(pde, width, 24, seed)
        rb = residual_bounds(net, pde, lo, hi)
        pts = sample_boxes(lo, hi, 30)
        B, P, _ = pts.shape
        flat = pts.reshape(-1, 2)
        f = residual_at(graph, pde, flat[:, 0], flat[:, 1]).reshape(B, P, -1)
        ok = (rb.state == CLASSICAL)[:, None, None]
        tol = 1e-9 * (1 + f.abs())
        assert bool(((rb.lower[:, None] - tol <= f) | ~ok).all()), name
        assert bool(((f <= rb.upper[:, None] + tol) | ~ok).all()), name
        norm = pointwise_norm(f)
        assert bool(((norm <= rb.abs_bound[:, None] * (1 + 1e-9) + 1e-12) | (rb.state != CLASSICAL)[:, None]).all())
        states.append(rb.state)
    states = torch.cat(states)
    if net.relu_output:   # u = ReLU(N): boxes where N crosses 0 are never certified
        assert bool((states == UNDEFINED).any())
    else:
        assert bool((states == CLASSICAL).all())


def test_relu_output_boxes_where_u_vanishes_have_zero_residual(networks):
    pde, graph = get_pde("diffusion_sorption"), networks["diffusion_sorption"]
    net = pinn_network(graph, pde)
    lo, hi = _boxes(pde, 1e-3, 400, 5)
    rb = residual_bounds(net, pde, lo, hi)
    zero = rb.state == ZERO
    assert bool(zero.any())
    assert float(rb.abs_bound[zero].max()) == 0.0
    assert bool(torch.isinf(rb.abs_bound[rb.state == UNDEFINED]).all())
    u = graph(sample_boxes(lo[zero], hi[zero], 10).reshape(-1, 2)[:, [1, 0]])   # network input (x, t)
    assert float(u.max()) == 0.0


# -- initial and boundary conditions ---------------------------------------------------------------
@pytest.mark.parametrize("name", list_pdes())
def test_condition_bounds_contain_autograd(networks, name):
    pde, graph = get_pde(name), networks[name]
    net = pinn_network(graph, pde)
    gen = torch.Generator().manual_seed(3)
    for cond in [initial_condition(pde), *boundary_conditions(pde)]:
        lo, hi = cond.span
        for width in (0.3, 1e-2, 1e-4):
            a = lo + torch.rand(40, generator=gen, dtype=torch.float64) * (hi - lo) * (1 - width)
            b = a + width * (hi - lo)
            bound, centre = condition_bounds(net, cond, a, b)
            s = a[:, None] + (b - a)[:, None] * torch.linspace(0, 1, 41, dtype=torch.float64)
            if cond.name == "initial":
                err = initial_error_at(graph, pde, s.reshape(-1))
            else:
                bc = next(bc for bc in pde.boundary if bc.name == cond.name)
                err = boundary_errors_at(graph, pde, s.reshape(-1), conditions=(bc,))[bc.name]
            e = pointwise_norm(err).reshape(40, -1)
            assert bool((e <= bound[:, None] * (1 + 1e-9) + 1e-12).all()), (name, cond.name, width)
            assert bool((centre <= bound).all())


# -- the whole loop --------------------------------------------------------------------------------
def test_certified_bounds_cover_the_domain_and_every_sample(networks):
    pde, graph = get_pde("heat"), networks["heat"]
    net = pinn_network(graph, pde)
    results, history = certify_pinn(net, pde, Settings(time_budget=6.0, samples=20_000, batch=256))
    res = results["residual"]
    # The leaves partition the domain: inside it, and their areas add up to its area.
    lo, up = torch.as_tensor(res.lower), torch.as_tensor(res.upper)
    area = ((up - lo).prod(1)).sum()
    assert math.isclose(float(area), 1.0, rel_tol=1e-12)
    assert float(lo.min()) >= 0 and float(up.max()) <= 1
    assert res.bound == pytest.approx(float(res.box_bound.max()))
    # Every independently sampled residual lies under the bound of the leaf that holds it.
    gen = torch.Generator().manual_seed(11)
    pts = torch.rand(5000, 2, generator=gen, dtype=torch.float64)
    f = pointwise_norm(residual_at(graph, pde, pts[:, 0], pts[:, 1]))
    inside = ((pts[:, None] >= lo[None]) & (pts[:, None] <= up[None])).all(-1)          # [P, leaves]
    leaf_bound = torch.where(inside, torch.as_tensor(res.box_bound)[None], torch.full_like(inside, -1.0,
                                                                                          dtype=torch.float64))
    assert bool((f <= leaf_bound.amax(1) * (1 + 1e-9)).all())
    for part in results.values():
        assert part.bound >= part.empirical.value
    assert {int(h[0]) for h in history} == {0, 1, 2}


def test_burgers_conditions_within_ten_percent(networks):
    """The issue's IC/BC target on the paper's network (empirical 1.26e-3 and 2.84e-4)."""
    pde = get_pde("burgers")
    net = pinn_network(networks["burgers"], pde)
    results, _ = certify_pinn(net, pde, Settings(time_budget=200.0, samples=200_000), parts=("initial", "boundary"))
    for part in ("initial", "boundary"):
        r = results[part]
        assert r.stop == "target" and r.empirical.value <= r.bound <= 1.1 * r.empirical.value
    assert results["initial"].empirical.value == pytest.approx(1.2604e-3, rel=1e-3)


# -- command line ----------------------------------------------------------------------------------
def test_cli_writes_the_result_contract(tmp_path, repo_root, capsys):
    out = tmp_path / "r.json"
    model = repo_root / "sample_models" / "pinn_heat" / "model.pt"
    code = cli.main(["--workspace", str(tmp_path / "ws"), "pinn", "certify", "--model", str(model), "--pde", "heat",
                     "--time-budget", "4", "--sample-points", "5000", "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    result = json.loads(out.read_text())
    for part in ("residual", "initial", "boundary"):
        r = result[part]
        assert {"bound", "empirical_max", "samples", "boxes", "time_s"} <= set(r)
        assert r["bound"] >= r["empirical_max"] > 0
    assert result["data"] == {"pde": "heat"} and result["method"] == "d-crown"
    assert "residual" in capsys.readouterr().out
    assert cli.main(["--workspace", str(tmp_path / "ws"), "runs", "show", result["run_id"]]) == 0


def test_cli_user_errors_are_one_line(tmp_path, repo_root, capsys):
    heat = str(repo_root / "sample_models" / "pinn_heat" / "model.pt")
    relu = str(repo_root / "sample_models" / "moons_relu_mlp" / "model.pt")
    ws = ["--workspace", str(tmp_path)]
    assert cli.main([*ws, "pinn", "certify", "--model", heat, "--pde", "navier_stokes"]) == 2
    assert "no PDE named" in capsys.readouterr().err
    assert cli.main([*ws, "pinn", "certify", "--model", relu, "--pde", "heat"]) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("workbench:")]
    assert len(err) == 1 and "tanh MLPs only" in err[0] and "relu" in err[0]
    assert cli.main([*ws, "pinn", "certify", "--model", heat, "--pde", "schrodinger"]) == 2
    assert "2 output" in capsys.readouterr().err


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU")
def test_cuda_bounds_match_cpu_and_hold(networks):
    pde, graph = get_pde("burgers"), networks["burgers"]
    net = pinn_network(graph, pde)
    lo, hi = _boxes(pde, 1e-3, 64, 9)
    cpu = residual_bounds(net, pde, lo, hi)
    gpu = residual_bounds(net.to("cuda"), pde, lo.cuda(), hi.cuda())
    assert gpu.lower.device.type == "cuda"
    assert torch.allclose(cpu.abs_bound, gpu.abs_bound.cpu(), rtol=1e-5)
    results, _ = certify_pinn(net.to("cuda"), pde, Settings(time_budget=5.0, samples=100_000))
    for part in results.values():
        assert part.bound >= part.empirical.value
