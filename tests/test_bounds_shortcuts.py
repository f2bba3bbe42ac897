"""CROWN's shortcuts (compact.py: live columns, both sides of shared rows; linalg; the tangent
table) give the same bounds as the plain backward pass, and stay sound."""
from __future__ import annotations

import math

import pytest
import torch

from tests.netgen import mlp
from workbench.bounds import compact, crown as crown_mod, refine as refine_mod
from workbench.bounds.crown import crown, intermediate_bounds
from workbench.bounds.linalg import matvec, matvecs
from workbench.bounds.relaxations import ACTIVATIONS, default_slopes, intercepts
from workbench.bounds.sets import InputSet
from workbench.bounds.tangents import U_MAX, tangent_point


@pytest.fixture
def taken(monkeypatch):
    """Counts how often each shortcut ran."""
    counts = {"live": 0, "shared": 0}
    live, shared = compact.activation_linear_back, compact.symmetric_activation_linear_back

    def count_live(*args):
        counts["live"] += 1
        return live(*args)

    def count_shared(*args):
        counts["shared"] += 1
        return shared(*args)
    monkeypatch.setattr(crown_mod, "activation_linear_back", count_live)
    monkeypatch.setattr(refine_mod, "symmetric_activation_linear_back", count_shared)
    return counts


def plain(monkeypatch, fn):
    """fn() with every joint step switched off: the activation and the linear layer one by one."""
    with monkeypatch.context() as m:
        m.setattr(crown_mod, "_joint_step", lambda *args: None)
        m.setattr(refine_mod, "SYMMETRIC_STEP", False)
        return fn()


def ball(graph, batch: int, eps: float, dtype, seed: int = 0, spread: float = 1.0) -> InputSet:
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, *graph.input_shape, generator=gen, dtype=dtype) * spread
    return InputSet.ball(x, eps)


def assert_close(a: torch.Tensor, b: torch.Tensor, rel: float) -> None:
    scale = 1 + torch.max(a.abs(), b.abs())
    assert bool(((a - b).abs() <= rel * scale).all()), float(((a - b).abs() / scale).max())


@pytest.mark.parametrize("dtype, rel", [(torch.float32, 2e-5), (torch.float64, 1e-12)])
@pytest.mark.parametrize("batch, spread", [(1, 1.0), (6, 0.1), (6, 3.0)])
def test_relu_shortcuts_equal_the_plain_pass(monkeypatch, taken, dtype, rel, batch, spread):
    # 20 inputs: a narrow first layer (shared rows); 200x120 and 120x90: wide enough to compact.
    graph = mlp([20, 200, 120, 90, 5], "relu", seed=batch, dtype=dtype)
    inputs = ball(graph, batch, 0.05, dtype, seed=batch, spread=spread)
    C = torch.randn(batch, 4, 5, generator=torch.Generator().manual_seed(1), dtype=dtype)
    lo, up = crown(graph, inputs, C)
    assert taken["live"] + taken["shared"] > 0
    ref_lo, ref_up = plain(monkeypatch, lambda: crown(graph, inputs, C))
    assert_close(lo, ref_lo, rel)
    assert_close(up, ref_up, rel)
    bounds = intermediate_bounds(graph, inputs)[0]
    ref = plain(monkeypatch, lambda: intermediate_bounds(graph, inputs)[0])
    for (a, b), (c, d) in zip(bounds, ref):
        assert_close(a, c, rel)
        assert_close(b, d, rel)


@pytest.mark.parametrize("dtype, rel", [(torch.float32, 2e-5), (torch.float64, 1e-12)])
@pytest.mark.parametrize("batch, spread", [(1, 1.0), (6, 3.0)])
def test_chained_live_columns_equal_the_plain_pass(monkeypatch, taken, dtype, rel, batch, spread):
    """Two consecutive layers wide enough to compact (200x160, 160x120): the upper one's W is
    gathered on the lower one's live columns too, and A skips the gather there."""
    graph = mlp([20, 200, 160, 120, 5], "relu", seed=batch, dtype=dtype)
    inputs = ball(graph, batch, 0.05, dtype, seed=batch, spread=spread)
    chained = []
    inner = compact._chained_weights
    monkeypatch.setattr(compact, "_chained_weights", lambda live, below: chained.append(below.shared)
                        or inner(live, below))
    lo, up = crown(graph, inputs)
    assert chained and (batch > 1 or all(chained))
    ref_lo, ref_up = plain(monkeypatch, lambda: crown(graph, inputs))
    assert_close(lo, ref_lo, rel)
    assert_close(up, ref_up, rel)


@pytest.mark.parametrize("act", ["tanh", "sigmoid", "leaky_relu", "softplus"])
@pytest.mark.parametrize("sizes", [[3, 40, 40, 2], [64, 50, 40, 3]])   # narrow and wide first layers
def test_both_sides_of_shared_rows_equal_the_plain_pass(monkeypatch, taken, act, sizes):
    graph = mlp(sizes, act, seed=3, dtype=torch.float64)
    inputs = ball(graph, 5, 0.2, torch.float64, seed=3)
    lo, up = crown(graph, inputs)
    assert taken["shared"] > 0
    ref_lo, ref_up = plain(monkeypatch, lambda: crown(graph, inputs))
    assert_close(lo, ref_lo, 1e-12)
    assert_close(up, ref_up, 1e-12)


