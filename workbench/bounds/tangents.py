"""Tangent points of S-shaped activations (tanh, sigmoid), read from a table.

CROWN's lower line for an S-shaped f on [l, u] with l < 0 < u is the tangent at the d in [l, 0]
whose line passes through (u, f(u)). That d solves f(d) + f'(d)·(u - d) = f(u), in which l does
not appear: it is one function d*(u) of u alone (l only decides whether d* lies inside [l, 0]).
So d* is tabulated once per activation (float64 bisection to full precision, on a grid uniform in
log(1 + u)) and interpolated, instead of bisecting per neuron in every call, which was a quarter
of CROWN's time on tanh and sigmoid networks.

Soundness never rests on the table: the intercept of whatever line comes out is computed exactly
for its slope. The table only has to be close to the optimal point, and is (relative error ~1e-7).
"""
from __future__ import annotations

import math
from typing import Callable

import torch

Tensor = torch.Tensor
GRID = 4096
U_MAX = 1e4                    # beyond it the table's last point is used (still a sound line)
_S_MAX = math.log1p(U_MAX)
_tables: dict[tuple, tuple[Tensor, Tensor, Tensor]] = {}   # (op, dtype, device) -> see tangent_point


def _build(fn: Callable[[Tensor], Tensor], deriv: Callable[[Tensor], Tensor]) -> Tensor:
    u = torch.expm1(torch.linspace(0.0, _S_MAX, GRID, dtype=torch.float64))
    fu = fn(u)
    # g(d) = f(d) + f'(d)(u - d) - f(u) increases on d < 0 (f is convex there), is > 0 at d = 0
    # and < 0 far left (f'(d) -> 0, f(d) -> its infimum < f(u)): bisection on [-60, 0].
    lo, hi = torch.full_like(u, -60.0), torch.zeros_like(u)
    for _ in range(80):
        d = (lo + hi) / 2
        above = fn(d) + deriv(d) * (u - d) >= fu
        hi, lo = torch.where(above, d, hi), torch.where(above, lo, d)
    return hi


def tangent_point(op: str, fn: Callable[[Tensor], Tensor], deriv: Callable[[Tensor], Tensor], u: Tensor) -> Tensor:
    """d*(u) <= 0 for u >= 0 (elementwise), interpolated from the table of ``op``."""
    key = (op, u.dtype, u.device)
    if key not in _tables:
        table = _build(fn, deriv).to(dtype=u.dtype, device=u.device)
        # The table shifted by one (its entries i + 1), and the grid's scale as a 0-dim tensor
        # (cheaper to multiply by than a Python number).
        _tables[key] = (table, table[1:], torch.tensor((GRID - 1) / _S_MAX, dtype=u.dtype, device=u.device))
    table, shifted, scale = _tables[key]
    pos = torch.log1p(u.clamp(0, U_MAX)) * scale
    i = pos.long().clamp_(max=GRID - 2)     # floor, as pos >= 0
    return torch.lerp(table.take(i), shifted.take(i), pos - i)   # take: a flat gather, cheaper than indexing
