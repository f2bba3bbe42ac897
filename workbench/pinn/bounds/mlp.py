"""A tanh MLP as plain weight matrices, read off a `Graph`, and its derivatives by forward mode.

∂-CROWN needs the network as z_k = W_k·a_{k-1} + b_k, a_k = tanh(z_k), u = z_L. Loaders keep
input normalisation as ``affine`` nodes (or have fused it into the first ``linear``); any run of
affine/linear nodes is one affine map, so we compose each run (in float64) into one layer.
Folding the normalisation into W_1 is what makes the derivative seeds right: ∂z_1/∂x_i is then
simply W_1[:, i] (e.g. 2·W[:, 0] for the Burgers model's t̂ = 2t - 1), in raw input units.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch

from workbench.nets.errors import Unsupported
from workbench.nets.graph import Graph

Tensor = torch.Tensor
ORDER_PREFIX = "u"


@dataclass
class TanhMLP:
    """Layers (W_k [n_k, n_{k-1}], b_k [n_k]), tanh after every layer but the last."""
    weights: list[Tensor]
    biases: list[Tensor]

    @property
    def n_inputs(self) -> int:
        return self.weights[0].shape[1]

    @property
    def n_outputs(self) -> int:
        return self.weights[-1].shape[0]

    def to(self, device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> "TanhMLP":
        return TanhMLP([w.to(device=device, dtype=dtype) for w in self.weights],
                       [b.to(device=device, dtype=dtype) for b in self.biases])


def tanh_mlp(graph: Graph) -> TanhMLP:
    """The graph as a float64 `TanhMLP` (so that folding a normalisation into a float32 layer
    rounds nothing); raises `Unsupported` (listing every offending node) unless the graph is a
    chain of linear/affine nodes with tanh between them on a flat input."""
    if len(graph.input_shape) != 1:
        raise Unsupported(f"∂-CROWN needs a flat input, not shape {graph.input_shape}")
    problems = []
    width = graph.input_shape[0]
    M = torch.eye(width, dtype=torch.float64, device=graph.device)
    c = torch.zeros(width, dtype=torch.float64, device=graph.device)
    weights, biases = [], []
    for i, node in enumerate(graph.nodes[1:], start=1):
        if node.inputs != (i - 1,):
            problems.append(f"{node.name or node.op} (node {i}) is not in a plain chain")
            continue
        p = {k: v.double() if isinstance(v, Tensor) else v for k, v in node.params.items()}
        if node.op == "linear":
            M, c = p["W"] @ M, p["W"] @ c + (p["b"] if p.get("b") is not None else 0)
        elif node.op == "affine":
            s = torch.broadcast_to(p["scale"], (M.shape[0],))
            M, c = s[:, None] * M, s * c + torch.broadcast_to(p["shift"], (M.shape[0],))
        elif node.op == "reshape" and graph.shapes[i] == graph.shapes[i - 1]:
            continue
        elif node.op == "tanh":
            weights.append(M)
            biases.append(c)
            M = torch.eye(M.shape[0], dtype=torch.float64, device=graph.device)
            c = torch.zeros(M.shape[0], dtype=torch.float64, device=graph.device)
        else:
            problems.append(f"{node.op} (node {i}" + (f" '{node.name}')" if node.name else ")"))
    if graph.output != len(graph.nodes) - 1:
        problems.append("the output is not the last node")
    if problems:
        raise Unsupported("∂-CROWN handles tanh MLPs only; unsupported: " + ", ".join(problems))
    weights.append(M)
    biases.append(c)
    return TanhMLP(weights, biases)


def parse_orders(orders: Sequence[str], variables: Sequence[str]) -> list[tuple[int, ...]]:
    """'u' -> (), 'u_x' -> (index of x,), 'u_tx' -> (index of t, index of x) (sorted: mixed
    partials commute). Variable names are single letters."""
    index = {v: i for i, v in enumerate(variables)}
    out = []
    for name in orders:
        head, _, tail = name.partition("_")
        if head != ORDER_PREFIX or (name != head and not tail) or len(tail) > 2 \
                or any(ch not in index for ch in tail):
            raise ValueError(f"unknown derivative {name!r}: use u, u_<v> or u_<v><w> with v, w in {tuple(variables)}")
        out.append(tuple(sorted(index[ch] for ch in tail)))
    return out


def evaluate(mlp: TanhMLP, x: Tensor, orders: Sequence[str] = ("u", "u_t", "u_x", "u_xx"),
             variables: Sequence[str] = ("t", "x")) -> dict[str, Tensor]:
    """Exact values [N, n_outputs] of the requested derivatives at points x [N, n_inputs], by the
    forward-mode recurrence (cheaper than autograd for the empirical maxima)."""
    keys = parse_orders(orders, variables)
    dirs = sorted({i for k in keys for i in k})
    pairs = sorted({k for k in keys if len(k) == 2})
    W0 = mlp.weights[0]
    z = x @ W0.T + mlp.biases[0]
    dz = {i: W0[:, i].expand_as(z) for i in dirs}
    d2z = {p: torch.zeros_like(z) for p in pairs}
    for W, b in zip(mlp.weights[1:], mlp.biases[1:]):
        t = torch.tanh(z)
        g, h = 1 - t * t, -2 * t * (1 - t * t)
        d2a = {(i, j): h * dz[i] * dz[j] + g * d2z[(i, j)] for i, j in pairs}
        z, dz = t @ W.T + b, {i: (g * dz[i]) @ W.T for i in dirs}
        d2z = {p: d2a[p] @ W.T for p in pairs}
    values = {(): z, **{(i,): dz[i] for i in dirs}, **d2z}
    return {name: values[k] for name, k in zip(orders, keys)}
