"""Simplifying `Graph`s: the fusion pass that folds affines into the layers before them.

The builder that loaders use to make graphs lives in `builder.py`; its names are re-exported
here, where they used to live.
"""
from __future__ import annotations

import torch

from workbench.nets.builder import WORK_DTYPE, GraphBuilder, as_tensor, pair
from workbench.nets.errors import Unsupported
from workbench.nets.graph import Graph, Node

__all__ = ["WORK_DTYPE", "GraphBuilder", "Unsupported", "as_tensor", "pair", "simplify"]


# -- simplification ------------------------------------------------------------------------------
def _per_last(t: torch.Tensor, n: int, rank: int) -> torch.Tensor | None:
    """t as a length-n vector if it only varies along the last of `rank` dims, else None."""
    shape = (1,) * (rank - t.dim()) + tuple(t.shape)
    if any(d != 1 for d in shape[:-1]) or shape[-1] not in (1, n):
        return None
    return t.reshape(-1).expand(n)


def _per_channel(t: torch.Tensor, n: int) -> torch.Tensor | None:
    """t as a length-n vector if it only varies along dim 0 of a [C, H, W] value, else None."""
    shape = (1,) * (3 - t.dim()) + tuple(t.shape)
    if len(shape) != 3 or shape[1:] != (1, 1) or shape[0] not in (1, n):
        return None
    return t.reshape(-1).expand(n)


def _fuse(prev: Node, prev_shape: tuple[int, ...], aff: Node) -> dict | None:
    """Parameters of `prev` followed by the affine `aff`, as one node of prev's kind, or None."""
    s, t = aff.params["scale"], aff.params["shift"]
    if prev.op == "affine":
        s0, t0 = prev.params["scale"], prev.params["shift"]
        return {"scale": s0 * s, "shift": t0 * s + t}
    if prev.op == "linear":
        W = prev.params["W"]
        sv, tv = _per_last(s, W.shape[0], len(prev_shape)), _per_last(t, W.shape[0], len(prev_shape))
        if sv is None or tv is None:
            return None
        b = prev.params.get("b")
        b = torch.zeros_like(tv) if b is None else b
        return {**prev.params, "W": W * sv[:, None], "b": b * sv + tv}
    if prev.op == "conv2d":
        w = prev.params["weight"]
        sv, tv = _per_channel(s, w.shape[0]), _per_channel(t, w.shape[0])
        if sv is None or tv is None:
            return None
        b = prev.params.get("bias")
        b = torch.zeros_like(tv) if b is None else b
        return {**prev.params, "weight": w * sv[:, None, None, None], "bias": b * sv + tv}
    return None


def _is_identity(node: Node) -> bool:
    return (node.op == "affine" and bool(torch.all(node.params["scale"] == 1))
            and bool(torch.all(node.params["shift"] == 0)))


def simplify(graph: Graph) -> Graph:
    """The same function with fewer nodes: affines folded into the linear/conv/affine before them.

    A fold needs the earlier node to feed only the affine (otherwise its other users would see
    the scaled value) and, for linear/conv, a scale and shift that are per output feature /
    channel. Identity affines and reshapes to the same shape are dropped.
    """
    nodes = [Node(n.op, n.inputs, dict(n.params), n.name) for n in graph.nodes]
    n_users = [len(u) for u in graph.consumers()]
    is_output = [i == graph.output for i in range(len(nodes))]
    alias = list(range(len(nodes)))  # which kept node now computes node i's value
    for i, node in enumerate(nodes):
        node.inputs = tuple(alias[j] for j in node.inputs)
        if node.op not in ("affine", "reshape") or not node.inputs:
            continue
        j = node.inputs[0]
        if graph.shapes[i] != graph.shapes[j]:
            continue  # a real reshape, or an affine that broadcasts its input to a larger shape
        if node.op == "reshape" or _is_identity(node):
            fused = None
        elif node.op == "affine" and n_users[j] == 1 and not is_output[j] and nodes[j].op != "input":
            fused = _fuse(nodes[j], graph.shapes[j], node)
            if fused is None or torch.broadcast_shapes(graph.shapes[j], *[
                    v.shape for k, v in fused.items() if k in ("scale", "shift")]) != graph.shapes[j]:
                continue
            nodes[j].params = fused
            nodes[j].name = nodes[j].name or node.name
            n_users[j] = n_users[i]
        else:
            continue
        alias[i] = j
        is_output[j] = is_output[j] or is_output[i]
        if fused is None:  # dropped a no-op: its users now use j too
            n_users[j] += n_users[i] - 1
    kept = [i for i in range(len(nodes)) if alias[i] == i]
    new_index = {old: new for new, old in enumerate(kept)}
    out_nodes = [Node(nodes[i].op, tuple(new_index[alias[j]] for j in nodes[i].inputs),
                      nodes[i].params, nodes[i].name) for i in kept]
    return Graph(graph.input_shape, out_nodes, new_index[alias[graph.output]], graph.name)
