"""Patches mode (bounds/patches.py) gives the dense path's CROWN bounds of conv neurons."""
from __future__ import annotations

import math

import pytest
import torch

from workbench.bounds import refine
from workbench.bounds import patches
from workbench.bounds.crown import crown, intermediate_bounds
from workbench.bounds.sets import InputSet
from workbench.nets.graph import Graph, Node

# Conv layer geometries: (kernel, stride, padding, dilation, groups), square or not.
GEOMETRIES = [
    [(3, 1, 1, 1, 1), (4, 2, 1, 1, 1), (2, 1, 0, 1, 2)],
    [((3, 2), (2, 1), (1, 0), (1, 2), 1), (3, 1, 2, 2, 2), (3, 2, 1, 1, 1)],
    [(5, 2, 2, 1, 1), (1, 1, 0, 1, 1), ((2, 3), 1, (0, 1), 1, 1)],
]


def _pair(v) -> tuple[int, int]:
    return v if isinstance(v, tuple) else (v, v)


def conv_net(act: str, geometry: list, seed: int = 0, dtype=torch.float32, size: tuple = (13, 11)) -> Graph:
    """input (2 channels) -> per-channel affine -> [conv -> act (-> affine)] x 3 -> linear, the
    first inner affine per position (as avgpool's count correction), the second per channel (BN)."""
    gen = torch.Generator().manual_seed(seed)
    r = lambda *s: torch.randn(*s, generator=gen, dtype=dtype)  # noqa: E731
    nodes = [Node("input"), Node("affine", (0,), {"scale": 1 + 0.2 * r(2, 1, 1), "shift": 0.1 * r(2, 1, 1)})]
    shape = (2, *size)
    for n, ((k, s, p, d, g), cout) in enumerate(zip(geometry, [4, 6, 4])):
        k = _pair(k)
        w = r(cout, shape[0] // g, *k) * 1.5 / math.sqrt(shape[0] // g * k[0] * k[1])
        nodes.append(Node("conv2d", (len(nodes) - 1,), {"weight": w, "bias": 0.2 * r(cout), "stride": _pair(s),
                                                        "padding": _pair(p), "dilation": _pair(d), "groups": g}))
        nodes.append(Node(act, (len(nodes) - 1,), {"alpha": 0.1} if act == "leaky_relu" else {}))
        shape = Graph((2, *size), nodes).shapes[-1]
        if n < 2:
            where = shape if n == 0 else (shape[0], 1, 1)
            nodes.append(Node("affine", (len(nodes) - 1,), {"scale": 1 + 0.2 * r(*where), "shift": 0.3 * r(*where)}))
    n_flat = math.prod(shape)
    nodes.append(Node("reshape", (len(nodes) - 1,), {"shape": (-1,)}))
    nodes.append(Node("linear", (len(nodes) - 1,), {"W": r(3, n_flat) / math.sqrt(n_flat), "b": r(3)}))
    return Graph((2, *size), nodes)


def input_set(kind: str, graph: Graph, dtype, seed: int = 0) -> InputSet:
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(3, *graph.input_shape, generator=gen, dtype=dtype)
    if kind == "box":
        w = 0.2 * torch.rand(x.shape, generator=gen, dtype=dtype)
        return InputSet.box(x - w, x + w)
    if kind == "clip":
        return InputSet.ball(x, 0.15, math.inf, clip=(0.0, 1.0))
    if kind == "l2":
        return InputSet.ball(x, 0.5, 2.0)
    return InputSet.ball(x, 0.1)


@pytest.fixture
def counted(monkeypatch):
    """Counts the refinements patches mode answered (so a test cannot pass on the dense path alone)."""
    calls = []
    inner = patches.refine_patches

    def wrapper(*args):
        out = inner(*args)
        if patches.ENABLED:
            calls.append(out is not None)
        return out
    monkeypatch.setattr(patches, "refine_patches", wrapper)
    return calls


def both_modes(monkeypatch, fn):
    """fn() in patches mode and in dense mode."""
    with_patches = fn()
    monkeypatch.setattr(patches, "ENABLED", False)
    dense = fn()
    monkeypatch.setattr(patches, "ENABLED", True)
    return with_patches, dense


def assert_close(a: torch.Tensor, b: torch.Tensor, rel: float) -> None:
    scale = 1 + float(b.abs().max())
    assert float((a - b).abs().max()) <= rel * scale, float((a - b).abs().max())


@pytest.mark.parametrize("dtype,rel", [(torch.float32, 1e-5), (torch.float64, 1e-9)])
@pytest.mark.parametrize("geometry", range(len(GEOMETRIES)))
@pytest.mark.parametrize("act,kind", [("relu", "linf"), ("tanh", "clip"), ("sigmoid", "box"),
                                      ("leaky_relu", "l2"), ("relu", "box")])
def test_intermediate_bounds_equal_the_dense_path(monkeypatch, counted, act, kind, geometry, dtype, rel):
    graph = conv_net(act, GEOMETRIES[geometry], seed=geometry, dtype=dtype)
    s = input_set(kind, graph, dtype, seed=geometry)
    with torch.no_grad():
        (fast, _), (dense, _) = both_modes(monkeypatch, lambda: intermediate_bounds(graph, s))
    assert any(counted), "patches mode never applied"
    for (lo, up), (dlo, dup) in zip(fast, dense):
        assert_close(lo, dlo, rel)
        assert_close(up, dup, rel)


@pytest.mark.parametrize("shared", [True, False])
@pytest.mark.parametrize("act", ["relu", "tanh"])
def test_refine_equals_dense_for_shared_and_per_sample_neurons(monkeypatch, counted, act, shared):
    """bound_rows itself, on given neurons: one set for the batch [1, K] or one per sample [B, K],
    each side and both."""
    graph = conv_net(act, GEOMETRIES[0], dtype=torch.float64)
    s = input_set("linf", graph, torch.float64)
    with torch.no_grad():
        _, relax = intermediate_bounds(graph, s)
        for node in (i for i, n in enumerate(graph.nodes) if n.op == "conv2d" and i > 2):
            n_neurons = math.prod(graph.shapes[node])
            gen = torch.Generator().manual_seed(node)
            neurons = torch.randperm(n_neurons, generator=gen)[:7].sort().values[None] if shared else \
                torch.stack([torch.randperm(n_neurons, generator=gen)[:7] for _ in range(s.batch)])
            results = {}
            for side in (refine.BOTH, refine.LOWER, refine.UPPER):
                fast, dense = both_modes(monkeypatch, lambda: refine.bound_rows(graph, s, node, neurons, side, relax))
                assert fast.shape == (s.batch, 14 if side == refine.BOTH else 7)
                assert_close(fast, dense, 1e-9)
                results[side] = fast
            assert_close(results[refine.BOTH], torch.cat([results[refine.LOWER], results[refine.UPPER]], 1), 1e-12)
    assert counted and all(counted)


@pytest.mark.parametrize("act,kind", [("relu", "linf"), ("tanh", "box"), ("relu", "l2")])
def test_crown_bounds_contain_sampled_outputs(counted, act, kind):
    graph = conv_net(act, GEOMETRIES[1], seed=5)
    s = input_set(kind, graph, torch.float32, seed=5)
    with torch.no_grad():
        lo, up = crown(graph, s)
        gen = torch.Generator().manual_seed(0)
        u = torch.rand(400, *s.lower.shape, generator=gen)
        u[:100] = u[:100].round()   # box corners
        pts = torch.stack([s.project(p) for p in s.lower + (s.upper - s.lower) * u])
        ys = graph(pts.flatten(0, 1)).view(400, s.batch, -1)
    assert any(counted)
    assert (ys.amin(0) >= lo - 1e-5).all() and (ys.amax(0) <= up + 1e-5).all()


def test_falls_back_where_patches_do_not_apply(counted):
    """A skip connection, or patches as large as the feature map: the dense path answers."""
    gen = torch.Generator().manual_seed(0)
    conv = lambda cin, k, p: {"weight": torch.randn(3, cin, k, k, generator=gen), "bias": torch.zeros(3),  # noqa: E731
                              "stride": (1, 1), "padding": (p, p), "dilation": (1, 1), "groups": 1}
    skip = Graph((1, 8, 8), [Node("input"), Node("conv2d", (0,), conv(1, 3, 1)), Node("relu", (1,)),
                             Node("conv2d", (2,), conv(3, 3, 1)), Node("add", (1, 3)), Node("relu", (4,)),
                             Node("conv2d", (5,), conv(3, 3, 1)), Node("relu", (6,))])
    big = Graph((1, 5, 5), [Node("input"), Node("conv2d", (0,), conv(1, 5, 2)), Node("relu", (1,)),
                            Node("conv2d", (2,), conv(3, 5, 2)), Node("relu", (3,))])
    for graph in (skip, big):
        s = InputSet.ball(torch.rand(2, *graph.input_shape, generator=gen), 0.2)
        with torch.no_grad():
            lo, up = crown(graph, s)
        assert counted and not any(counted)
        assert (lo <= graph(s.center).flatten(1)).all() and (up >= graph(s.center).flatten(1)).all()
        counted.clear()
