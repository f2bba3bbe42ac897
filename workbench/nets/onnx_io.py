"""ONNX models to and from `Graph`.

Reading is two passes. `scan` walks the whole model and collects every operator (or use of
an operator) the core graph cannot express, so the user sees the full list at once. Then the
conversion: nodes whose inputs are all constant are evaluated at load time with ONNX's
reference evaluator (normalisation constants, shape arithmetic); the rest go through `RULES`
(in `onnx_ops.py`), a table from op type to (check, convert). The model input's first dimension
is the batch. Writing goes through `WRITERS`, a table from core op to ONNX nodes.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import onnx
import torch
from onnx import helper, numpy_helper

from workbench.nets.builder import GraphBuilder
from workbench.nets.errors import ModelLoadError, Unsupported, UnsupportedModelError, first_line
from workbench.nets.graph import Graph
from workbench.nets.onnx_ops import RULES, Context, Rule, attrs, is_foldable

__all__ = ["OPSET", "RULES", "Context", "Rule", "attrs", "graph_from_onnx", "graph_to_onnx", "is_foldable",
           "scan"]  # the operator table lives in onnx_ops

OPSET = 13
_TRAINING_OUTPUTS = {"Dropout", "BatchNormalization"}  # outputs after the first exist only in training


# -- reading ---------------------------------------------------------------------------------------
def graph_from_onnx(source: str | Path | bytes | onnx.ModelProto, *, dtype: torch.dtype = torch.float32,
                    fuse: bool = True) -> Graph:
    """The ONNX model in `source` (a path, serialized bytes or a ModelProto) as a Graph."""
    label = Path(source).name if isinstance(source, (str, Path)) else "model"
    model = source if isinstance(source, onnx.ModelProto) else _read(source, label)
    ctx = _context(model, label)
    problems = scan(model, ctx)
    if problems:
        raise UnsupportedModelError(label, problems)
    _convert(model, ctx, label)
    out = ctx.values.get(model.graph.output[0].name)
    if not isinstance(out, int):
        raise UnsupportedModelError(label, ["an output that does not depend on the input"])
    return ctx.b.build(out, Path(label).stem, dtype, fuse)


def _read(source: str | Path | bytes, label: str) -> onnx.ModelProto:
    try:
        if isinstance(source, (bytes, bytearray)):
            return onnx.load_model_from_string(bytes(source))
        return onnx.load(str(source))
    except Exception as err:
        raise ModelLoadError(f"{label}: not a readable ONNX model ({first_line(err)})") from None


def _context(model: onnx.ModelProto, label: str) -> Context:
    g = model.graph
    try:
        values: dict = {t.name: numpy_helper.to_array(t) for t in g.initializer}
    except Exception as err:
        raise ModelLoadError(f"{label}: an initializer cannot be read ({first_line(err)})") from None
    # Old exporters (IR < 4, e.g. ACAS Xu) list every initializer as a graph input too.
    inputs = [i for i in g.input if i.name not in values]
    if not inputs or not g.output:
        raise ModelLoadError(f"{label}: no graph input or output (empty, or not an ONNX model)")
    if len(inputs) != 1 or len(g.output) != 1:
        raise UnsupportedModelError(label, [f"{len(inputs)} inputs and {len(g.output)} outputs "
                                            f"(exactly one of each is supported)"])
    dims = inputs[0].type.tensor_type.shape.dim
    fixed = [d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else None for d in dims]
    if len(dims) < 2 or None in fixed[1:]:
        raise ModelLoadError(f"{label}: input shape {[d.dim_value or d.dim_param or '?' for d in dims]} "
                             f"needs a batch dimension first and fixed sizes after it")
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), OPSET)
    values[inputs[0].name] = 0
    return Context(GraphBuilder(fixed[1:], inputs[0].name), values, opset, fixed[0])


def scan(model: onnx.ModelProto, ctx: Context) -> list[str]:
    """Every unsupported operator or operator use in the model, found without converting."""
    constant = {k for k, v in ctx.values.items() if not isinstance(v, int)}
    training_only: set[str] = set()
    problems: list[str] = []
    for node in model.graph.node:
        var = [bool(n) and n not in constant for n in node.input]
        problems += [f"{node.op_type} ({node.name or node.output[0]}) uses {n}, which exists only in training"
                     for n in node.input if n in training_only]
        if not any(var) and is_foldable(node):
            constant.update(node.output)  # evaluated at load time
        elif node.domain not in ("", "ai.onnx"):
            problems.append(f"{node.op_type} (domain {node.domain})")
        elif node.op_type not in RULES:
            problems.append(node.op_type)
        else:
            problems += RULES[node.op_type].check(node, var)
            if node.op_type == "Shape":
                constant.update(node.output)  # the shape of a value is known at load time
            elif node.op_type in _TRAINING_OUTPUTS:
                training_only.update(node.output[1:])
    if model.graph.output[0].name in training_only:
        problems.append("a training-only output")
    return problems


def _convert(model: onnx.ModelProto, ctx: Context, label: str) -> None:
    """Convert node by node; a node that fails is recorded and everything after it skipped."""
    problems: list[str] = []
    failed: set[str] = set()
    for node in model.graph.node:
        if any(n in failed for n in node.input):
            failed.update(node.output)
            continue
        try:
            if not any(isinstance(ctx.values.get(n), int) for n in node.input) and is_foldable(node):
                ctx.fold(node)
            else:
                ctx.values[node.output[0]] = RULES[node.op_type].convert(ctx, node)
        except Unsupported as err:
            problems.append(f"{node.op_type} ({node.name or node.output[0]}): {err}")
            failed.update(node.output)
    if problems:
        raise UnsupportedModelError(label, problems)


# -- writing ---------------------------------------------------------------------------------------
class _Writer:
    """Collects initializers; each WRITERS entry turns one graph node into ONNX nodes."""

    def __init__(self, graph: Graph):
        self.graph, self.inits = graph, []

    def const(self, name: str, value) -> str:
        self.inits.append(numpy_helper.from_array(torch.as_tensor(value).detach().cpu().numpy(), name))
        return name


def _w_linear(w: _Writer, i: int, x: list[str], out: str, p: dict) -> list[onnx.NodeProto]:
    b = w.const(f"{out}.b", _bias(p, "b", p["W"]))
    if len(w.graph.shapes[w.graph.nodes[i].inputs[0]]) == 1:
        return [helper.make_node("Gemm", [x[0], w.const(f"{out}.W", p["W"]), b], [out], transB=1)]
    return [helper.make_node("MatMul", [x[0], w.const(f"{out}.Wt", p["W"].T.contiguous())], [out + ".mm"]),
            helper.make_node("Add", [out + ".mm", b], [out])]


def _w_conv(w: _Writer, i: int, x: list[str], out: str, p: dict) -> list[onnx.NodeProto]:
    weight, (ph, pw) = p["weight"], _two(p["padding"])
    return [helper.make_node(
        "Conv", [x[0], w.const(f"{out}.w", weight), w.const(f"{out}.b", _bias(p, "bias", weight))], [out],
        kernel_shape=list(weight.shape[2:]), strides=list(_two(p["stride"])), pads=[ph, pw, ph, pw],
        dilations=list(_two(p["dilation"])), group=int(p["groups"]))]


def _w_affine(w: _Writer, i: int, x: list[str], out: str, p: dict) -> list[onnx.NodeProto]:
    return [helper.make_node("Mul", [x[0], w.const(f"{out}.scale", p["scale"])], [out + ".mul"]),
            helper.make_node("Add", [out + ".mul", w.const(f"{out}.shift", p["shift"])], [out])]


def _w_reshape(w: _Writer, i: int, x: list[str], out: str, p: dict) -> list[onnx.NodeProto]:
    shape = w.const(f"{out}.shape", np.array([0, *p["shape"]], np.int64))  # a leading 0 copies the batch size
    return [helper.make_node("Reshape", [x[0], shape], [out])]


def _w_op(op: str, **fixed) -> Callable[..., list[onnx.NodeProto]]:
    return lambda w, i, x, out, p: [helper.make_node(op, x, [out], **{k: f(p) for k, f in fixed.items()})]


WRITERS: dict[str, Callable[..., list[onnx.NodeProto]]] = {
    "linear": _w_linear, "conv2d": _w_conv, "affine": _w_affine, "reshape": _w_reshape, "add": _w_op("Add"),
    "relu": _w_op("Relu"), "tanh": _w_op("Tanh"), "sigmoid": _w_op("Sigmoid"), "softplus": _w_op("Softplus"),
    "leaky_relu": _w_op("LeakyRelu", alpha=lambda p: float(p["alpha"])),
}


def graph_to_onnx(graph: Graph, path: str | Path) -> None:
    """Write `graph` as a standard ONNX model (opset 13, input "input", symbolic batch dim)."""
    elem = helper.np_dtype_to_tensor_dtype(torch.empty((), dtype=graph.dtype).numpy().dtype)
    w, names, nodes = _Writer(graph), ["input"], []
    for i, node in enumerate(graph.nodes[1:], start=1):
        names.append(f"n{i}_{node.op}")
        nodes += WRITERS[node.op](w, i, [names[j] for j in node.inputs], names[-1], node.params)
    nodes.append(helper.make_node("Identity", [names[graph.output]], ["output"]))
    g = helper.make_graph(
        nodes, graph.name, [helper.make_tensor_value_info("input", elem, ["batch", *graph.input_shape])],
        [helper.make_tensor_value_info("output", elem, ["batch", *graph.output_shape])], w.inits)
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="certification-workbench")
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def _bias(p: dict, key: str, weight: torch.Tensor) -> torch.Tensor:
    b = p.get(key)
    return torch.zeros(weight.shape[0], dtype=weight.dtype) if b is None else b


def _two(v) -> tuple[int, int]:
    if isinstance(v, str):
        raise ValueError(f"string padding {v!r} cannot be written to ONNX")
    return (int(v[0]), int(v[1])) if isinstance(v, (list, tuple)) else (int(v), int(v))
