"""CROWN's backward step through an activation and the linear layer under it, done together.

Two ways, each skipping most of the work in its case:

*Live columns.* A ReLU that is stably inactive on the input set has slopes and intercepts 0:
its column of the A matrix is zero after the activation, and so is its row of W in ``A @ W``. In a typical
network a third or more of the ReLUs are such dead columns, and ``A @ W`` is the bulk of CROWN's
work. So the two steps are done together on the live columns alone, gathered per sample (or
once for the batch when the samples' live sets overlap enough). The result is the same product,
summed over fewer zeros. When the activation under that linear layer compacts too, W is gathered
on its live columns as well: A' comes out already on them, so that step skips its gather and
the product is narrower again.

*Both sides of shared rows.* Intermediate bounds start from rows that are the same for every
sample (rows of W one layer above), usually both ``w`` and ``−w``. Through the activation they
become ``½(w·σ + |w|·δ)`` and ``½(−w·σ + |w|·δ)``, σ and δ the per-sample sum and difference of
the two lines' slopes. So the per-sample slopes are folded into W instead of into A: two
products of the shared rows with B scaled copies of W side by side give both sides, with no
per-sample pass over A at all.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from .linalg import matvec

if TYPE_CHECKING:
    from .crown import Relaxation

Tensor = torch.Tensor
# Compacting costs a gather of A and of W's rows: it does not pay below this share of dead
# columns, nor for small layers (W of fewer elements), whose products cost less than the gathers.
MIN_DEAD_SHARE = 0.15
MIN_WEIGHTS = 2**14
NOT_YET = object()   # a Relaxation whose live columns have not been looked at


def rows_to_refine(mask: Tensor, slack: float = 1.0) -> Tensor:
    """Indices of the True entries of ``mask`` [B, N]: their union [1, k] shared by the batch, or
    [B, K] per sample (padded with False entries, which are merely redundant) when the union is
    more than ``slack`` times the busiest sample's count."""
    union = mask.any(0).nonzero().T
    if mask.shape[0] == 1:
        return union
    K = int(mask.sum(1).max())
    if union.shape[1] <= slack * K:
        return union
    return mask.to(torch.int8).argsort(dim=1, descending=True, stable=True)[:, :K]


def relaxation_back(A: Tensor, slope_lo: Tensor, slope_up: Tensor, icpt_lo: Tensor, icpt_up: Tensor
                    ) -> tuple[Tensor, Tensor]:
    """A [B or 1, S, *shape] pushed back through an activation's lines: positive entries take the
    lower line, negative ones the upper line; returns A' [B, S, *shape] and the bias [B, S]. The
    hot loop of CROWN and memory-bound, so few full-size passes over A. A batch-1 A (a spec shared
    by all samples) is split by sign before it meets the per-sample lines."""
    neg = A.clamp(max=0)
    pos = A - neg
    bias = intercept_terms(pos, icpt_lo) + intercept_terms(neg, icpt_up)
    return torch.addcmul(pos * slope_lo, neg, slope_up), bias


def intercept_terms(A: Tensor, icpt: Tensor) -> Tensor:
    """Sum over a node of A [B or 1, S, *shape] times intercepts [B, S or 1, *shape] -> [B, S]:
    a matrix product when the intercepts are shared by all rows."""
    B, S = icpt.shape[0], A.shape[1]
    if icpt.shape[1] != 1:
        return (A * icpt).flatten(2).sum(-1)
    return matvec(A.reshape(A.shape[0], S, -1), icpt.reshape(B, -1))


@dataclass
class LiveColumns:
    """An activation's live columns and everything gathered on them, for the linear layer under it:
    indices [1, K] shared by the batch or [B, K] per sample (padded with dead columns, which add
    exact zeros), the relaxation there ([B, 1, K]) and W's rows and b's entries there."""
    idx: Tensor
    shared: bool
    relax: tuple[Tensor, Tensor, Tensor, Tensor]   # slope_lo, slope_up, icpt_lo, icpt_up
    W: Tensor                                       # [K, m] shared, [B, K, m] per sample
    b: Tensor | None
    chained: tuple["LiveColumns", Tensor] | None = None   # W on the live columns below, for those


