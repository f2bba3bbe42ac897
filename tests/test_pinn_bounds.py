"""∂-CROWN derivative bounds: they must contain what autograd computes, and shrink with the box.

Ground truth is autograd on the *graph* (normalisation nodes and all) in float64, so the tests
also check that the MLP extraction folds the normalisation into the derivative seeds correctly.
"""
from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings, strategies as st

from workbench.nets.errors import Unsupported
from workbench.nets.graph import Graph, Node
from workbench.nets.loading import load_network
from workbench.pinn.bounds import bound_spec, derivative_bounds, evaluate, parse_orders, prepare, tanh_mlp
from netgen import sample_boxes, tanh_graph

ALL = ("u", "u_t", "u_x", "u_tt", "u_tx", "u_xx")
BURGERS = ("u", "u_t", "u_x", "u_xx")
NU = 0.01 / math.pi


def autograd_values(graph: Graph, x: torch.Tensor, names=ALL, variables=("t", "x")) -> dict[str, torch.Tensor]:
    """u and its derivatives [P, n_out] at points x [P, d] by autograd on the float64 graph."""
    g64 = graph.to(dtype=torch.float64)
    x = x.double().detach().requires_grad_(True)
    u = g64(x)
    out = {n: [] for n in names}
    for o in range(u.shape[1]):
        grad, = torch.autograd.grad(u[:, o].sum(), x, create_graph=True)
        hess = [torch.autograd.grad(grad[:, i].sum(), x, retain_graph=True)[0] if grad.requires_grad
                else torch.zeros_like(x) for i in range(x.shape[1])]   # an affine net has no Hessian graph
        for name, k in zip(names, parse_orders(names, variables)):
            v = u[:, o] if not k else grad[:, k[0]] if len(k) == 1 else hess[k[0]][:, k[1]]
            out[name].append(v.detach())
    return {n: torch.stack(v, 1) for n, v in out.items()}


def assert_contains(graph: Graph, lower: torch.Tensor, upper: torch.Tensor, bounds: dict, n: int = 36,
                    rel: float = 1e-9) -> None:
    pts = sample_boxes(lower, upper, n)
    B, P, d = pts.shape
    values = autograd_values(graph, pts.reshape(-1, d), tuple(bounds))
    for name, (lo, up) in bounds.items():
        v = values[name].reshape(B, P, -1)
        tol = rel * (1 + v.abs())
        below = (lo.double()[:, None] - v - tol).clamp(min=0)
        above = (v - up.double()[:, None] - tol).clamp(min=0)
        assert float(below.max()) == 0 and float(above.max()) == 0, (
            f"{name}: a sample lies outside its bounds by {max(float(below.max()), float(above.max())):.3g}")


@pytest.fixture(scope="module")
def burgers(shared_dir) -> Graph:
    return load_network(shared_dir / "pinn" / "burgers_tanh_lbfgs.onnx")


# -- random tanh MLPs --------------------------------------------------------------------------
@settings(max_examples=30, deadline=None)
@given(depth=st.integers(0, 4), width=st.integers(1, 10), n_out=st.integers(1, 2), seed=st.integers(0, 10_000),
       log_width=st.floats(-4, 0.5), method=st.sampled_from(["crown", "forward", "interval"]),
       dtype=st.sampled_from([torch.float32, torch.float64]))
def test_random_mlps_contain_autograd(depth, width, n_out, seed, log_width, method, dtype) -> None:
    graph = tanh_graph([width + i for i in range(depth)], n_out, seed)
    gen = torch.Generator().manual_seed(seed + 1)
    centre = torch.rand(6, 2, generator=gen) * 2 - 1
    half = 10 ** log_width * (0.2 + torch.rand(6, 2, generator=gen)) / 2
    lower, upper = centre - half, centre + half
    b = derivative_bounds(graph, lower, upper, ALL, method=method, dtype=dtype)
    for lo, up in b.values():
        assert lo.shape == (6, n_out) and lo.dtype == torch.float64 and bool((lo <= up).all())
    assert_contains(graph, lower, upper, b, n=24)


def test_crown_no_looser_than_interval() -> None:
    graph = tanh_graph([8, 8, 8], 1, seed=5)
    centre = torch.rand(32, 2, generator=torch.Generator().manual_seed(0)) * 2 - 1
    for w in (1.0, 0.1, 0.01):
        lower, upper = centre - w / 2, centre + w / 2
        c = derivative_bounds(graph, lower, upper, ALL, method="crown")
        i = derivative_bounds(graph, lower, upper, ALL, method="interval")
        for name in ALL:
            assert bool(((c[name][1] - c[name][0]) <= (i[name][1] - i[name][0]) * (1 + 1e-9) + 1e-12).all())