@pytest.mark.parametrize("chunk", [1, 7])
def test_neurons_refined_in_chunks_give_the_same_bounds(monkeypatch, chunk):
    """A_BYTES splits a layer's neurons into chunks refined one after another (chunk 1: one
    neuron at a time); the bounds must not change."""
    graph = mlp([6, 30, 30, 3], "relu", seed=5, dtype=torch.float64)
    inputs = ball(graph, 2, 0.3, torch.float64, seed=5)
    ref = intermediate_bounds(graph, inputs)[0]
    ref_lo, ref_up = crown(graph, inputs)
    sizes = []
    bound_rows = refine_mod.bound_rows
    monkeypatch.setattr(refine_mod, "bound_rows", lambda *a: sizes.append(a[3].shape[1]) or bound_rows(*a))
    monkeypatch.setattr(refine_mod, "A_BYTES", chunk * 2 * 2 * 30 * 8)   # [batch 2, 2 chunk, 30] float64
    bounds = intermediate_bounds(graph, inputs)[0]
    assert len(sizes) > 2 and max(sizes) <= chunk
    for (a, b), (c, d) in zip(bounds, ref):
        assert_close(a, c, 1e-12)
        assert_close(b, d, 1e-12)
    lo, up = crown(graph, inputs)
    assert_close(lo, ref_lo, 1e-12)
    assert_close(up, ref_up, 1e-12)


@pytest.mark.parametrize("sizes", [[20, 200, 120, 90, 5], [20, 200, 160, 120, 5]])   # the second chains
def test_shortcut_bounds_contain_sampled_outputs(taken, sizes):
    graph = mlp(sizes, "relu", seed=7)
    inputs = ball(graph, 4, 0.1, torch.float32, seed=7)
    lo, up = crown(graph, inputs)
    assert taken["live"] > 0 and taken["shared"] > 0
    gen = torch.Generator().manual_seed(8)
    noise = (torch.rand(2000, *inputs.lower.shape, generator=gen) * 2 - 1) * 0.1
    noise[:500] = noise[:500].sign() * 0.1          # vertices too
    y = graph(torch.max(torch.min(inputs.center + noise, inputs.upper), inputs.lower).flatten(0, 1))
    y = y.view(2000, 4, -1)
    assert bool((y >= lo - 1e-6).all() and (y <= up + 1e-6).all())


def test_live_columns_skip_layers_where_compacting_does_not_pay():
    graph = mlp([20, 200, 120, 5], "relu", seed=2)
    inputs = ball(graph, 3, 0.05, torch.float32)
    _, relax = intermediate_bounds(graph, inputs)
    small = {"W": torch.randn(10, 200)}                          # 2000 weights < MIN_WEIGHTS
    r = relax[2]
    assert compact.live_columns(r, small) is None
    tanh_graph = mlp([20, 200, 120, 5], "tanh", seed=2)
    _, tanh_relax = intermediate_bounds(tanh_graph, inputs)
    assert compact.live_columns(tanh_relax[2], tanh_graph.nodes[3].params) is None   # no dead tanh


@pytest.mark.parametrize("shared", [True, False])
def test_matvecs_equal_a_plain_product(shared):
    gen = torch.Generator().manual_seed(0)
    A = torch.randn(1 if shared else 5, 7, 30, generator=gen, dtype=torch.float64)
    V = torch.randn(5, 3, 30, generator=gen, dtype=torch.float64)
    want = torch.einsum("bsn,bmn->bsm", A.expand(5, -1, -1), V)
    assert torch.allclose(matvecs(A, V), want, atol=1e-12)
    assert torch.allclose(matvec(A, V[:, 0]), want[..., 0], atol=1e-12)
    # a transposed (non-contiguous) A as well
    At = torch.randn(5, 30, 7, generator=gen, dtype=torch.float64).transpose(1, 2)
    assert torch.allclose(matvec(At, V[:, 0]), torch.einsum("bsn,bn->bs", At, V[:, 0]), atol=1e-12)


@pytest.mark.parametrize("op", ["tanh", "sigmoid"])
def test_tangent_table_solves_the_tangency_equation(op):
    act = ACTIVATIONS[op]
    fn = lambda x: act.fn(x, {})  # noqa: E731
    u = torch.cat([torch.linspace(0, 30, 3001, dtype=torch.float64), torch.tensor([1e3, U_MAX], dtype=torch.float64)])
    d = tangent_point(op, fn, act.derivative, u)
    assert bool((d <= 0).all())
    g = fn(d) + act.derivative(d) * (u - d) - fn(u)     # the tangent at d passes through (u, f(u))
    assert float(g.abs().max()) < 1e-6


@pytest.mark.parametrize("op", ["tanh", "sigmoid"])
def test_default_lines_stay_sound_beyond_the_table(op):
    # Bounds far past U_MAX (the table's last point is used): the lines must still hold.
    l = torch.tensor([-3.0, -1e6, -0.5, -2e5], dtype=torch.float64)
    u = torch.tensor([2e5, 1e6, 3e4, 0.5], dtype=torch.float64)
    k_lo, k_up = default_slopes(op, {}, l, u)
    b_lo, b_up = intercepts(op, {}, l, u, k_lo, k_up)
    t = torch.linspace(0, 1, 200001, dtype=torch.float64)[:, None]
    x = l + (u - l) * t
    x = torch.cat([x, torch.linspace(-20, 20, 4001, dtype=torch.float64)[:, None].clamp(l, u)])
    y = ACTIVATIONS[op].fn(x, {})
    assert bool((k_lo * x + b_lo <= y).all() and (y <= k_up * x + b_up).all())
    assert bool(torch.isfinite(torch.stack([k_lo, k_up, b_lo, b_up])).all())
    assert not math.isnan(float(b_lo.sum()))
