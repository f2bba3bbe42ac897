"""The builder every loader shares: where each format's operators become the core operators.

Loaders (ONNX, torch.export, nn.Module walking) speak in their own operators; `GraphBuilder`
turns them into the core operators of `graph.py`. It keeps a probe value per node (one sample
run forward as the graph grows), so converters always know the shape of what they are
converting, and it holds the lowerings that more than one format needs: batch norm and
constant arithmetic to ``affine``, average pooling to a depthwise ``conv2d``.

Construction happens in float64 so that folding BN and scales into weights loses nothing; the
finished graph is cast to the requested dtype once, at the end (after the fusion pass of
`simplify.py`).
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from workbench.nets.errors import Unsupported
from workbench.nets.graph import FORWARD, Graph, Node

WORK_DTYPE = torch.float64


def as_tensor(value) -> torch.Tensor:
    """A private float64 CPU copy of a tensor, array or number."""
    if isinstance(value, torch.Tensor):
        return value.detach().to(dtype=WORK_DTYPE, device="cpu").clone()
    return torch.from_numpy(np.array(value, dtype=np.float64))


class GraphBuilder:
    """Collects nodes in topological order and knows the shape (batch excluded) of each."""

    def __init__(self, input_shape: Sequence[int], name: str = "input"):
        self.nodes: list[Node] = [Node("input", (), {}, name)]
        self._probe: list[torch.Tensor] = [torch.zeros(1, *input_shape, dtype=WORK_DTYPE)]

    def shape(self, index: int) -> tuple[int, ...]:
        return tuple(self._probe[index].shape[1:])

    def add(self, op: str, inputs: Sequence[int], params: dict | None = None, name: str = "") -> int:
        node = Node(op, tuple(inputs), params or {}, name)
        xs = [self._probe[i] for i in node.inputs]
        try:
            value = xs[0] + xs[1] if op == "add" else FORWARD[op](xs[0], node.params)
        except RuntimeError as err:
            # A shape mismatch inside the model: report it on the operator, not as a crash later.
            raise Unsupported(f"{name or op}: its inputs do not fit ({str(err).splitlines()[0]})") from None
        self.nodes.append(node)
        self._probe.append(value)
        return len(self.nodes) - 1

    # -- lowerings ---------------------------------------------------------------------------------
    def strip_batch(self, x: int, const, what: str = "constant") -> torch.Tensor:
        """A constant written against [B, *shape] as one broadcastable against the node shape."""
        c = as_tensor(const)
        shape = self.shape(x)
        if c.dim() == len(shape) + 1:
            if c.shape[0] != 1:
                raise Unsupported(f"{what} of shape {tuple(c.shape)} differs across the batch")
            c = c[0]
        elif c.dim() > len(shape) + 1:
            raise Unsupported(f"{what} of shape {tuple(c.shape)} has more dimensions than its input")
        try:
            ok = torch.broadcast_shapes(shape, c.shape) == torch.Size(shape)
        except RuntimeError:
            ok = False
        if not ok:
            # The core affine keeps the node shape; a constant that enlarges it is not an affine map.
            raise Unsupported(f"{what} of shape {tuple(c.shape)} does not broadcast to {shape}")
        return c

    def affine(self, x: int, scale=None, shift=None, name: str = "") -> int:
        s = as_tensor(1.0 if scale is None else scale)
        t = as_tensor(0.0 if shift is None else shift)
        return self.add("affine", [x], {"scale": s, "shift": t}, name)

    def linear(self, x: int, W, b=None, name: str = "") -> int:
        W = as_tensor(W)
        b = torch.zeros(W.shape[0], dtype=WORK_DTYPE) if b is None else as_tensor(b).reshape(-1)
        if b.numel() == 1 and W.shape[0] != 1:
            b = b.expand(W.shape[0]).clone()
        if W.dim() != 2 or b.numel() != W.shape[0]:
            raise Unsupported(f"{name or 'linear'}: weight {tuple(W.shape)} and bias {tuple(b.shape)} do not match")
        return self.add("linear", [x], {"W": W, "b": b}, name)

    def conv2d(self, x: int, weight, bias=None, stride=1, padding=0, dilation=1, groups: int = 1,
               name: str = "") -> int:
        weight = as_tensor(weight)
        if weight.dim() != 4:
            raise Unsupported(f"{name or 'conv'}: only 2-D convolutions are supported (weight {tuple(weight.shape)})")
        bias = torch.zeros(weight.shape[0], dtype=WORK_DTYPE) if bias is None else as_tensor(bias).reshape(-1)
        params = {"weight": weight, "bias": bias, "stride": pair(stride), "padding": pair(padding),
                  "dilation": pair(dilation), "groups": int(groups)}
        return self.add("conv2d", [x], params, name)

    def reshape(self, x: int, shape: Sequence[int], name: str = "", batch_wildcard: bool = False) -> int:
        """Reshape keeping the batch; `shape` excludes the batch and may hold one -1.

        `batch_wildcard`: the model wrote -1 for the batch, so `shape` must account for every feature.
        """
        shape, size = [int(s) for s in shape], math.prod(self.shape(x))
        known = math.prod(s for s in shape if s != -1)
        if shape.count(-1) == 1 and not batch_wildcard and known > 0 and size % known == 0:
            shape[shape.index(-1)] = size // known
        if math.prod(shape) != size or any(s < 0 for s in shape):
            raise Unsupported(f"{name or 'reshape'}: cannot reshape {self.shape(x)} to {tuple(shape)} per sample")
        if tuple(shape) == self.shape(x):
            return x
        return self.add("reshape", [x], {"shape": tuple(shape)}, name)

    def flatten(self, x: int, start: int = 1, end: int = -1, name: str = "") -> int:
        """torch.flatten(x, start, end) with dims counted from the batch (dim 0)."""
        shape = self.shape(x)
        start, end = start % (len(shape) + 1), end % (len(shape) + 1)
        if start == 0:
            raise Unsupported("flattening the batch dimension into the features")
        if end <= start:
            return x
        return self.reshape(x, shape[:start - 1] + (math.prod(shape[start - 1:end]),) + shape[end:], name)

    def batchnorm(self, x: int, gamma, beta, mean, var, eps: float, name: str = "") -> int:
        """Eval-mode batch norm over channel dim 0 of the node shape, as a per-channel affine."""
        rank = len(self.shape(x))
        if rank == 0:
            raise Unsupported(f"{name or 'batch norm'}: needs a channel dimension")
        scale = as_tensor(gamma) / torch.sqrt(as_tensor(var) + float(eps))
        shift = as_tensor(beta) - as_tensor(mean) * scale
        per_channel = (-1,) + (1,) * (rank - 1)
        return self.affine(x, scale.reshape(per_channel), shift.reshape(per_channel), name)

    def avgpool(self, x: int, kernel, stride=None, padding=0, count_include_pad: bool = True,
                ceil_mode: bool = False, name: str = "") -> int:
        """Average pooling as a depthwise conv with uniform weights (+ a count correction)."""
        shape = self.shape(x)
        if len(shape) != 3:
            raise Unsupported(f"{name or 'average pool'}: needs a [C, H, W] input, got {shape}")
        k, s, p = pair(kernel), pair(stride if stride not in (None, [], ()) else kernel), pair(padding)
        if ceil_mode and any((n + 2 * pi - ki) % si for n, ki, si, pi in zip(shape[1:], k, s, p)):
            raise Unsupported(f"{name or 'average pool'}: ceil_mode changes the output size")
        channels = shape[0]
        weight = torch.full((channels, 1, *k), 1.0 / (k[0] * k[1]), dtype=WORK_DTYPE)
        y = self.conv2d(x, weight, None, s, p, 1, channels, name)
        if count_include_pad or p == (0, 0):
            return y
        # Windows that overlap the padding average over fewer real inputs: rescale per position.
        ones = torch.ones(1, 1, *shape[1:], dtype=WORK_DTYPE)
        count = F.conv2d(ones, torch.ones(1, 1, *k, dtype=WORK_DTYPE), stride=s, padding=p)[0]
        return self.affine(y, (k[0] * k[1]) / count, None, f"{name}.count" if name else "")

    def binary(self, op: str, a, b, name: str = "") -> int:
        """a <op> b for op in add/sub/mul/div, where a and b are node indices or constants.

        Constants are laid out against [B, *shape] (as in ONNX and torch programs); any use
        that is not affine in the variables (x * y, c / x) is reported as unsupported.
        """
        var_a, var_b = isinstance(a, int), isinstance(b, int)
        if var_a and var_b:
            if op not in ("add", "sub"):
                raise Unsupported(f"{op} of two variables")
            if self.shape(a) != self.shape(b):
                raise Unsupported(f"{op} of two variables of shapes {self.shape(a)} and {self.shape(b)}")
            if op == "sub":
                b = self.affine(b, -1.0, None, f"{name}.neg" if name else "")
            return self.add("add", [a, b], {}, name)
        if not (var_a or var_b):
            raise Unsupported(f"{op} of two constants")  # folded by the loaders before this point
        x, c = (a, b) if var_a else (b, a)
        c = self.strip_batch(x, c)
        if op == "add":
            return self.affine(x, None, c, name)
        if op == "sub":
            return self.affine(x, None, -c, name) if var_a else self.affine(x, -1.0, c, name)
        if op == "mul":
            return self.affine(x, c, None, name)
        if op == "div" and var_a:
            return self.affine(x, 1.0 / c, None, name)
        raise Unsupported(f"{op} with the variable as divisor" if op == "div" else f"operator {op}")

    def build(self, output: int, name: str = "network", dtype: torch.dtype = torch.float32,
              fuse: bool = True) -> Graph:
        from workbench.nets.simplify import simplify  # imported here: simplify re-exports this module

        graph = Graph(self.shape(0), self.nodes, output, name)
        if fuse:
            graph = simplify(graph)
        return graph.to(dtype=dtype)


def pair(v) -> tuple[int, int]:
    if isinstance(v, (list, tuple)):
        if len(v) == 1:
            return int(v[0]), int(v[0])
        if len(v) != 2:
            raise Unsupported(f"expected one or two values, got {list(v)}")
        return int(v[0]), int(v[1])
    return int(v), int(v)


def same_padding(mode: str, kernel: Sequence[int], dilation: Sequence[int]) -> tuple[int, int]:
    """padding='valid' / 'same' (stride 1) as the symmetric padding conv2d takes."""
    if mode == "valid":
        return 0, 0
    total = [d * (k - 1) for k, d in zip(kernel, dilation)]
    if mode != "same" or any(t % 2 for t in total):
        raise Unsupported(f"padding={mode!r} that is not symmetric")
    return total[0] // 2, total[1] // 2
