"""refine.py: the input of a ReLU that nothing else reads is bounded from above first, and from
below only where the neuron may be active. The relaxations, and so the CROWN bounds, must be
those of bounding both sides of every undecided neuron, with fewer rows pushed back."""
from __future__ import annotations

import pytest
import torch

from tests.netgen import mlp
from tests.test_bounds_shortcuts import assert_close, ball
from workbench.bounds import crown as crown_mod, refine
from workbench.bounds.crown import crown, intermediate_bounds
from workbench.nets.graph import Graph, Node

F64 = torch.float64


@pytest.fixture
def rows(monkeypatch):
    """Counts the rows pushed back (per sample, summed over calls)."""
    counted = [0]
    inner = refine.bound_rows

    def spy(graph, inputs, node, neurons, side, relax):
        counted[0] += neurons.shape[1] * (2 if side == refine.BOTH else 1)
        return inner(graph, inputs, node, neurons, side, relax)
    monkeypatch.setattr(refine, "bound_rows", spy)
    return counted


def both_sides(monkeypatch, fn):
    """fn() with both sides of every undecided neuron bounded, as plain CROWN does."""
    inner = crown_mod.refine_layer
    with monkeypatch.context() as m:
        m.setattr(crown_mod, "refine_layer", lambda *a, upper_first: inner(*a, upper_first=False))
        return fn()


def run(graph, inputs):
    bounds, relax = intermediate_bounds(graph, inputs)
    return bounds, relax, crown(graph, inputs)


@pytest.mark.parametrize("sizes", [[12, 60, 50, 40, 4], [40, 60, 50, 4]])   # narrow and wide first layer
@pytest.mark.parametrize("act", ["relu", "leaky_relu"])
@pytest.mark.parametrize("batch, spread", [(1, 1.0), (5, 0.2), (5, 3.0)])
def test_upper_bounds_first_change_no_bound_that_is_used(monkeypatch, rows, sizes, act, batch, spread):
    graph = mlp(sizes, act, seed=batch, dtype=F64)
    inputs = ball(graph, batch, 0.15, F64, seed=batch, spread=spread)
    bounds, relax, (lo, up) = run(graph, inputs)
    ours, rows[0] = rows[0], 0
    ref_bounds, ref_relax, (ref_lo, ref_up) = both_sides(monkeypatch, lambda: run(graph, inputs))
    if act == "leaky_relu":   # its output reads both sides
        assert ours == rows[0]
    else:   # (a batch may share its rows: one sample's active neuron is another's inactive one)
        assert ours < rows[0] if batch == 1 else ours <= rows[0]
    assert_close(lo, ref_lo, 1e-12)
    assert_close(up, ref_up, 1e-12)
    for i, r in relax.items():
        for name in ("slope_lo", "icpt_lo", "slope_up", "icpt_up"):
            assert_close(getattr(r, name), getattr(ref_relax[i], name), 1e-12)
    for i in relax:   # where a ReLU's input straddles 0, both of its bounds are exactly CROWN's
        (b_lo, b_up), (r_lo, r_up) = bounds[i - 1], ref_bounds[i - 1]
        straddle = (b_lo < 0) & (b_up > 0)
        assert_close(b_lo[straddle], r_lo[straddle], 1e-12)
        assert_close(b_up[straddle], r_up[straddle], 1e-12)


def test_intermediate_bounds_contain_sampled_values():
    graph = mlp([12, 60, 50, 40, 4], "relu", seed=3, dtype=F64)
    inputs = ball(graph, 5, 0.15, F64, seed=3)
    bounds, _ = intermediate_bounds(graph, inputs)
    gen = torch.Generator().manual_seed(3)
    noise = 0.15 * (2 * torch.rand(4000, 5, 12, generator=gen, dtype=F64) - 1)
    x = inputs.project(inputs.center + noise).flatten(0, 1)
    for value, (lo, up) in zip(graph.forward_all(x), bounds):
        value = value.view(4000, 5, -1)
        assert bool((value >= lo.flatten(1) - 1e-9).all() and (value <= up.flatten(1) + 1e-9).all())


def test_a_relu_input_read_elsewhere_keeps_both_sides(monkeypatch):
    """x -> W1 -> relu -> W2 -> z -> relu -> W3 -> (+ z) -> relu -> W4: z is also read by the
    residual add, so its lower bounds matter even where its ReLU is inactive."""
    gen = torch.Generator().manual_seed(5)
    r = lambda *s: torch.randn(*s, generator=gen, dtype=F64) / s[-1] ** 0.5 * 1.5  # noqa: E731
    nodes = [Node("input"), Node("linear", (0,), {"W": r(30, 8), "b": r(30)}), Node("relu", (1,)),
             Node("linear", (2,), {"W": r(30, 30), "b": r(30)}), Node("relu", (3,)),
             Node("linear", (4,), {"W": r(30, 30), "b": r(30)}), Node("add", (5, 3)), Node("relu", (6,)),
             Node("linear", (7,), {"W": r(3, 30), "b": r(3)})]
    graph = Graph((8,), nodes)
    inputs = ball(graph, 1, 0.3, F64, seed=5)
    per_node: dict[int, list[int]] = {}
    inner = refine.bound_rows

    def spy(graph, inputs, node, neurons, side, relax):
        per_node.setdefault(node, []).append(neurons.shape[1] * (2 if side == refine.BOTH else 1))
        return inner(graph, inputs, node, neurons, side, relax)
    monkeypatch.setattr(refine, "bound_rows", spy)
    bounds, _, (lo, up) = run(graph, inputs)
    ours, per_node = per_node, {}
    ref_bounds, _, (ref_lo, ref_up) = both_sides(monkeypatch, lambda: run(graph, inputs))
    assert sum(ours[3]) == sum(per_node[3]) > 0      # z: both sides of every undecided neuron
    assert sum(ours[6]) < sum(per_node[6])           # the add feeds its ReLU alone: upper first
    assert_close(lo, ref_lo, 1e-12)
    assert_close(up, ref_up, 1e-12)
    assert_close(bounds[3][0], ref_bounds[3][0], 1e-12)
    assert_close(bounds[3][1], ref_bounds[3][1], 1e-12)
