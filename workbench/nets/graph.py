"""The network representation every method works on: a small explicit graph of supported operators.

Loaders (ONNX, torch.export, TorchScript, state dicts) all produce a `Graph`; the bound
propagation code knows only these operators, so adding a format never touches the algorithms.
Values are batched: node values have shape [B, *node_shape]; `shapes[i]` excludes the batch dim.

Operators (`Node.op`) and their `params`:
- ``input``                      the network input (always node 0)
- ``linear``   W [out, in], b [out]            y = x @ W.T + b on the last dimension
- ``conv2d``   weight, bias, stride, padding, dilation, groups  (as torch.nn.functional.conv2d)
- ``affine``   scale, shift (tensors broadcastable to the node shape)   y = x * scale + shift
- ``relu``, ``tanh``, ``sigmoid``, ``softplus``, ``leaky_relu`` (alpha)
- ``reshape``  shape (tuple, batch excluded, may contain one -1)
- ``add``      two inputs, elementwise (residual connections)
AvgPool, BatchNorm, Sub/Mul/Div by constants are lowered by the loaders to conv2d/affine.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import torch
import torch.nn.functional as F

ACTIVATIONS = ("relu", "leaky_relu", "tanh", "sigmoid", "softplus")
OPS = ("input", "linear", "conv2d", "affine", "reshape", "add") + ACTIVATIONS


class GraphError(ValueError):
    """A graph that violates the representation's rules (a loader bug or a malformed model)."""


@dataclass
class Node:
    op: str
    inputs: tuple[int, ...] = ()
    params: dict[str, Any] = field(default_factory=dict)
    name: str = ""


def _conv(x: torch.Tensor, p: dict) -> torch.Tensor:
    return F.conv2d(x, p["weight"], p.get("bias"), p["stride"], p["padding"], p["dilation"], p["groups"])


def _reshape(x: torch.Tensor, p: dict) -> torch.Tensor:
    return x.reshape(x.shape[0], *p["shape"])


FORWARD: dict[str, Callable[..., torch.Tensor]] = {
    "linear": lambda x, p: F.linear(x, p["W"], p.get("b")),
    "conv2d": _conv,
    "affine": lambda x, p: x * p["scale"] + p["shift"],
    "reshape": _reshape,
    "relu": lambda x, p: torch.relu(x),
    "leaky_relu": lambda x, p: F.leaky_relu(x, p["alpha"]),
    "tanh": lambda x, p: torch.tanh(x),
    "sigmoid": lambda x, p: torch.sigmoid(x),
    # The exact log(1 + e^x): torch's softplus switches to x above 20, which bounds must not assume.
    "softplus": lambda x, p: torch.logaddexp(x, torch.zeros_like(x)),
}


class Graph:
    """A feed-forward DAG of supported operators, nodes in topological order, node 0 the input."""

    def __init__(self, input_shape: tuple[int, ...], nodes: list[Node], output: int | None = None,
                 name: str = "network"):
        self.input_shape = tuple(int(s) for s in input_shape)
        self.nodes = nodes
        self.output = len(nodes) - 1 if output is None else output
        self.name = name
        self._validate()
        self.shapes = self._infer_shapes()

    # -- structure -----------------------------------------------------------------------------
    def _validate(self) -> None:
        if not self.nodes or self.nodes[0].op != "input":
            raise GraphError("node 0 must be the input")
        for i, node in enumerate(self.nodes):
            if node.op not in OPS:
                raise GraphError(f"unknown operator {node.op!r}")
            if any(j >= i or j < 0 for j in node.inputs):
                raise GraphError(f"node {i} ({node.op}) is not in topological order")
            want = 0 if node.op == "input" else 2 if node.op == "add" else 1
            if len(node.inputs) != want:
                raise GraphError(f"node {i} ({node.op}) needs {want} inputs, has {len(node.inputs)}")

    def _infer_shapes(self) -> list[tuple[int, ...]]:
        x = torch.zeros(1, *self.input_shape, dtype=self.dtype, device=self.device)
        try:
            with torch.no_grad():
                values = self.forward_all(x)
        except RuntimeError as err:
            raise GraphError(f"the network's layers do not fit together: {err}") from None
        return [tuple(v.shape[1:]) for v in values]

    @property
    def output_shape(self) -> tuple[int, ...]:
        return self.shapes[self.output]

    @property
    def num_outputs(self) -> int:
        return int(torch.Size(self.output_shape).numel())

    def consumers(self) -> list[list[int]]:
        users: list[list[int]] = [[] for _ in self.nodes]
        for i, node in enumerate(self.nodes):
            for j in node.inputs:
                users[j].append(i)
        return users

    def tensors(self):
        for node in self.nodes:
            for value in node.params.values():
                if isinstance(value, torch.Tensor):
                    yield value

    @property
    def dtype(self) -> torch.dtype:
        return next(self.tensors(), torch.zeros(())).dtype

    @property
    def device(self) -> torch.device:
        return next(self.tensors(), torch.zeros(())).device

    def num_parameters(self) -> int:
        return sum(t.numel() for t in self.tensors())

    def to(self, device: str | torch.device | None = None, dtype: torch.dtype | None = None) -> "Graph":
        """A copy on another device / in another floating dtype."""
        def move(v):
            return v.to(device=device, dtype=dtype) if isinstance(v, torch.Tensor) else v
        nodes = [Node(n.op, n.inputs, {k: move(v) for k, v in n.params.items()}, n.name) for n in self.nodes]
        return Graph(self.input_shape, nodes, self.output, self.name)

    # -- evaluation ----------------------------------------------------------------------------
    def forward_all(self, x: torch.Tensor, end: int | None = None) -> list[torch.Tensor]:
        """All node values for a batch x [B, *input_shape] (with ``end``: of nodes 0..end)."""
        if tuple(x.shape[1:]) != self.input_shape:
            raise GraphError(f"input of shape {tuple(x.shape[1:])} given, the network takes {self.input_shape}")
        values: list[torch.Tensor] = []
        for node in self.nodes[: None if end is None else end + 1]:
            if node.op == "input":
                values.append(x)
            elif node.op == "add":
                values.append(values[node.inputs[0]] + values[node.inputs[1]])
            else:
                values.append(FORWARD[node.op](values[node.inputs[0]], node.params))
        return values

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_all(x)[self.output]

    __call__ = forward

    def summary(self) -> list[dict]:
        """One row per node: name, operator, output shape, parameter count (for CLI and GUI)."""
        rows = []
        for i, node in enumerate(self.nodes):
            n_params = sum(v.numel() for v in node.params.values() if isinstance(v, torch.Tensor))
            rows.append({"index": i, "name": node.name or f"{node.op}_{i}", "op": node.op,
                         "shape": list(self.shapes[i]), "parameters": int(n_params)})
        return rows

    def __repr__(self) -> str:
        ops = ", ".join(n.op for n in self.nodes[1:])
        return f"Graph({self.name!r}, input {self.input_shape} -> {self.output_shape}: {ops})"