def live_columns(r: "Relaxation", linear: dict) -> LiveColumns | None:
    """The live columns of an activation (relaxation ``r``) above ``linear``, or None when the
    relaxation varies per spec row or too few columns are dead. Cached on ``r``: every backward
    pass of one bound computation goes through the same activations."""
    if r._live is not NOT_YET:
        return r._live
    r._live = None
    if not r.shared_by_rows or linear["W"].numel() < MIN_WEIGHTS:
        return None
    with torch.no_grad():
        live = ((r.slope_lo != 0) | (r.slope_up != 0) | (r.icpt_lo != 0) | (r.icpt_up != 0)).flatten(1)
        idx = rows_to_refine(live)
    if idx.shape[1] > (1 - MIN_DEAD_SHARE) * live.shape[1]:
        return None
    shared = idx.shape[0] == 1
    parts = (r.slope_lo, r.slope_up, r.icpt_lo, r.icpt_up)
    W, b = linear["W"], linear.get("b")
    if shared:
        cols = idx[0]
        relax = tuple(t.flatten(2)[..., cols] for t in parts)
        r._live = LiveColumns(idx, True, relax, W[cols], None if b is None else b[cols])
    else:
        relax = tuple(t.flatten(2).gather(2, idx.unsqueeze(1)) for t in parts)
        # index_select copies whole rows: 3-4x faster than W[idx]'s general indexing kernel.
        rows = W.index_select(0, idx.flatten()).view(*idx.shape, W.shape[1])
        r._live = LiveColumns(idx, False, relax, rows, None if b is None else b[idx])
    return r._live


def activation_linear_back(A: Tensor, live: LiveColumns, on_live: bool = False, below: LiveColumns | None = None
                           ) -> tuple[Tensor, Tensor]:
    """``A`` [B or 1, S, n] pushed back through the activation and then the linear layer under
    it, on the live columns; returns A' [B, S, m] and the bias [B, S]. ``on_live``: A is given on
    the live columns already ([B, S, K]). ``below``: the live columns of the activation under the
    linear layer; A' is then returned on those ([B, S, K_below]), sparing that step its gather."""
    sl, su, il, iu = live.relax
    if not on_live:
        A = _on_live_columns(A, live)
    A, db = relaxation_back(A, sl, su, il, iu)
    out = A @ (live.W if below is None else _chained_weights(live, below))
    if live.b is not None:
        db = db + (A @ live.b if live.shared else matvec(A, live.b))
    return out, db


def _on_live_columns(A: Tensor, live: LiveColumns) -> Tensor:
    """The live columns of A [B or 1, S, n]: [1 or B, S, K] shared, [B, S, K] per sample."""
    if live.shared:
        return A[..., live.idx[0]]
    B, S, K = live.idx.shape[0], A.shape[1], live.idx.shape[1]
    return A.expand(B, S, A.shape[2]).gather(2, live.idx.unsqueeze(1).expand(B, S, K))


def _chained_weights(live: LiveColumns, below: LiveColumns) -> Tensor:
    """``live.W`` gathered on the live columns of the activation under it too: [1 or B, K, K_below]
    (cached on ``live``: every backward pass of one bound computation needs the same)."""
    if live.chained is not None and live.chained[0] is below:
        return live.chained[1]
    W = live.W
    if below.shared:
        W = W[..., below.idx[0]]
    else:
        B, K, Kb = below.idx.shape[0], W.shape[-2], below.idx.shape[1]
        W = W.expand(B, K, W.shape[-1]).gather(2, below.idx.unsqueeze(1).expand(B, K, Kb))
    live.chained = (below, W)
    return W


def symmetric_activation_linear_back(rows: Tensor, r: "Relaxation", linear: dict) -> tuple[Tensor, Tensor]:
    """Both sides of shared rows, ``[rows; −rows]`` ([2K, n], the same for every sample), pushed
    back through the activation (relaxation ``r`` [B, 1, n]) and the linear layer under it
    (W [n, m]); returns A' [B, 2K, m] and the bias [B, 2K].

    With σ = s_lo + s_up and δ = s_lo − s_up, a row w becomes ½(w·σ + |w|·δ) and −w becomes
    ½(−w·σ + |w|·δ). So ``X = w @ (σ·W)`` and ``Y = |w| @ (δ·W)`` give both: two products of the
    shared rows with the B scaled copies of W side by side, and no per-sample pass over A."""
    W, b = linear["W"], linear.get("b")
    B, n, m = r.slope_lo.shape[0], W.shape[0], W.shape[1]
    sl, su = r.slope_lo.reshape(B, n), r.slope_up.reshape(B, n)
    il, iu = r.icpt_lo.reshape(B, n), r.icpt_up.reshape(B, n)
    if b is not None:   # the bias of the linear layer rides along with the intercepts
        il, iu = torch.addcmul(il, sl, b), torch.addcmul(iu, su, b)
    half, Wt = 0.5 * rows, W.unsqueeze(1)
    # W scaled per sample, laid out [n, B·m] for one product with all samples side by side.
    X = half @ ((sl + su).T.contiguous().unsqueeze(2) * Wt).view(n, B * m)
    Y = half.abs() @ ((sl - su).T.contiguous().unsqueeze(2) * Wt).view(n, B * m)
    X, Y = X.view(-1, B, m).transpose(0, 1), Y.view(-1, B, m).transpose(0, 1)
    bx, by = (half @ (il + iu).T).T, (half.abs() @ (il - iu).T).T                  # [B, K]
    return torch.cat([X + Y, Y - X], 1), torch.cat([bx + by, by - bx], 1)
