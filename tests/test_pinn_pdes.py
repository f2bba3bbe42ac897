"""The PINN PDE library: definitions, reference solvers, empirical maxima, training, sample PINNs."""
import json
import math

import numpy as np
import pytest
import torch

from workbench.data.samples import list_sample_models
from workbench.nets.loading import load_network
from workbench.pinn.pdes import (Term, boundary_errors_at, empirical_max, get_pde, list_pdes, network_values,
                                 reference_solution, relative_l2, residual_at)
from workbench.pinn.pdes import solvers as S
from workbench.pinn.pdes.definitions import BURGERS_NU, DS_D, HEAT_KAPPA, inv_retardation, retardation
from workbench.pinn.pdes.train import TrainConfig, build_pinn, pinn_architecture, train_pinn

PI = math.pi
ALL = ("burgers", "diffusion_sorption", "allen_cahn", "schrodinger", "heat", "advection")
PINN_SAMPLES = ("pinn_burgers", "pinn_diffusion_sorption", "pinn_heat")


def _rand(n=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    return {k: torch.randn(n, generator=g, dtype=torch.float64)
            for k in ("u", "u_t", "u_x", "u_xx", "v", "v_t", "v_x", "v_xx", "t", "x")}


# -- definitions -----------------------------------------------------------------------------------
def test_registry():
    assert set(ALL) <= set(list_pdes())
    assert get_pde("NLS") is get_pde("schrodinger")
    with pytest.raises(ValueError, match="no PDE named 'nope'"):
        get_pde("nope")
    for name in ALL:
        pde = get_pde(name)
        json.dumps(pde.describe())  # JSON-able for manifests and reports
        lo, hi = pde.bounds()
        assert all(a < b for a, b in zip(lo, hi))


def test_residuals_match_the_formulas():
    v = _rand()
    u, ut, ux, uxx = v["u"], v["u_t"], v["u_x"], v["u_xx"]
    w, wt, wxx = v["v"], v["v_t"], v["v_xx"]
    expected = {
        "burgers": [ut + u * ux - 0.01 / PI * uxx],
        "allen_cahn": [ut - 1e-4 * uxx + 5 * u ** 3 - 5 * u],
        "schrodinger": [ut + 0.5 * wxx + (u ** 2 + w ** 2) * w, wt - 0.5 * uxx - (u ** 2 + w ** 2) * u],
        "heat": [ut - HEAT_KAPPA * uxx],
        "advection": [ut + 0.4 * ux],
    }
    for name, comps in expected.items():
        got = get_pde(name).residual(v)
        assert got.shape == (64, len(comps))
        torch.testing.assert_close(got, torch.stack(comps, -1), rtol=1e-12, atol=1e-12)
    up = u.abs()  # diffusion–sorption: u >= 0 (u = ReLU(N))
    r = 1 + (1 - 0.29) / 0.29 * 2880 * 3.5e-4 * 0.874 * (up + 1e-6) ** (0.874 - 1)
    got = get_pde("diffusion_sorption").residual(dict(v, u=up))
    torch.testing.assert_close(got[:, 0], ut - 5e-4 / r * uxx, rtol=1e-12, atol=1e-12)


def test_residual_structure_is_inspectable():
    assert get_pde("burgers").residual_expression() == [
        [("lin", 1.0, "u_t"), ("mul", 1.0, "u", "u_x"), ("lin", -BURGERS_NU, "u_xx")]]
    assert get_pde("burgers").products() == [("mul", 1.0, "u", "u_x")]
    assert get_pde("heat").products() == [] and get_pde("advection").products() == []
    assert get_pde("allen_cahn").products() == [("mul", 5.0, "u", "u", "u")]
    assert len(get_pde("schrodinger").products()) == 4
    (ds,) = get_pde("diffusion_sorption").residual_terms
    assert ds[1].as_tuple() == ("mul", -DS_D, ("func", "inv_R", "u"), "u_xx")
    func = ds[1].factors[0]
    assert func.properties["concave"] and func.properties["increasing"]
    # the PDEBench constants: R(0) = 13.298, R(0.1) = 3.883, R(1) = 3.157
    r = retardation(torch.tensor([0.0, 0.1, 1.0], dtype=torch.float64))
    torch.testing.assert_close(r, torch.tensor([13.298, 3.883, 3.157], dtype=torch.float64), atol=2e-3, rtol=0)
    # the Func's derivative agrees with autograd, and 1/R is increasing and concave on u > 0
    u = torch.linspace(0.01, 1, 50, dtype=torch.float64, requires_grad=True)
    (g,) = torch.autograd.grad(inv_retardation(u).sum(), u)
    torch.testing.assert_close(func.derivative(u.detach()), g)
    assert (g > 0).all() and (g.diff() < 0).all()
    assert str(Term(-0.5, ("u_xx",))) == "-0.5·u_xx"
    assert get_pde("burgers").residual_string() == "u_t + u·u_x - 0.0031831·u_xx = 0"


def test_boundary_conditions():
    pde = get_pde("diffusion_sorption")
    left, right = pde.boundary
    assert (left.kind, left.side, left.t_min) == ("dirichlet", "left", 1.0)
    assert (right.kind, right.alpha, right.beta) == ("robin", 1.0, -DS_D)
    assert [bc.kind for bc in get_pde("schrodinger").boundary] == ["periodic", "periodic"]
    assert [bc.order for bc in get_pde("schrodinger").boundary] == [0, 1]

    # u = 1 - x + D·x·(...)  checked pointwise: Robin error u(1) - D·u_x(1)
    def net(inp):  # input (x, t)
        x = inp[:, 0]
        return (1 - x + 0.3 * x * inp[:, 1] / 500)[:, None]

    t = torch.tensor([1.0, 250.0, 500.0], dtype=torch.float64)
    errs = boundary_errors_at(net, pde, t)
    torch.testing.assert_close(errs["x=0"][:, 0], torch.zeros(3, dtype=torch.float64))
    u1, ux1 = 0.3 * t / 500, -1 + 0.3 * t / 500
    torch.testing.assert_close(errs["x=1"][:, 0], u1 - DS_D * ux1)


# -- autograd on exact solutions -------------------------------------------------------------------
def test_exact_heat_solution_has_zero_residual():
    pde = get_pde("heat")

    def exact(inp):  # (t, x)
        return (torch.exp(-HEAT_KAPPA * PI ** 2 * inp[:, 0]) * torch.sin(PI * inp[:, 1]))[:, None]

    emp = empirical_max(exact, pde, n=20000, seed=1, dtype=torch.float64)
    assert emp.residual.value < 1e-12 and emp.initial.value < 1e-15 and emp.boundary.value < 1e-15
    assert emp.residual.samples == 20000 and set(emp.conditions) == {"x=0", "x=1"}
    # and a wrong diffusivity is seen: residual = (κ' - κ)π² e^(-κπ²t) sin(πx), max ≈ 0.05π² at t=0
    def wrong(inp):
        return (torch.exp(-0.15 * PI ** 2 * inp[:, 0]) * torch.sin(PI * inp[:, 1]))[:, None]
    e2 = empirical_max(wrong, pde, n=20000, seed=1, dtype=torch.float64, parts=("residual",))
    assert 0.9 * 0.05 * PI ** 2 < e2.residual.value <= 0.05 * PI ** 2 + 1e-12
    assert e2.initial is None and e2.boundary is None


def test_exact_advection_solution_has_zero_residual():
    pde = get_pde("advection")

    def exact(inp):
        return torch.sin(2 * PI * (inp[:, 1] - 0.4 * inp[:, 0]))[:, None]

    emp = empirical_max(exact, pde, n=20000, dtype=torch.float64)
    assert emp.residual.value < 1e-12 and emp.initial.value < 1e-12 and emp.boundary.value < 1e-12
    assert relative_l2(exact, pde, dtype=torch.float64) < 1e-12


def test_network_values_second_derivatives_and_input_order():
    pde = get_pde("allen_cahn")  # input order (x, t)
    t = torch.tensor([0.1, 0.7], dtype=torch.float64)
    x = torch.tensor([-0.3, 0.5], dtype=torch.float64)
    f = lambda inp: (inp[:, 0] ** 3 * inp[:, 1] ** 2)[:, None]  # x³t² in the (x, t) order  # noqa: E731
    vals = network_values(f, pde, t, x)
    torch.testing.assert_close(vals["u_t"], 2 * x ** 3 * t)
    torch.testing.assert_close(vals["u_x"], 3 * x ** 2 * t ** 2)
    torch.testing.assert_close(vals["u_xx"], 6 * x * t ** 2)
    g = lambda inp: (inp[:, 1] ** 3 * inp[:, 0] ** 2)[:, None]  # the same function in (t, x) order  # noqa: E731
    torch.testing.assert_close(residual_at(g, pde, t, x, input_order=("t", "x")), residual_at(f, pde, t, x))


def test_empirical_max_is_batch_independent_and_points_are_real(shared_dir):
    g = load_network(shared_dir / "pinn" / "burgers_tanh_lbfgs.onnx")
    a = empirical_max(g, "burgers", n=20000, seed=3, batch=20000)
    b = empirical_max(g, "burgers", n=20000, seed=3, batch=8192)
    assert a.to_dict() | {"seconds": 0} == b.to_dict() | {"seconds": 0}
    t, x = a.residual.point
    f = residual_at(g, get_pde("burgers"), torch.tensor([t], dtype=torch.float32),
                    torch.tensor([x], dtype=torch.float32))
    # float32: a batch of one rounds differently from a batch of thousands (u_xx ~ 1e4 cancels)
    assert abs(float(f.abs().max()) - a.residual.value) < 1e-3 * a.residual.value
    json.dumps(a.to_dict())


# -- reference solvers -----------------------------------------------------------------------------
def test_heat_method_of_lines_matches_the_closed_form():
    t, x = np.linspace(0, 1, 51), np.linspace(0, 1, 129)
    mol, exact = S.heat_mol(t, x), S.heat_solution_exact(t, x)
    assert np.abs(mol.u - exact.u).max() < 2e-6
    assert np.abs(reference_solution("heat").u[0, :, 0] - np.sin(PI * reference_solution("heat").x)).max() < 1e-12


def test_burgers_cole_hopf_and_method_of_lines_agree():
    t, x = np.linspace(0, 1, 51), np.linspace(-1, 1, 129)
    ch, mol = S.burgers_cole_hopf(t, x), S.burgers_mol(t, x, cells=2048)
    assert np.abs(ch.u - mol.u).max() < 2e-3  # second order in the shock (max |u_x| = 152)
    assert np.linalg.norm(ch.u - mol.u) / np.linalg.norm(ch.u) < 3e-4
    np.testing.assert_allclose(ch.u[0, :, 0], -np.sin(PI * x), atol=1e-15)
    assert np.abs(ch.u[:, [0, -1]]).max() < 1e-12  # u(t, ±1) = 0


def test_burgers_cole_hopf_reproduces_the_shock_gradient():
    # Basdevant et al. (1986): max |u_x| = 152.00516 at t = 1.6037/π, x = 0
    h = 1e-6
    u = S.burgers_cole_hopf([1.6037 / PI], [-h, h]).u[0, :, 0]
    assert abs((u[1] - u[0]) / (2 * h) + 152.00516) < 2e-3


def test_schrodinger_split_step_matches_the_mat_file(shared_dir):
    mat = S.schrodinger_from_mat(shared_dir / "pinn" / "schrodinger_reference.mat")
    assert mat.u.shape == (201, 256, 2)
    ours = S.schrodinger_split_step(mat.t, mat.x)
    assert np.abs(ours.u - mat.u).max() < 2e-4
    np.testing.assert_allclose(ours.u[0, :, 0], 2 / np.cosh(mat.x), atol=1e-12)


def test_allen_cahn_spectral_converges():
    t, x = np.linspace(0, 1, 11), np.linspace(-1, 1, 65)
    fine, coarse = S.allen_cahn_spectral(t, x), S.allen_cahn_spectral(t, x, modes=1024)
    assert np.abs(fine.u - coarse.u).max() < 1e-3
    np.testing.assert_allclose(fine.u[0, :, 0], x ** 2 * np.cos(PI * x), atol=1e-12)
    assert np.abs(fine.u).max() <= 1 + 1e-6  # the reaction keeps u in [-1, 1]
    np.testing.assert_allclose(fine.u[:, 0], fine.u[:, -1], atol=1e-12)  # periodic


def test_diffusion_sorption_solver():
    t, x = np.linspace(0, 500, 26), np.linspace(0, 1, 65)
    fine, coarse = S.diffusion_sorption_fv(t, x), S.diffusion_sorption_fv(t, x, cells=512)
    assert np.abs(fine.u - coarse.u).max() < 5e-3
    u = fine.u[..., 0]
    assert np.all(u[1:, 0] == 1.0) and np.all(u[0] == 0.0)
    assert u.min() > -1e-4 and u.max() <= 1.0
    assert np.all(np.diff(u[1:], axis=1) <= 1e-9)  # decreasing away from the inflow
    assert np.all(np.diff(u[:, 32]) >= -1e-9)  # and filling up with time
    # the Robin outflow u = D·u_x holds at the face (u_x from the last two grid values)
    ux = (u[1:, -1] - u[1:, -2]) / (x[-1] - x[-2])
    assert np.abs(u[1:, -1] - DS_D * ux).max() < 1e-3


# -- the reference ONNX PINNs ----------------------------------------------------------------------
def test_burgers_onnx_empirical_maxima_match_the_paper(shared_dir):
    g = load_network(shared_dir / "pinn" / "burgers_tanh_lbfgs.onnx")
    emp = empirical_max(g, "burgers", n=10 ** 6, seed=0)
    # README / notes: max |f| ≈ 0.134 over 10⁶ samples (sup ≈ 0.1339 at t ≈ 0.40, x ≈ -0.005);
    # the sample max lies below the sup and, with 10⁶ points, within a few per cent of it.
    assert 0.125 < emp.residual.value < 0.1345
    t, x = emp.residual.point
    assert abs(t - 0.40) < 0.03 and abs(x) < 0.02
    # IC: (u(0,x) + sin πx)² ≤ 1.59e-6 (a 1-D line: 10⁶ samples find the max)
    assert emp.initial.squared == pytest.approx(1.59e-6, rel=0.01)
    # BC maxima² 8.07e-8 (x = -1) and 6.53e-8 (x = +1), notes §6.2 (the sample maxima here are
    # float32 evaluations at other points: within a few per cent)
    assert emp.conditions["x=-1"].squared == pytest.approx(8.07e-8, rel=0.03)
    assert emp.conditions["x=+1"].squared == pytest.approx(6.53e-8, rel=0.03)
    assert relative_l2(g, "burgers") < 2e-3


def test_schrodinger_onnx(shared_dir):
    g = load_network(shared_dir / "pinn" / "schrodinger_tanh.onnx")
    assert g.num_outputs == 2
    emp = empirical_max(g, "schrodinger", n=20000, seed=0)
    # README: max (f_u² + f_v²) = 1.63e-3 and IC max 7.81e-5 over 10⁶ samples
    assert 0.3 * 1.63e-3 < emp.residual.squared <= 1.63e-3 * 1.02
    assert emp.initial.squared == pytest.approx(7.81e-5, rel=0.02)
    mat = S.schrodinger_from_mat(shared_dir / "pinn" / "schrodinger_reference.mat")
    assert relative_l2(g, "schrodinger") == pytest.approx(relative_l2(g, "schrodinger", mat), rel=1e-2)
    assert relative_l2(g, "schrodinger") < 1e-2


# -- training --------------------------------------------------------------------------------------
def test_training_is_reproducible_and_the_normalisation_is_fixed():
    cfg = TrainConfig(pde="heat", hidden=(8, 8), n_collocation=200, n_initial=32, n_boundary=32,
                      adam_steps=30, lbfgs_steps=10)
    m1, arch, rec = train_pinn(cfg)
    m2, _, _ = train_pinn(cfg)
    for (k, a), (_, b) in zip(m1.state_dict().items(), m2.state_dict().items()):
        assert torch.equal(a, b), k
    assert rec["final_loss"]["total"] < rec["history"][0]["loss"]
    torch.testing.assert_close(m1[0].weight, torch.diag(torch.tensor([2.0, 2.0])))
    torch.testing.assert_close(m1[0].bias, torch.tensor([-1.0, -1.0]))
    assert not m1[0].weight.requires_grad and not m1[0].bias.requires_grad


def test_pinn_architecture_loads_as_a_graph(tmp_path):
    pde = get_pde("diffusion_sorption")
    arch = pinn_architecture(pde, (6,), output_activation="relu")
    assert [d["type"] for d in arch["layers"]] == ["linear", "linear", "tanh", "linear", "relu"]
    assert arch["input_normalisation"]["lower"] == [0.0, 0.0] and arch["input_normalisation"]["upper"] == [1.0, 500.0]
    torch.manual_seed(0)
    model = build_pinn(arch)
    torch.save(model.state_dict(), tmp_path / "model.pt")
    (tmp_path / "model.arch.json").write_text(json.dumps(arch))
    graph = load_network(tmp_path / "model.pt")
    inp = torch.tensor([[0.0, 0.0], [1.0, 500.0], [0.3, 120.0]])
    torch.testing.assert_close(graph(inp), model(inp))
    hat = model[0](inp)
    torch.testing.assert_close(hat, torch.tensor([[-1.0, -1.0], [1.0, 1.0], [-0.4, -0.52]]))


# -- the shipped sample PINNs ----------------------------------------------------------------------
SAMPLES = {m["name"]: m for m in list_sample_models()}


@pytest.mark.parametrize("name", PINN_SAMPLES)
def test_sample_pinn_matches_its_manifest(name):
    if name not in SAMPLES:
        pytest.fail(f"sample model {name} is missing")
    entry = SAMPLES[name]
    manifest = entry["manifest"]
    assert manifest["kind"] == "pinn" and entry["train_script"].is_file()
    pde = get_pde(manifest["pde"]["name"])
    order = tuple(manifest["input_order"])
    graph = load_network(entry["weights"])  # the workbench's loader (state dict + arch.json)
    assert graph.input_shape == (2,) and graph.num_outputs == pde.n_outputs
    norm = manifest["architecture"]["input_normalisation"]
    assert norm["lower"] == pde.bounds(order)[0] and norm["upper"] == pde.bounds(order)[1]
    first = graph.nodes[1]
    w, b = first.params["W"], first.params["b"]
    lo, hi = torch.tensor(norm["lower"]), torch.tensor(norm["upper"])
    torch.testing.assert_close(w, torch.diag(2 / (hi - lo)))
    torch.testing.assert_close(b, -(hi + lo) / (hi - lo))
    l2 = relative_l2(graph, pde, input_order=order)
    assert l2 == pytest.approx(manifest["relative_l2"], rel=1e-4, abs=1e-7)
    assert l2 < 0.05
    # the empirical maxima over 10⁵ points stay at or below the manifest's 10⁶-point ones,
    # up to sampling (a smaller sample's max can exceed a larger one's only by luck)
    emp = empirical_max(graph, pde, n=10 ** 5, seed=0, input_order=order)
    for part in ("residual", "initial", "boundary"):
        assert getattr(emp, part).value <= 1.5 * manifest["empirical"][part]["value"] + 1e-7, part
    for key in ("seed", "adam_steps", "lbfgs_steps", "hidden", "n_collocation"):
        assert key in manifest["training"]