def test_degenerate_boxes_are_nearly_exact() -> None:
    graph = tanh_graph([6, 6], 2, seed=3)
    x = torch.rand(10, 2, dtype=torch.float64) * 2 - 1
    b = derivative_bounds(graph, x, x, ALL, dtype=torch.float64)
    truth = autograd_values(graph, x)
    for name in ALL:
        assert torch.allclose(b[name][0], truth[name], atol=1e-9) and torch.allclose(b[name][1], truth[name], atol=1e-9)


def test_bound_spec_combination_is_sound_and_tighter() -> None:
    """Bounding u_t - ν·u_xx in one pass beats adding the separate bounds, and stays sound."""
    graph = tanh_graph([10, 10, 10], 1, seed=11)
    mlp = tanh_mlp(graph).to(dtype=torch.float64)
    centre = torch.rand(16, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(2)) * 2 - 1
    lower, upper = centre - 0.05, centre + 0.05
    keys = parse_orders(("u_t", "u_xx"), ("t", "x"))
    prep = prepare(mlp, lower, upper, dirs=[0, 1], pairs=[(1, 1)])
    nu = 0.3
    spec = {keys[0]: torch.tensor([[1.0]], dtype=torch.float64), keys[1]: torch.tensor([[-nu]], dtype=torch.float64)}
    lo, up = bound_spec(prep, spec)
    sep = derivative_bounds(graph, lower, upper, ("u_t", "u_xx"), dtype=torch.float64)
    assert bool((lo >= sep["u_t"][0] - nu * sep["u_xx"][1] - 1e-9).all())
    assert bool((up <= sep["u_t"][1] - nu * sep["u_xx"][0] + 1e-9).all())
    pts = sample_boxes(lower, upper)
    v = autograd_values(graph, pts.reshape(-1, 2), ("u_t", "u_xx"))
    f = (v["u_t"] - nu * v["u_xx"]).reshape(16, -1)
    assert bool((lo <= f.amin(1, keepdim=True) + 1e-9).all()) and bool((up >= f.amax(1, keepdim=True) - 1e-9).all())


def test_errors() -> None:
    relu = Graph((2,), [Node("input"), Node("linear", (0,), {"W": torch.ones(3, 2), "b": torch.zeros(3)}),
                        Node("relu", (1,)), Node("linear", (2,), {"W": torch.ones(1, 3), "b": torch.zeros(1)})])
    with pytest.raises(Unsupported, match="relu"):
        tanh_mlp(relu)
    graph = tanh_graph([3], 1, seed=0)
    x = torch.zeros(2, 2)
    with pytest.raises(ValueError, match="u_y"):
        derivative_bounds(graph, x, x + 1, ("u_y",))
    with pytest.raises(ValueError, match="lower bound above"):
        derivative_bounds(graph, x + 1, x)
    with pytest.raises(ValueError, match="boxes must be"):
        derivative_bounds(graph, torch.zeros(2, 3), torch.ones(2, 3))


# -- the Burgers PINN of the ∂-CROWN paper ----------------------------------------------------
def test_burgers_extraction_folds_normalisation(burgers: Graph) -> None:
    mlp = tanh_mlp(burgers)
    assert [w.shape for w in mlp.weights] == [(20, 2)] + [(20, 20)] * 8 + [(1, 20)]
    lin = next(n for n in burgers.nodes if n.op == "linear").params
    # t̂ = 2t - 1, x̂ = x: the seeds are 2·W[:, 0] and W[:, 1].
    assert mlp.weights[0].dtype == torch.float64
    assert torch.equal(mlp.weights[0], lin["W"].double() * torch.tensor([2.0, 1.0], dtype=torch.float64))
    assert torch.allclose(mlp.biases[0], (lin["b"] - lin["W"][:, 0]).double())
    x = torch.rand(200, 2, dtype=torch.float64) * torch.tensor([1.0, 2.0]).double() - torch.tensor([0.0, 1.0]).double()
    ev = evaluate(tanh_mlp(burgers.to(dtype=torch.float64)), x, BURGERS)
    truth = autograd_values(burgers, x, BURGERS)
    for name in BURGERS:
        assert torch.allclose(ev[name], truth[name], rtol=1e-10, atol=1e-9)


