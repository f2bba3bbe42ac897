"""torch.export programs to `Graph`: a graph of aten ops, converted through `ATEN`, a table
from op name to converter.

Values flow through the conversion as `Var` (the index of the node that computes a value that
depends on the network input), `BATCH` (the symbolic batch size) or plain constants, which are
folded at load time. Every unsupported op is listed at once.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import torch

from workbench.nets.builder import GraphBuilder, as_tensor, pair, same_padding
from workbench.nets.errors import ModelLoadError, Unsupported, UnsupportedModelError, first_line
from workbench.nets.graph import Graph
from workbench.nets.loading import vet_export_archive


class Var(int):
    """A value that depends on the network input: the index of the node computing it."""


BATCH = "batch"  # the (symbolic) batch size, as sym_size(x, 0) gives it
_FAILED = object()  # the value of a node that could not be converted


class _Program:
    def __init__(self, builder: GraphBuilder, batch: int | None):
        self.b, self.batch = builder, batch


def _v(x: Any) -> int:
    if not isinstance(x, Var):
        raise Unsupported("expects a value that depends on the input")
    return int(x)


def _c(x: Any) -> Any:
    if isinstance(x, Var):
        raise Unsupported("a weight or setting that depends on the input")
    return x


def _arg(x: Any) -> Any:  # for GraphBuilder.binary: node indices stay ints, constants become tensors
    return int(x) if isinstance(x, Var) else as_tensor(x)


def _linear(p: _Program, x, w, bias=None) -> Var:
    return Var(p.b.linear(_v(x), _c(w), _c(bias)))


def _addmm(p: _Program, bias, x, wt, *, beta=1, alpha=1) -> Var:
    return Var(p.b.linear(_v(x), as_tensor(_c(wt)).T * alpha, as_tensor(_c(bias)) * beta))


def _mm(p: _Program, x, wt) -> Var:
    if torch.as_tensor(_c(wt)).dim() != 2:
        raise Unsupported("a matmul whose constant operand is not 2-D")
    return Var(p.b.linear(_v(x), as_tensor(wt).T))


def _conv(p: _Program, x, w, bias=None, stride=1, padding=0, dilation=1, groups=1) -> Var:
    w = _c(w)
    if isinstance(padding, str):
        padding = same_padding(padding, w.shape[2:], pair(dilation))
    return Var(p.b.conv2d(_v(x), w, _c(bias), stride, padding, dilation, groups))


def _convolution(p: _Program, x, w, bias, stride, padding, dilation, transposed, output_padding, groups) -> Var:
    if transposed:
        raise Unsupported("transposed convolution")
    return _conv(p, x, w, bias, stride, padding, dilation, groups)


def _bn_eval(p: _Program, x, w, bias, mean, var, eps) -> Var:
    w = torch.ones_like(mean) if w is None else _c(w)
    bias = torch.zeros_like(mean) if bias is None else _c(bias)
    return Var(p.b.batchnorm(_v(x), w, bias, _c(mean), _c(var), eps))


def _batch_norm(p: _Program, x, w, bias, mean, var, training, momentum, eps, *_) -> Var:
    if training:
        raise Unsupported("batch norm in training mode")
    return _bn_eval(p, x, w, bias, mean, var, eps)


def _avg_pool(p: _Program, x, kernel, stride=(), padding=0, ceil_mode=False, count_include_pad=True,
              divisor_override=None) -> Var:
    if divisor_override is not None:
        raise Unsupported("divisor_override")
    return Var(p.b.avgpool(_v(x), kernel, stride, padding, count_include_pad, ceil_mode))


def _adaptive_pool(p: _Program, x, size) -> Var:
    (h, w), (oh, ow) = p.b.shape(_v(x))[1:], pair(size)
    if h % oh or w % ow:
        raise Unsupported(f"adaptive pooling of {h}x{w} to {oh}x{ow} (windows of unequal size)")
    return Var(p.b.avgpool(_v(x), (h // oh, w // ow), (h // oh, w // ow)))


def _view(p: _Program, x, shape) -> Var:
    first, rest = shape[0], list(shape[1:])
    if not (first is BATCH or first == -1 or first == p.batch) or any(not isinstance(d, int) for d in rest):
        raise Unsupported(f"a reshape to {list(shape)} that does not keep the batch first")
    return Var(p.b.reshape(_v(x), rest, batch_wildcard=first == -1))


def _arith(op: str, swap: bool = False) -> Callable[..., Var]:
    def convert(p: _Program, a, b, alpha=1, *, rounding_mode=None) -> Var:
        if rounding_mode is not None:
            raise Unsupported(f"rounding_mode={rounding_mode!r}")
        a, b = (b, a) if swap else (a, b)  # rsub(a, b, alpha) = b - alpha * a
        if alpha != 1:  # a op alpha * b
            b = Var(p.b.affine(int(b), alpha)) if isinstance(b, Var) else as_tensor(b) * alpha
        return Var(p.b.binary(op, _arg(a), _arg(b)))
    return convert


def _dropout(p: _Program, x, prob=0.5, train=False) -> Any:
    if train:
        raise Unsupported("dropout in training mode")
    return x


def _getitem(p: _Program, values, i) -> Any:
    if values[i] is None:
        raise Unsupported("uses the batch statistics of a batch norm")
    return values[i]


def _unary(op: str) -> Callable[..., Var]:
    return lambda p, x: Var(p.b.add(op, [_v(x)]))


ATEN: dict[str, Callable[..., Any]] = {
    "aten.linear": _linear, "aten.addmm": _addmm, "aten.mm": _mm, "aten.matmul": _mm,
    "aten.conv2d": _conv, "aten.convolution": _convolution,
    "aten.relu": _unary("relu"), "aten.tanh": _unary("tanh"), "aten.sigmoid": _unary("sigmoid"),
    "aten.leaky_relu": lambda p, x, slope=0.01: Var(p.b.add("leaky_relu", [_v(x)], {"alpha": float(slope)})),
    "aten.softplus": lambda p, x, beta=1, threshold=20: (
        Var(p.b.add("softplus", [_v(x)])) if beta == 1 else _raise(f"softplus with beta={beta}")),
    "aten.flatten": lambda p, x, start=0, end=-1: Var(p.b.flatten(_v(x), start, end)),
    "aten.view": _view, "aten.reshape": _view, "aten._unsafe_view": _view,
    "aten.sym_size": lambda p, x, dim: BATCH if dim == 0 else p.b.shape(_v(x))[dim - 1],
    "aten.batch_norm": _batch_norm,
    "aten.native_batch_norm": lambda p, *a: (_batch_norm(p, *a), None, None),
    "aten._native_batch_norm_legit": lambda p, *a: (_batch_norm(p, *a), None, None),
    "aten._native_batch_norm_legit_no_training": lambda p, x, w, b, m, v, momentum, eps: (
        _bn_eval(p, x, w, b, m, v, eps), None, None),
    "aten.avg_pool2d": _avg_pool, "aten.adaptive_avg_pool2d": _adaptive_pool,
    "aten.add": _arith("add"), "aten.sub": _arith("sub"), "aten.rsub": _arith("sub", swap=True),
    "aten.mul": _arith("mul"), "aten.div": _arith("div"),
    "aten.neg": lambda p, x: Var(p.b.affine(_v(x), -1.0)),
    "aten.dropout": _dropout, "aten.feature_dropout": _dropout,
    **{f"aten.{name}": (lambda p, x, *a, **k: x)
       for name in ("clone", "detach", "alias", "contiguous", "lift_fresh_copy", "_to_copy", "to")},
    "getitem": _getitem,
}


def _raise(message: str) -> Any:
    raise Unsupported(message)


def _static_problem(key: str, args: tuple) -> str | None:
    """Uses that are wrong whatever the shapes, found even after an earlier op failed."""
    dep = [isinstance(a, Var) or a is _FAILED for a in args[:2]]
    if key in ("aten.mul", "aten.mm", "aten.matmul") and dep == [True, True]:
        return f"{key} of two variables"
    return f"{key} by a variable" if key == "aten.div" and dep[1:] == [True] else None


def _key(target: Any) -> str:
    if isinstance(target, torch._ops.OpOverload):
        return str(target.overloadpacket)
    return getattr(target, "__name__", str(target))


def _placeholder(node: Any, spec: Any, tensors: dict, user: Any) -> Any:
    if node is user:
        return Var(0)
    if spec.kind.name in ("PARAMETER", "BUFFER", "CONSTANT_TENSOR"):
        return tensors.get(spec.target, _FAILED)
    return _FAILED  # custom objects, tokens: nothing the core graph can use


def _step(p: _Program, node: Any, args: tuple, kwargs: dict) -> Any:
    """The value of one call_function node; raises Unsupported."""
    key = _key(node.target)
    leaves = torch.utils._pytree.tree_leaves((args, kwargs), is_leaf=lambda v: v is None)
    if isinstance(node.target, torch._ops.OpOverload) and not any(isinstance(v, Var) or v is BATCH for v in leaves):
        try:
            return node.target(*args, **kwargs)  # only constants: fold now
        except Exception as err:
            raise Unsupported(f"cannot be evaluated at load time ({first_line(err)})") from None
    try:
        return ATEN[key](p, *args, **kwargs)
    except TypeError as err:  # an overload with arguments the converter does not know
        raise Unsupported(f"unexpected arguments ({first_line(err)})") from None


def convert_program(program: torch.export.ExportedProgram, name: str, dtype: torch.dtype, fuse: bool) -> Graph:
    """Walk the program's aten graph once; every problem is collected before giving up.

    After a node fails, the nodes that depend on it are not converted, but their operators are
    still checked against the table, so the list of unsupported ops is complete.
    """
    specs = {s.arg.name: s for s in program.graph_signature.input_specs}
    tensors = {**program.state_dict, **program.constants}
    users = [n for n in program.graph.nodes if n.op == "placeholder" and specs[n.name].kind.name == "USER_INPUT"]
    shape = tuple(users[0].meta["val"].shape) if len(users) == 1 and "val" in users[0].meta else ()
    if len(shape) < 2 or not all(isinstance(d, int) for d in shape[1:]):
        raise UnsupportedModelError(name, [f"{len(users)} inputs of shape {list(shape)} (one batched input "
                                           f"with fixed feature sizes is supported)"])
    p = _Program(GraphBuilder(shape[1:], users[0].name), shape[0] if isinstance(shape[0], int) else None)
    env: dict[Any, Any] = {}
    problems: list[str] = []
    out: Any = ()
    for node in program.graph.nodes:
        if node.op == "placeholder":
            env[node] = _placeholder(node, specs[node.name], tensors, users[0])
            if env[node] is _FAILED and node.users:
                problems.append(f"input {node.name} of kind {specs[node.name].kind.name}")
            continue
        args, kwargs = torch.fx.node.map_arg((node.args, node.kwargs), lambda a: env[a])
        if node.op == "output":
            out = args[0]
            break
        key = _key(node.target) if node.op == "call_function" else f"{node.op} {node.target}"
        if key.startswith(("aten._assert", "aten.sym_constrain")):
            continue  # runtime checks with no value
        foldable = isinstance(node.target, torch._ops.OpOverload) and not _depends(args, kwargs)
        problem = _static_problem(key, args) or (None if key in ATEN or foldable else key)
        env[node] = _FAILED
        if problem:
            problems.append(problem)
        elif not any(v is _FAILED for v in torch.utils._pytree.tree_leaves((args, kwargs))):
            try:
                env[node] = _step(p, node, args, kwargs)
            except Unsupported as err:
                problems.append(f"{key} ({node.name}): {err}")
    if problems:
        raise UnsupportedModelError(name, problems)
    if len(out) != 1 or not isinstance(out[0], Var):
        raise UnsupportedModelError(name, ["a program with several outputs or an output independent of the input"])
    return p.b.build(int(out[0]), name, dtype, fuse)


def _depends(args: tuple, kwargs: dict) -> bool:
    """Whether a node's arguments depend on the input (a failed node counts as depending)."""
    return any(isinstance(v, Var) or v is BATCH or v is _FAILED
               for v in torch.utils._pytree.tree_leaves((args, kwargs), is_leaf=lambda v: v is None))


def graph_from_exported(source: str | Path | torch.export.ExportedProgram, *, trust_pickle: bool = False,
                        dtype: torch.dtype = torch.float32, fuse: bool = True) -> Graph:
    """A torch.export program (a saved .pt2, or an ExportedProgram) as a Graph."""
    if isinstance(source, torch.export.ExportedProgram):
        return convert_program(source, "program", dtype, fuse)
    path = Path(source)
    try:
        if not trust_pickle:
            vet_export_archive(path)
        program = torch.export.load(str(path))
    except ModelLoadError:
        raise
    except Exception as err:
        raise ModelLoadError(f"{path.name}: not a readable torch.export archive ({first_line(err)})") from None
    return convert_program(program, path.stem, dtype, fuse)
