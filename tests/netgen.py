"""Random networks of every supported operator, for soundness tests."""
from __future__ import annotations

import math

import torch

from workbench.nets.graph import Graph, Node

ACTS = ["relu", "leaky_relu", "tanh", "sigmoid", "softplus"]


def _act(nodes: list[Node], act: str) -> None:
    nodes.append(Node(act, (len(nodes) - 1,), {"alpha": 0.2} if act == "leaky_relu" else {}))


def _lin(nodes, gen, n_in, n_out, dtype):
    W = torch.randn(n_out, n_in, generator=gen, dtype=dtype) / math.sqrt(n_in) * 1.5
    b = torch.randn(n_out, generator=gen, dtype=dtype) * 0.3
    nodes.append(Node("linear", (len(nodes) - 1,), {"W": W, "b": b}))


def mlp(sizes: list[int], act: str, seed: int = 0, dtype=torch.float32) -> Graph:
    gen = torch.Generator().manual_seed(seed)
    nodes = [Node("input")]
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        _lin(nodes, gen, a, b, dtype)
        if i < len(sizes) - 2:
            _act(nodes, act)
    return Graph((sizes[0],), nodes)


def cnn(act: str, seed: int = 0, channels: int = 3, size: int = 6, dtype=torch.float32) -> Graph:
    """affine (normalisation) - conv - act - avgpool(as conv) - BN(affine) - conv - act - flatten - linear."""
    gen = torch.Generator().manual_seed(seed)
    r = lambda *s: torch.randn(*s, generator=gen, dtype=dtype)  # noqa: E731
    nodes = [Node("input"),
             Node("affine", (0,), {"scale": 1 + 0.2 * r(1, 1, 1).abs(), "shift": 0.1 * r(1, 1, 1)})]
    conv = lambda cin, cout, k, s, p: {"weight": r(cout, cin, k, k) / math.sqrt(cin * k * k) * 1.5,  # noqa: E731
                                       "bias": 0.2 * r(cout), "stride": (s, s), "padding": (p, p),
                                       "dilation": (1, 1), "groups": 1}
    nodes.append(Node("conv2d", (1,), conv(1, channels, 3, 1, 1)))
    _act(nodes, act)
    pool = torch.full((channels, 1, 2, 2), 0.25, dtype=dtype)
    nodes.append(Node("conv2d", (len(nodes) - 1,), {"weight": pool, "bias": None, "stride": (2, 2), "padding": (0, 0),
                                                     "dilation": (1, 1), "groups": channels}))
    nodes.append(Node("affine", (len(nodes) - 1,), {"scale": 1 + 0.3 * r(channels, 1, 1), "shift": 0.1 * r(channels, 1, 1)}))
    nodes.append(Node("conv2d", (len(nodes) - 1,), conv(channels, 4, 2, 1, 0)))
    _act(nodes, act)
    nodes.append(Node("reshape", (len(nodes) - 1,), {"shape": (-1,)}))
    g = Graph((1, size, size), nodes)
    _lin(nodes, gen, g.shapes[-1][0], 3, dtype)
    return Graph((1, size, size), nodes)


def residual(act: str, seed: int = 0, width: int = 8, dtype=torch.float32) -> Graph:
    """x -> linear -> act -> [linear -> act -> linear] + skip -> act -> linear."""
    gen = torch.Generator().manual_seed(seed)
    nodes = [Node("input")]
    _lin(nodes, gen, 4, width, dtype)
    _act(nodes, act)
    skip = len(nodes) - 1
    _lin(nodes, gen, width, width, dtype)
    _act(nodes, act)
    _lin(nodes, gen, width, width, dtype)
    nodes.append(Node("add", (skip, len(nodes) - 1)))
    _act(nodes, act)
    _lin(nodes, gen, width, 3, dtype)
    return Graph((4,), nodes)


def make(kind: str, act: str, seed: int, dtype=torch.float32, width: int = 10, depth: int = 2) -> Graph:
    """A random network of one of three families; width/depth vary the shapes (MLP widths,
    CNN channels and image size, residual width)."""
    if kind == "mlp":
        return mlp([3] + [width + i for i in range(depth)] + [4], act, seed, dtype)
    if kind == "cnn":
        return cnn(act, seed, channels=max(1, width // 3), size=4 + 2 * (depth % 3), dtype=dtype)
    return residual(act, seed, width=width, dtype=dtype)


# -- PINNs: (t, x) inputs, tanh MLPs ------------------------------------------------------------
def tanh_graph(widths: list[int], n_out: int, seed: int, gain: float = 1.5) -> Graph:
    """Input normalisation (affine) then linear/tanh layers, as ONNX PINNs come."""
    gen = torch.Generator().manual_seed(seed)
    nodes = [Node("input"), Node("affine", (0,), {"scale": torch.tensor([2.0, 0.5]) + torch.rand(2, generator=gen),
                                                  "shift": torch.randn(2, generator=gen) * 0.3})]
    sizes = [2] + widths + [n_out]
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        W = torch.randn(b, a, generator=gen) * gain / math.sqrt(a)
        nodes.append(Node("linear", (len(nodes) - 1,), {"W": W, "b": torch.randn(b, generator=gen) * 0.5}))
        if i < len(sizes) - 2:
            nodes.append(Node("tanh", (len(nodes) - 1,)))
    return Graph((2,), nodes)


def sample_boxes(lower: torch.Tensor, upper: torch.Tensor, n: int = 36, seed: int = 0) -> torch.Tensor:
    """Points [B, 4 + n, d]: the corners (2-D boxes) and n uniform points per box, inside exactly."""
    gen = torch.Generator().manual_seed(seed)
    B, d = lower.shape
    u = torch.rand(B, n, d, generator=gen, dtype=torch.float64)
    corners = torch.tensor([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=torch.float64).expand(B, -1, -1)
    u = torch.cat([corners, u], 1)
    lo, up = lower.double()[:, None], upper.double()[:, None]
    return torch.minimum(torch.maximum(lo + (up - lo) * u, lo), up)