def burgers_boxes(width: float, n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """n boxes of side `width` in the domain, a quarter of them on the shock (x ≈ 0)."""
    gen = torch.Generator().manual_seed(seed)
    centre = torch.rand(n, 2, generator=gen, dtype=torch.float64) * torch.tensor([1.0, 2.0], dtype=torch.float64)
    centre[:, 1] -= 1
    centre[: n // 4, 1] = (torch.rand(n // 4, generator=gen, dtype=torch.float64) - 0.5) * 0.02
    return (centre - width / 2).float(), (centre + width / 2).float()


@pytest.mark.parametrize("width", [1e-1, 1e-2, 1e-3, 1e-4])
@pytest.mark.parametrize("method,dtype", [("crown", torch.float64), ("crown", torch.float32),
                                          ("forward", torch.float64)])
def test_burgers_bounds_contain_autograd(burgers: Graph, width: float, method: str, dtype: torch.dtype) -> None:
    lower, upper = burgers_boxes(width, 40, seed=int(-math.log10(width)))
    b = derivative_bounds(burgers, lower, upper, BURGERS, method=method, dtype=dtype)
    assert_contains(burgers, lower, upper, b)


def test_burgers_bounds_shrink_near_shock(burgers: Graph) -> None:
    """Nested boxes around (t, x) = (0.9, 0) and (0.4, -0.005): every width falls with the box,
    and 1e-3 boxes bound u_xx hundreds of times tighter than 1e-1 boxes."""
    centres = torch.tensor([[0.9, 0.0], [0.4, -0.005], [0.99, 0.001]])
    widths = {}
    for w in (1e-1, 1e-2, 1e-3, 1e-4):
        b = derivative_bounds(burgers, centres - w / 2, centres + w / 2, BURGERS)
        widths[w] = {name: b[name][1] - b[name][0] for name in BURGERS}
        assert_contains(burgers, centres - w / 2, centres + w / 2, b)
    for big, small in ((1e-1, 1e-2), (1e-2, 1e-3), (1e-3, 1e-4)):
        for name in BURGERS:
            assert bool((widths[small][name] < widths[big][name]).all()), (name, big, small)
    assert bool((widths[1e-3]["u_xx"] < 1e-2 * widths[1e-1]["u_xx"]).all())


def test_burgers_residual_in_one_pass(burgers: Graph) -> None:
    """How the residual layer can use `bound_spec`: u·u_x by its McCormick plane (per box),
    u_t - ν·u_xx + plane in a single backward pass. At the shock (t, x) = (0.4, -0.005) this is
    already tighter than partial_crown's reference bounds ([0.0849, 0.182] on 1e-4 boxes,
    [-2.06, 2.38] on 1e-3 boxes, notes §6.2), and contains the sampled residual."""
    from workbench.pinn.bounds.products import mccormick
    mlp = tanh_mlp(burgers)
    c = torch.tensor([[0.4, -0.005], [0.4, -0.005], [0.2, 0.5]], dtype=torch.float64)
    side = torch.tensor([[1e-4], [1e-3], [1e-3]], dtype=torch.float64)
    lower, upper = c - side / 2, c + side / 2
    b = derivative_bounds(burgers, lower, upper, ("u", "u_x"))
    P = mccormick(b["u"][0][:, 0], b["u"][1][:, 0], b["u_x"][0][:, 0], b["u_x"][1][:, 0])
    prep = prepare(mlp, lower, upper, dirs=[0, 1], pairs=[(1, 1)])
    one = torch.ones(3, 1, 1, dtype=torch.float64)
    lo, up = bound_spec(prep, {(): P.ka.view(3, 1, 1), (1,): P.kb.view(3, 1, 1), (0,): one, (1, 1): -NU * one})
    f_lo, f_up = lo[:, 0] + P.c_mid - P.c_rad, up[:, 0] + P.c_mid + P.c_rad
    pts = sample_boxes(lower, upper, 200)
    v = autograd_values(burgers, pts.reshape(-1, 2), BURGERS)
    f = (v["u_t"] + v["u"] * v["u_x"] - NU * v["u_xx"]).reshape(3, -1)
    assert bool((f_lo <= f.amin(1)).all()) and bool((f_up >= f.amax(1)).all())
    assert 0.0849 < float(f_lo[0]) and float(f_up[0]) < 0.182
    assert -2.06 < float(f_lo[1]) and float(f_up[1]) < 2.38
    assert float(f_up[2] - f_lo[2]) < 1e-3


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU")
def test_cuda_matches_cpu(burgers: Graph) -> None:
    lower, upper = burgers_boxes(1e-2, 64, seed=7)
    cpu = derivative_bounds(burgers, lower, upper, BURGERS)
    gpu = derivative_bounds(burgers.to("cuda"), lower.cuda(), upper.cuda(), BURGERS)
    for name in BURGERS:
        for a, b in zip(cpu[name], gpu[name]):
            assert b.device.type == "cuda"
            assert torch.allclose(a, b.cpu(), rtol=1e-6, atol=1e-6 * float(a.abs().max()))
    assert_contains(burgers, lower, upper, {k: (v[0].cpu(), v[1].cpu()) for k, v in gpu.items()})
