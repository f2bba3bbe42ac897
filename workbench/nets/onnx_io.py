"""ONNX models to and from `Graph`.

Reading is two passes. `scan` walks the whole model and collects every operator (or use of
an operator) the core graph cannot express, so the user sees the full list at once. Then the
conversion: nodes whose inputs are all constant are evaluated at load time with ONNX's
reference evaluator (normalisation constants, shape arithmetic); the rest go through `RULES`,
a table from op type to (check, convert). The model input's first dimension is the batch.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import onnx
import torch
from onnx import helper, numpy_helper

from workbench.nets.graph import Graph
from workbench.nets.loading import ModelLoadError, UnsupportedModelError, first_line
from workbench.nets.simplify import GraphBuilder, Unsupported, as_tensor

OPSET = 13
_RANDOM = {"RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike", "Multinomial", "Bernoulli"}
_TRAINING_OUTPUTS = {"Dropout", "BatchNormalization"}  # outputs after the first exist only in training


class Context:
    """Conversion state: ONNX value name -> node index (variable) or numpy array (constant)."""

    def __init__(self, builder: GraphBuilder, values: dict, opset: int, batch: int | None):
        self.b, self.values, self.opset, self.batch = builder, values, opset, batch

    def var(self, name: str) -> int:
        v = self.values.get(name)
        if not isinstance(v, int):
            raise Unsupported(f"{name} should depend on the input")
        return v

    def const(self, name: str) -> np.ndarray | None:
        v = self.values.get(name) if name else None
        if isinstance(v, int):
            raise Unsupported(f"{name} should be a constant")
        return v

    def value(self, name: str):
        v = self.values.get(name)
        return v if isinstance(v, int) else as_tensor(v)

    def fold(self, node: onnx.NodeProto) -> None:
        from onnx.reference import ReferenceEvaluator  # imported late: it is slow to import
        try:  # a one-node model, so the evaluator uses the op's definition at the model's opset
            feeds = {n: self.values[n] for n in node.input if n}
            infos = [helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(v.dtype), v.shape)
                     for n, v in feeds.items()]
            outs = [helper.make_tensor_value_info(n, onnx.TensorProto.UNDEFINED, None) for n in node.output]
            model = helper.make_model(helper.make_graph([node], "fold", infos, outs),
                                      opset_imports=[helper.make_opsetid("", self.opset)])
            results = ReferenceEvaluator(model).run(None, feeds)
        except Exception as err:
            raise Unsupported(f"cannot be evaluated at load time ({first_line(err)})") from None
        self.values.update({n: np.asarray(r) for n, r in zip(node.output, results) if n})


def attrs(node: onnx.NodeProto) -> dict:
    out = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    return {k: v.decode() if isinstance(v, bytes) else v for k, v in out.items()}


def is_foldable(node: onnx.NodeProto) -> bool:
    return node.op_type not in _RANDOM and node.domain in ("", "ai.onnx")


# -- the operator table ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Rule:
    convert: Callable[[Context, onnx.NodeProto], None]
    variables: tuple[int, ...] = (0,)  # input positions that may depend on the network input
    roles: tuple[str, ...] = ()  # names of the inputs, for messages
    attr_check: Callable[[dict], str | None] = lambda a: None
    binary: bool = False  # an arithmetic op: two variable operands is the problem to name
    both: bool = False  # ... unless it allows two variables (Add, Sub)

    def check(self, node: onnx.NodeProto, var: list[bool]) -> list[str]:
        if self.binary and len(var) > 1 and var[0] and var[1] and not self.both:
            problems = [f"{node.op_type} of two variables"]
        else:
            problems = [f"{node.op_type} with a non-constant {self.roles[i] if i < len(self.roles) else f'input {i}'}"
                        for i, v in enumerate(var) if v and i not in self.variables]
        bad = self.attr_check(attrs(node))
        return problems + ([f"{node.op_type} with {bad}"] if bad else [])


def _gemm(ctx: Context, n: onnx.NodeProto) -> int:
    a, x = attrs(n), ctx.var(n.input[0])
    B, C = as_tensor(ctx.const(n.input[1])), ctx.const(n.input[2]) if len(n.input) > 2 else None
    if len(ctx.b.shape(x)) != 1 or B.dim() != 2:
        raise Unsupported(f"needs a [batch, features] input and a 2-D weight, got {ctx.b.shape(x)}, {tuple(B.shape)}")
    if C is not None and C.ndim == 2 and C.shape[0] != 1:
        raise Unsupported("a bias that differs across the batch")
    W = (B if a.get("transB", 0) else B.T) * a.get("alpha", 1.0)
    return ctx.b.linear(x, W, None if C is None else as_tensor(C) * a.get("beta", 1.0), n.name)


def _matmul(ctx: Context, n: onnx.NodeProto) -> int:
    W = as_tensor(ctx.const(n.input[1]))
    if W.dim() != 2:
        raise Unsupported(f"a {W.dim()}-D constant operand")
    return ctx.b.linear(ctx.var(n.input[0]), W.T, None, n.name)


def _conv(ctx: Context, n: onnx.NodeProto) -> int:
    a, bias = attrs(n), ctx.const(n.input[2]) if len(n.input) > 2 else None
    return ctx.b.conv2d(ctx.var(n.input[0]), ctx.const(n.input[1]), bias, a.get("strides", 1),
                        a.get("pads", [0, 0])[:2], a.get("dilations", 1), a.get("group", 1), n.name)


def _flatten(ctx: Context, n: onnx.NodeProto) -> int:
    x = ctx.var(n.input[0])
    shape = ctx.b.shape(x)
    axis = attrs(n).get("axis", 1) % (len(shape) + 1)
    if int(np.prod(shape[:axis - 1])) != 1:  # ONNX Flatten folds the dims before `axis` into dim 0
        raise Unsupported(f"axis {axis} would fold feature dims {shape[:axis - 1]} into the batch")
    return ctx.b.flatten(x, 1, -1, n.name)


def _reshape(ctx: Context, n: onnx.NodeProto) -> int:
    x, a = ctx.var(n.input[0]), attrs(n)
    dims = [int(d) for d in (a["shape"] if "shape" in a else ctx.const(n.input[1]).reshape(-1))]  # opset 1: attr
    shape, copy_zero = ctx.b.shape(x), not a.get("allowzero", 0)
    if not dims or not (dims[0] == -1 or (dims[0] == 0 and copy_zero) or dims[0] == (ctx.batch or 1)):
        raise Unsupported(f"shape {dims} does not keep the batch as the first dimension")
    rest = [shape[i] if d == 0 and copy_zero and i < len(shape) else d for i, d in enumerate(dims[1:])]
    return ctx.b.reshape(x, rest, n.name, batch_wildcard=dims[0] == -1)


def _batchnorm(ctx: Context, n: onnx.NodeProto) -> int:
    gamma, beta, mean, var = (ctx.const(name) for name in n.input[1:5])
    return ctx.b.batchnorm(ctx.var(n.input[0]), gamma, beta, mean, var, attrs(n).get("epsilon", 1e-5), n.name)


def _avgpool(ctx: Context, n: onnx.NodeProto) -> int:
    a = attrs(n)
    if len(a.get("kernel_shape", [])) != 2:
        raise Unsupported(f"kernel {a.get('kernel_shape')} (only 2-D pooling)")
    return ctx.b.avgpool(ctx.var(n.input[0]), a["kernel_shape"], a.get("strides", 1), a.get("pads", [0, 0])[:2],
                         bool(a.get("count_include_pad", 0)), bool(a.get("ceil_mode", 0)), n.name)


def _global_avgpool(ctx: Context, n: onnx.NodeProto) -> int:
    x = ctx.var(n.input[0])
    return ctx.b.avgpool(x, ctx.b.shape(x)[1:], 1, 0, True, False, n.name)


def _shape(ctx: Context, n: onnx.NodeProto) -> np.ndarray:
    a = attrs(n)  # the batch size, when symbolic, reads as 1 (Reshape takes that as "the batch")
    full = np.array([ctx.batch or 1, *ctx.b.shape(ctx.var(n.input[0]))], dtype=np.int64)
    return full[a.get("start", 0):a.get("end", None)]


def _dropout(ctx: Context, n: onnx.NodeProto) -> int:
    training = ctx.const(n.input[2]) if len(n.input) > 2 else None
    if training is not None and bool(training):
        raise Unsupported("training_mode=True")
    return ctx.var(n.input[0])


def _unary(op: str, **params) -> Callable[[Context, onnx.NodeProto], int]:
    return lambda ctx, n: ctx.b.add(op, [ctx.var(n.input[0])], dict(params), n.name)


def _binary(op: str) -> Callable[[Context, onnx.NodeProto], int]:
    return lambda ctx, n: ctx.b.binary(op, ctx.value(n.input[0]), ctx.value(n.input[1]), n.name)


def _padding(a: dict) -> str | None:
    if a.get("auto_pad", "NOTSET") not in ("NOTSET", ""):
        return f"auto_pad={a['auto_pad']}"
    p = list(a.get("pads", [0, 0, 0, 0]))
    return f"pads {p} (only symmetric 2-D padding)" if len(p) != 4 or p[:2] != p[2:] else None


def _pool_attrs(a: dict) -> str | None:
    return f"dilations={a['dilations']}" if any(d != 1 for d in a.get("dilations", [1])) else _padding(a)


def _legacy_broadcast(a: dict) -> str | None:
    return "a legacy broadcast axis" if "axis" in a else None


_ALIAS = Rule(lambda ctx, n: ctx.var(n.input[0]))
RULES: dict[str, Rule] = {
    "Gemm": Rule(_gemm, roles=("A", "B", "C"), attr_check=lambda a: "transA=1" if a.get("transA", 0) else None),
    "MatMul": Rule(_matmul, roles=("left operand", "right operand"), binary=True),
    "Conv": Rule(_conv, roles=("input", "weight", "bias"), attr_check=_padding),
    "Relu": Rule(_unary("relu")), "Tanh": Rule(_unary("tanh")), "Sigmoid": Rule(_unary("sigmoid")),
    "Softplus": Rule(_unary("softplus")),
    "LeakyRelu": Rule(lambda ctx, n: _unary("leaky_relu", alpha=float(attrs(n).get("alpha", 0.01)))(ctx, n)),
    "Flatten": Rule(_flatten, attr_check=lambda a: "axis=0 (flattens the batch)" if a.get("axis", 1) == 0 else None),
    "Reshape": Rule(_reshape, roles=("data", "shape")),
    "BatchNormalization": Rule(_batchnorm, roles=("input", "scale", "bias", "mean", "variance"), attr_check=lambda a: (
        "training_mode=1" if a.get("training_mode", 0) else "spatial=0" if a.get("spatial", 1) == 0 else None)),
    "AveragePool": Rule(_avgpool, attr_check=_pool_attrs),
    "GlobalAveragePool": Rule(_global_avgpool),
    "Add": Rule(_binary("add"), (0, 1), attr_check=_legacy_broadcast, binary=True, both=True),
    "Sub": Rule(_binary("sub"), (0, 1), attr_check=_legacy_broadcast, binary=True, both=True),
    "Mul": Rule(_binary("mul"), (0, 1), attr_check=_legacy_broadcast, binary=True),
    "Div": Rule(_binary("div"), roles=("dividend", "divisor"), attr_check=_legacy_broadcast, binary=True),
    "Neg": Rule(_unary("affine", scale=torch.tensor(-1.0, dtype=torch.float64),
                       shift=torch.tensor(0.0, dtype=torch.float64))),
    "Identity": _ALIAS, "Dropout": Rule(_dropout),
    "Shape": Rule(_shape),
}


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
