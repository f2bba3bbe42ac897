"""Bounds must contain every reachable output: dense sampling, PGD and exact MILP try to break them."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st
from scipy.optimize import Bounds, LinearConstraint, milp

from netgen import ACTS, make, mlp
from workbench.bounds.alpha import alpha_crown
from workbench.bounds.crown import crown
from workbench.bounds.ibp import ibp
from workbench.bounds.sets import InputSet
from workbench.bounds.verify import compute_bounds

METHODS = ["ibp", "crown", "alpha-crown"]


def sample_set(s: InputSet, n: int, seed: int = 0) -> torch.Tensor:
    """n points per set [n, B, *in]: uniform in the box, plus corners, then projected into the set."""
    gen = torch.Generator().manual_seed(seed)
    u = torch.rand((n, *s.lower.shape), generator=gen, dtype=s.lower.dtype)
    u[: n // 4] = u[: n // 4].round()   # corners of the box, where the extremes of piecewise-linear nets hide
    x = s.lower + (s.upper - s.lower) * u
    return torch.stack([s.project(xi) for xi in x])


def maximise_outputs(graph, s: InputSet, steps: int = 60) -> tuple[torch.Tensor, torch.Tensor]:
    """PGD on each output, both directions: reachable min and max [B, out] (lower estimates)."""
    n_out = graph.num_outputs
    B = s.batch
    rep = lambda t: t.repeat(2 * n_out, *([1] * (t.dim() - 1)))  # noqa: E731
    big = InputSet(rep(s.lower), rep(s.upper), None if s.center is None else rep(s.center),
                   None if s.eps is None else s.eps.repeat(2 * n_out), s.norm)
    which = torch.arange(n_out).repeat_interleave(B).repeat(2)
    sign = torch.cat([torch.ones(n_out * B), -torch.ones(n_out * B)]).to(s.lower.dtype)
    x = (big.lower + big.upper) / 2 if big.center is None else big.center.clone()
    half = (big.upper - big.lower) / 2
    for i in range(steps):
        x = x.detach().requires_grad_(True)
        y = graph(x).flatten(1)
        obj = (y[torch.arange(len(which)), which] * sign).sum()
        g, = torch.autograd.grad(obj, x)
        if s.norm == 2:
            gf = g.flatten(1)
            step = (gf / gf.norm(dim=1, keepdim=True).clamp_min(1e-12)).view_as(x) * big.eps.view(-1, *[1] * (x.dim() - 1))
            x = big.project(x + 0.1 * step)
        else:
            x = big.project(x + 0.1 * half * g.sign())
    with torch.no_grad():
        y = graph(x).flatten(1)[torch.arange(len(which)), which].view(2, n_out, B)
    return y[1].T, y[0].T


def check_contains(graph, s: InputSet, lo, up, tol=1e-6):
    with torch.no_grad():
        pts = sample_set(s, 3000)
        ys = graph(pts.flatten(0, 1)).flatten(1).view(pts.shape[0], s.batch, -1)
    assert (ys.amin(0) >= lo - tol).all(), (ys.amin(0) - lo).min()
    assert (ys.amax(0) <= up + tol).all(), (up - ys.amax(0)).min()
    pmin, pmax = maximise_outputs(graph, s)
    assert (pmin >= lo - tol).all() and (pmax <= up + tol).all()


@settings(max_examples=40, deadline=None)
@given(kind=st.sampled_from(["mlp", "cnn", "residual"]), act=st.sampled_from(ACTS), seed=st.integers(0, 10_000),
       eps=st.floats(0.01, 0.8), norm=st.sampled_from([math.inf, 2.0]), method=st.sampled_from(METHODS),
       width=st.integers(1, 16), depth=st.integers(1, 4))
def test_bounds_contain_sampled_and_attacked_outputs(kind, act, seed, eps, norm, method, width, depth):
    graph = make(kind, act, seed, width=width, depth=depth)
    x = torch.randn(3, *graph.input_shape, generator=torch.Generator().manual_seed(seed))
    s = InputSet.ball(x, eps, norm)
    lo, up = compute_bounds(graph, s, None, method, alpha_iterations=5)
    assert lo.shape == up.shape == (3, graph.num_outputs)
    assert (lo <= up).all()
    check_contains(graph, s, lo, up)


@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("kind", ["mlp", "cnn", "residual"])
def test_crown_never_looser_than_ibp_and_alpha_never_looser_than_crown(kind, act):
    graph = make(kind, act, seed=7)
    x = torch.randn(4, *graph.input_shape, generator=torch.Generator().manual_seed(1))
    for eps in (0.05, 0.3):
        s = InputSet.ball(x, eps)
        li, ui = ibp(graph, s)
        lc, uc = crown(graph, s)
        la, ua = alpha_crown(graph, s, iterations=10)
        assert (lc >= li).all() and (uc <= ui).all()
        assert (la >= lc).all() and (ua <= uc).all()


def test_clipped_ball_and_box_sets_are_respected():
    graph = make("cnn", "relu", seed=3)
    x = torch.rand(2, *graph.input_shape)
    s = InputSet.ball(x, 0.3, math.inf, clip=(0.0, 1.0))
    assert (s.lower >= 0).all() and (s.upper <= 1).all()
    lo, up = crown(graph, s)
    check_contains(graph, s, lo, up)
    s2 = InputSet.ball(x, 0.5, 2.0, clip=(0.0, 1.0))
    lo2, up2 = crown(graph, s2)
    check_contains(graph, s2, lo2, up2)


def test_float64_agrees_with_float32_and_float32_is_not_tighter():
    g32 = make("mlp", "tanh", seed=5)
    g64 = g32.to(dtype=torch.float64)
    x = torch.randn(5, 3)
    l32, u32 = crown(g32, InputSet.ball(x, 0.2))
    l64, u64 = crown(g64, InputSet.ball(x.double(), 0.2))
    assert torch.allclose(l32.double(), l64, atol=1e-4) and torch.allclose(u32.double(), u64, atol=1e-4)


# --- exact maxima by MILP on tiny ReLU nets -----------------------------------------------------

def milp_extremes(graph, lower: np.ndarray, upper: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Exact min/max of each output of a linear/ReLU MLP over a box (big-M with IBP bounds)."""
    layers = [(n.params["W"].double().numpy(), n.params["b"].double().numpy())
              for n in graph.nodes if n.op == "linear"]
    s = InputSet.box(torch.as_tensor(lower)[None], torch.as_tensor(upper)[None])
    g64 = graph.to(dtype=torch.float64)
    from workbench.bounds.ibp import ibp_all
    pre = [(lo[0].numpy(), up[0].numpy()) for lo, up, n in
           [(*b, n) for b, n in zip(ibp_all(g64, s.to(dtype=torch.float64)), g64.nodes)] if n.op == "linear"]
    # variables: x (n0), then per hidden layer: z (pre), a (post), d (binary)
    n0 = len(lower)
    var_lo, var_up, integrality = list(lower), list(upper), [0] * n0
    rows, rlo, rup = [], [], []
    prev = list(range(n0))
    n_vars = n0

    def new(lo, up, integer=0):
        nonlocal n_vars
        var_lo.append(lo); var_up.append(up); integrality.append(integer)
        n_vars += 1
        return n_vars - 1

    out_vars = []
    for k, (W, b) in enumerate(layers):
        lo, up = pre[k]
        last = k == len(layers) - 1
        cur = []
        for j in range(W.shape[0]):
            z = new(lo[j] - 1e-6, up[j] + 1e-6)
            rows.append({z: -1.0, **{p: W[j, i] for i, p in enumerate(prev)}}); rlo.append(-b[j]); rup.append(-b[j])
            if last:
                cur.append(z)
                continue
            a = new(0.0, max(up[j], 0.0) + 1e-6)
            if up[j] <= 0:
                rows.append({a: 1.0}); rlo.append(0.0); rup.append(0.0)
            elif lo[j] >= 0:
                rows.append({a: 1.0, z: -1.0}); rlo.append(0.0); rup.append(0.0)
            else:
                d = new(0, 1, 1)
                rows.append({a: 1.0, z: -1.0}); rlo.append(0.0); rup.append(np.inf)              # a >= z
                rows.append({a: 1.0, z: -1.0, d: -lo[j]}); rlo.append(-np.inf); rup.append(-lo[j])  # a <= z - l(1-d)
                rows.append({a: 1.0, d: -up[j]}); rlo.append(-np.inf); rup.append(0.0)           # a <= u d
            cur.append(a)
        prev = cur
        out_vars = cur
    A = np.zeros((len(rows), n_vars))
    for r, row in enumerate(rows):
        for v, c in row.items():
            A[r, v] += c
    cons = LinearConstraint(A, rlo, rup)
    bounds = Bounds(var_lo, var_up)
    mins, maxs = [], []
    for v in out_vars:
        c = np.zeros(n_vars)
        for sign, store in ((1.0, mins), (-1.0, maxs)):
            c[v] = sign
            res = milp(c, constraints=cons, bounds=bounds, integrality=np.array(integrality))
            assert res.status == 0, res.message
            store.append(sign * res.fun)
    return np.array(mins), np.array(maxs)


@pytest.mark.parametrize("seed", range(6))
def test_bounds_against_exact_milp_extremes(seed):
    graph = mlp([3, 8, 8, 2], "relu", seed).to(dtype=torch.float64)
    rng = np.random.default_rng(seed)
    center = rng.normal(size=3)
    lower, upper = center - 0.4, center + 0.4
    exact_min, exact_max = milp_extremes(graph, lower, upper)
    s = InputSet.box(torch.as_tensor(lower)[None], torch.as_tensor(upper)[None])
    for method in METHODS:
        lo, up = compute_bounds(graph, s, None, method, alpha_iterations=20)
        assert (lo[0].numpy() <= exact_min + 1e-6).all(), (method, lo, exact_min)
        assert (up[0].numpy() >= exact_max - 1e-6).all(), (method, up, exact_max)
    # The exact values are reachable: sampling never goes beyond them either.
    with torch.no_grad():
        pts = sample_set(s, 20000)[:, 0]
        ys = graph(pts).numpy()
    assert (ys.min(0) >= exact_min - 1e-6).all() and (ys.max(0) <= exact_max + 1e-6).all()
