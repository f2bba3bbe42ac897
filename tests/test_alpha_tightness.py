"""alpha-CROWN must pay for itself: tighter than CROWN where there is something to optimise (by
margins measured on these nets, not just "not looser"), never looser anywhere, and still sound.

The margins: mean width (upper - lower) reduction vs CROWN, 20 iterations at lr 0.1, as measured
when the slope parametrisation was reworked (tangent points for smooth activations, only unstable
ReLUs' lower slopes): the thresholds sit 1.5-3 points below the measured reduction and above what
the previous implementation (every slope of every neuron, raw slopes) reached, shown in brackets.
"""
from __future__ import annotations

import math

import pytest
import torch

from netgen import make, mlp
from workbench.bounds.alpha import _Node, alpha_crown
from workbench.bounds.crown import crown, intermediate_bounds
from workbench.bounds.relaxations import ACTIVATIONS, default_slopes, tangent_line, tangent_ranges
from workbench.bounds.sets import InputSet
from workbench.nets.graph import Graph, Node


def dense_samples(s: InputSet, n: int, seed: int = 0) -> torch.Tensor:
    """n points per set [n, B, *in]: a quarter on the box's corners, the rest uniform."""
    gen = torch.Generator().manual_seed(seed)
    u = torch.rand((n, *s.lower.shape), generator=gen, dtype=s.lower.dtype)
    u[: n // 4] = u[: n // 4].round()
    return s.lower + (s.upper - s.lower) * u


def widths(graph: Graph, s: InputSet, iterations: int = 20):
    with torch.no_grad():
        lc, uc = crown(graph, s)
        la, ua = alpha_crown(graph, s, iterations=iterations)
    return (lc, uc), (la, ua)


# (name, graph, eps, measured reduction, [previous implementation]) -> required reduction
CASES = [
    ("relu 3-32-32-4, 82-94% unstable", lambda: mlp([3, 32, 32, 4], "relu", seed=1), 1.0, 0.13),       # 15.2% [11.5%]
    ("relu 2-64-64-2, 26-35% unstable", lambda: mlp([2, 64, 64, 2], "relu", seed=2), 0.3, 0.10),       # 11.6% [8.0%]
    ("relu cnn", lambda: make("cnn", "relu", seed=3, width=12, depth=2), 0.1, 0.045),                  # 5.3% [3.3%]
    ("leaky_relu 2-64-64-2", lambda: mlp([2, 64, 64, 2], "leaky_relu", seed=2), 0.3, 0.09),            # 10.9% [7.7%]
    ("tanh 2-64-64-2", lambda: mlp([2, 64, 64, 2], "tanh", seed=2), 0.3, 0.22),                        # 25.3% [15.7%]
    ("tanh 3-32-32-4, wide intervals", lambda: mlp([3, 32, 32, 4], "tanh", seed=1), 1.0, 0.23),        # 24.8% [22.3%]
    ("tanh cnn", lambda: make("cnn", "tanh", seed=3, width=12, depth=2), 0.1, 0.07),                   # 8.7% [2.2%]
    ("sigmoid 2-64-64-2", lambda: mlp([2, 64, 64, 2], "sigmoid", seed=2), 0.3, 0.13),                  # 15.9% [1.8%]
    ("sigmoid 3-32-32-4, wide intervals", lambda: mlp([3, 32, 32, 4], "sigmoid", seed=1), 1.0, 0.25),  # 28.8% [15.0%]
    ("softplus 2-64-64-2", lambda: mlp([2, 64, 64, 2], "softplus", seed=2), 0.3, 0.10),                # 12.7% [5.0%]
]


@pytest.mark.parametrize("name,build,eps,required", CASES, ids=[c[0] for c in CASES])
def test_alpha_is_tighter_than_crown_by_a_measured_margin_never_looser_and_sound(name, build, eps, required):
    graph = build()
    x = torch.randn(16, *graph.input_shape, generator=torch.Generator().manual_seed(0))
    s = InputSet.ball(x, eps)
    (lc, uc), (la, ua) = widths(graph, s)
    # Never looser than CROWN, on every bound of every sample.
    assert (la >= lc).all() and (ua <= uc).all()
    reduction = 1 - float((ua - la).mean() / (uc - lc).mean())
    assert reduction >= required, f"{name}: mean width only {reduction:.2%} below CROWN's (want >= {required:.0%})"
    # Sound: every sampled output lies inside.
    with torch.no_grad():
        pts = dense_samples(s, 4000)
        ys = graph(pts.flatten(0, 1)).flatten(1).view(pts.shape[0], s.batch, -1)
    assert (ys.amin(0) >= la - 1e-5).all() and (ys.amax(0) <= ua + 1e-5).all()


@pytest.mark.parametrize("act", ["relu", "tanh", "sigmoid"])
def test_alpha_l2_ball_and_batch_one(act):
    """An L2 ball and a single sample take the same path; the margin is still there."""
    graph = mlp([2, 64, 64, 2], act, seed=2)
    x = torch.randn(1, 2, generator=torch.Generator().manual_seed(5))
    s = InputSet.ball(x, 0.4, norm=2.0)
    (lc, uc), (la, ua) = widths(graph, s)
    assert (la >= lc).all() and (ua <= uc).all() and float((ua - la).sum()) < 0.97 * float((uc - lc).sum())
    with torch.no_grad():
        pts = torch.stack([s.project(p) for p in dense_samples(s, 3000)])
        ys = graph(pts.flatten(0, 1)).view(pts.shape[0], 1, -1)
    assert (ys.amin(0) >= la - 1e-5).all() and (ys.amax(0) <= ua + 1e-5).all()


def test_concave_leaky_relu_is_optimised_soundly():
    """Leaky ReLU with a negative-side slope above 1 is concave: its upper line is the one through
    the kink that alpha-CROWN moves (slope in [1, alpha])."""
    gen = torch.Generator().manual_seed(4)
    nodes = [Node("input")]
    for i, (a, b) in enumerate([(3, 24), (24, 24), (24, 2)]):
        nodes.append(Node("linear", (len(nodes) - 1,), {"W": torch.randn(b, a, generator=gen) / math.sqrt(a),
                                                        "b": 0.3 * torch.randn(b, generator=gen)}))
        if i < 2:
            nodes.append(Node("leaky_relu", (len(nodes) - 1,), {"alpha": 1.7}))
    graph = Graph((3,), nodes)
    s = InputSet.ball(torch.randn(8, 3, generator=gen), 0.5)
    (lc, uc), (la, ua) = widths(graph, s)
    assert (la >= lc).all() and (ua <= uc).all() and float((ua - la).mean()) < 0.99 * float((uc - lc).mean())
    with torch.no_grad():
        pts = dense_samples(s, 4000)
        ys = graph(pts.flatten(0, 1)).view(pts.shape[0], s.batch, -1)
    assert (ys.amin(0) >= la - 1e-5).all() and (ys.amax(0) <= ua + 1e-5).all()


# --- what gets optimised -------------------------------------------------------------------------

def test_only_unstable_relus_carry_parameters_and_stable_nets_cost_nothing():
    graph = mlp([3, 32, 32, 4], "relu", seed=1)
    x = torch.randn(6, 3, generator=torch.Generator().manual_seed(0))
    s = InputSet.ball(x, 0.3)
    bounds, relax = intermediate_bounds(graph, s)
    for i, r in relax.items():
        lo, up = (b.unsqueeze(1) for b in bounds[graph.nodes[i].inputs[0]])
        node = _Node("relu", {}, lo, up, r, rows=5)
        unstable = int(((lo < 0) & (up > 0)).sum())
        assert 0 < unstable < lo.numel()
        assert [line.side for line in node.lines] == ["lower"]               # the upper line stays the chord
        assert node.lines[0].param.shape == (unstable, 5)                    # one slope per unstable pair and row
    # A ball so small that every ReLU is stable: nothing to optimise, CROWN's bounds returned as they are.
    tiny = InputSet.ball(x, 1e-6)
    lc, uc = crown(graph, tiny)
    la, ua = alpha_crown(graph, tiny, iterations=50)
    assert torch.equal(la, lc) and torch.equal(ua, uc)


def test_smooth_lines_that_are_already_the_envelope_stay_fixed():
    # One neuron per case: below 0 (convex: lower line free, upper = chord), above 0 (the mirror),
    # straddling 0 with a tangent point (both free), and straddling 0 so asymmetrically that the
    # chord is the lower envelope (lower fixed).
    lo = torch.tensor([[[-3.0, 0.5, -2.0, -0.1]]])
    up = torch.tensor([[[-1.0, 2.5, 1.0, 4.0]]])
    for op in ("tanh", "sigmoid"):
        lower, upper = tangent_ranges(op, {}, lo, up)
        assert lower.free.tolist() == [[[True, False, True, False]]]
        assert upper.free.tolist() == [[[False, True, True, True]]]
        # CROWN's slopes are the tangents' at the initial points, wherever a line is free.
        k_lo, k_up = default_slopes(op, {}, lo, up)
        deriv = ACTIVATIONS[op].derivative
        assert torch.allclose(deriv(lower.init)[lower.free], k_lo[lower.free])
        assert torch.allclose(deriv(upper.init)[upper.free], k_up[upper.free])
        assert (lower.start >= lo).all() and (lower.end <= up).all() and (upper.start >= lo).all()
    lower, upper = tangent_ranges("softplus", {}, lo, up)
    assert upper is None and lower.free.all()


@pytest.mark.parametrize("op", ["tanh", "sigmoid", "softplus"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_tangent_lines_are_sound_for_any_tangent_point(op, dtype):
    """tangent_line's intercept is the exact extreme of f(x) - f'(d)·x over [l, u] whatever d is,
    including points outside [l, u] and outside the envelope's range."""
    gen = torch.Generator().manual_seed(11)
    n = 4000
    a = torch.randn(n, generator=gen, dtype=dtype) * 4
    b = a + torch.rand(n, generator=gen, dtype=dtype) * torch.tensor([0.01, 1.0, 8.0], dtype=dtype)[torch.arange(n) % 3]
    d = torch.randn(n, generator=gen, dtype=dtype) * 5
    f = lambda x: ACTIVATIONS[op].fn(x, {})  # noqa: E731
    xs = a.unsqueeze(1) + (b - a).unsqueeze(1) * torch.linspace(0, 1, 2001, dtype=dtype)
    ys = f(xs.double())
    for side in ("lower", "upper"):
        if op == "softplus" and side == "upper":
            continue
        k, icpt = tangent_line(op, {}, a, b, d, side)
        line = k.double().unsqueeze(1) * xs.double() + icpt.double().unsqueeze(1)
        gap = (ys - line) if side == "lower" else (line - ys)
        assert (gap >= 0).all(), f"{side} line cuts f by {float(-gap.min()):.3g}"
        # ... and exact: it touches f on the grid (up to the grid's resolution and the rounding pad).
        assert float(gap.min(1).values.max()) < 1e-3


def test_tangent_line_gradient_is_the_envelope_derivative():
    lo, up = torch.tensor([-2.0]), torch.tensor([1.0])
    d = torch.tensor([-1.2], requires_grad=True)
    k, b = tangent_line("tanh", {}, lo, up, d, "lower")
    (grad,) = torch.autograd.grad(b.sum(), d)
    # b(d) = tanh(d) - tanh'(d)·d at the tangent point, so db/dd = -tanh''(d)·d.
    t = torch.tanh(d.detach())
    assert torch.allclose(grad, -(-2 * t * (1 - t ** 2)) * d.detach(), rtol=1e-4)
