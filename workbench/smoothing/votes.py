"""Class decisions of noisy forward passes, counted per input: the end of smoothing's hot loop.

Every decision is exactly ``torch.argmax``'s: the first maximum wins, NaN counts as the maximum
and the first NaN wins.

A network that ends in a linear layer is evaluated up to that layer's input, and the layer itself
is applied as ``W @ h.T``, so the logits come out transposed, [classes, rows] (``ClassifierHead``).
A class's logits are then contiguous and the argmax is a few vectorised ops along the rows. An
argmax along the short class dimension of [rows, classes] logits costs 20-25 ns a row on a CPU,
against a forward pass of a few hundred: on the digits MLP that was 5 % of the throughput. (The
logits equal the layer's own up to rounding; the counted classifier is this one throughout.)
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

Tensor = torch.Tensor


@dataclass
class ClassifierHead:
    """A network split before its last (linear) layer: ``features(x)`` [N, H] and W [C, H], b [C]."""
    features: Callable[[Tensor], Tensor]
    W: Tensor
    b: Tensor | None

    def logits_t(self, x: Tensor) -> Tensor:
        """The logits of the batch ``x``, transposed: [C, N]."""
        h = self.features(x)
        return self.W @ h.T if self.b is None else torch.addmm(self.b[:, None], self.W, h.T)


def classifier_head(forward: object) -> ClassifierHead | None:
    """The head of a ``Graph`` whose output is a linear layer on a flat vector; else None."""
    nodes = getattr(forward, "nodes", None)
    if nodes is None:
        return None
    last = nodes[forward.output]
    if last.op != "linear" or len(forward.shapes[last.inputs[0]]) != 1:
        return None
    p = last.inputs[0]
    return ClassifierHead(lambda x: forward.forward_all(x, end=p)[p], last.params["W"], last.params.get("b"))


class Votes:
    """Per-batch decisions of ``b`` inputs x ``k`` draws, into buffers made once per batch shape.
    ``add(logits)`` takes [b * k, classes] logits, or [classes, b * k] with ``transposed``. The
    decisions of up to ``m`` batches are kept as rows of one buffer and folded into the counts
    together (``fold``), so a batch costs its decision ops only, not a scatter.

    * two classes: class 1 iff ``l1 > l0``, or ``l1`` is NaN and ``l0`` is not -- i.e.
      ``(l0 == l0) > (l1 <= l0)`` (``l1 <= l0`` implies both are numbers): three branch-free
      elementwise ops. ``argmax`` over a dimension of 2 costs more than all three, and its
      branches mispredict on noisy data.
    * more classes, transposed: the classes at the column's maximum, or NaN (where the maximum,
      propagating NaN, is NaN, only NaN entries qualify), weighted C, C-1, ..., 1 down the column;
      the heaviest is the first, and C minus its weight is the index.
    * more classes, [rows, classes]: ``torch.max(dim=1)`` (the same index as ``argmax``, ties and
      NaN included, cheaper on noisy CPU data).
    The fold of more than two classes is one ``scatter_add_`` of ones.
    """

    ROWS = 1 << 16          # decisions kept before a fold (bounds the buffer, whatever b * k is)

    def __init__(self, counts: Tensor, k: int, transposed: bool = False):
        b, c = counts.shape
        dev = counts.device
        self.counts, self.b, self.k, self.n, self.c = counts, b, k, b * k, c
        self.transposed = transposed
        self.m = max(1, self.ROWS // self.n)
        self.two = c == 2
        if self.two:
            self.le, self.ok = (torch.empty(self.n, dtype=torch.bool, device=dev) for _ in range(2))
            self.buf = torch.empty((self.m, self.n), dtype=torch.bool, device=dev)
        else:
            self.values = torch.empty(0, device=dev)      # re-sized (and re-typed) by max's out
            self.weights: Tensor | None = None              # C..1 down a column, in the logits' dtype
            self.buf = torch.empty((self.m, self.n), dtype=torch.int64, device=dev)
            self.ones = torch.ones((b, self.m * k), dtype=torch.int64, device=dev)
        self.rows = list(self.buf.unbind(0))
        self.used = 0

    def add(self, logits: Tensor) -> None:
        row = self.rows[self.used]
        if self.transposed:
            self._decide_columns(logits, row)
        else:
            self._decide_rows(logits.reshape(self.n, -1), row)
        self.used += 1
        if self.used == self.m:
            self.fold()

    def _decide_rows(self, logits: Tensor, row: Tensor) -> None:
        if self.two:
            self._two(*logits.unbind(1), row)
            return
        if self.values.dtype != logits.dtype:
            self.values = torch.empty(0, dtype=logits.dtype, device=logits.device)
        torch.max(logits, 1, out=(self.values, row))

    def _decide_columns(self, logits_t: Tensor, row: Tensor) -> None:
        if self.two:
            self._two(logits_t[0], logits_t[1], row)
            return
        if self.weights is None or self.weights.dtype != logits_t.dtype:
            self.weights = torch.arange(self.c, 0, -1, dtype=logits_t.dtype, device=logits_t.device)[:, None]
        top = torch.amax(logits_t, 0)
        at_top = torch.eq(logits_t, top).logical_or_(torch.ne(logits_t, logits_t))
        first = torch.amax(at_top * self.weights, 0)
        row.copy_(first.neg_().add_(self.c))

    def _two(self, l0: Tensor, l1: Tensor, row: Tensor) -> None:
        torch.le(l1, l0, out=self.le)
        torch.eq(l0, l0, out=self.ok)                 # l0 is not NaN
        torch.gt(self.ok, self.le, out=row)           # ok and not (l1 <= l0): class 1

    def fold(self) -> None:
        """Add the kept decisions to the counts (call once more after the last batch)."""
        u = self.used
        if u == 0:
            return
        votes = self.buf[:u].view(u, self.b, self.k)
        if self.two:
            ones = votes.sum((0, 2))
            self.counts[:, 1] += ones
            self.counts[:, 0] += u * self.k - ones
        else:   # row j of the index: input j's u * k votes
            index = votes.permute(1, 0, 2).reshape(self.b, u * self.k)
            self.counts.scatter_add_(1, index, self.ones[:, :u * self.k])
        self.used = 0
