"""The ONNX operator table: `RULES` maps an op type to a `Rule` (a check and a converter).

A rule's check finds what is wrong with one node without converting anything (an input that
must be constant but is not, an attribute the core graph cannot express), so `onnx_io.scan` can
list every problem of a model at once. Its converter turns the node into `GraphBuilder` calls,
reading values through a `Context`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import onnx
import torch
from onnx import helper

from workbench.nets.builder import GraphBuilder, as_tensor
from workbench.nets.errors import Unsupported, first_line

_RANDOM = {"RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike", "Multinomial", "Bernoulli"}


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
