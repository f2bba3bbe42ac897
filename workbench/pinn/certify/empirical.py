"""Exact errors at points (float64 forward mode) and their maxima over a dense uniform sample.

The certified bound is compared with these: it must never be below them. The same evaluator
(`workbench.pinn.bounds.evaluate`) serves the box centres the splitting visits, so the reported
empirical maximum is the largest error seen at any evaluated point.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass

import torch

from workbench.pinn.bounds import evaluate
from workbench.pinn.pdes.base import PDE, pointwise_norm

from .conditions import Condition, error_at
from .network import PinnNetwork
from .residual import split_symbol, symbols_of

Tensor = torch.Tensor
CHUNK = 1 << 16


@dataclass
class Extremum:
    value: float
    point: tuple[float, float]   # (t, x)
    samples: int

    def update(self, values: Tensor, points_tx: Tensor) -> None:
        """Take the largest of `values` [N] at `points_tx` [N, 2] if it beats the current one."""
        if values.numel() == 0:
            return
        v, i = torch.max(torch.nan_to_num(values, nan=float("inf")), 0)
        if float(v) > self.value:
            self.value, self.point = float(v), (float(points_tx[i, 0]), float(points_tx[i, 1]))


def residual_at(net: PinnNetwork, pde: PDE, points_tx: Tensor) -> Tensor:
    """|residual| [N] at (t, x) points (Euclidean over components)."""
    return pointwise_norm(pde.residual(symbol_values(net, pde, points_tx)))


def term_values(net: PinnNetwork, pde: PDE, points_tx: Tensor) -> Tensor:
    """Every residual term's value [N, n_terms] at the points (all components' terms)."""
    values = symbol_values(net, pde, points_tx)
    ref = points_tx[:, 0].double()
    return torch.stack([torch.as_tensor(term.evaluate(values), dtype=torch.float64, device=ref.device).expand_as(ref)
                        for comp in pde.residual_terms for term in comp], 1)


def symbol_values(net: PinnNetwork, pde: PDE, points_tx: Tensor) -> dict[str, Tensor]:
    """The residual's symbols (u, u_t, ..., t, x) at the points, each [N]."""
    symbols = symbols_of(pde)
    parts = {s: split_symbol(s, pde) for s in symbols}
    orders = sorted({"u" + suffix for _, suffix in parts.values()} | {"u"})
    v = evaluate(net.mlp, net.net_inputs(points_tx.double()), orders, net.input_order)
    if net.relu_output:   # u = ReLU(N): where N <= 0 every derivative is 0
        on = v["u"] > 0
        v = {k: torch.where(on, x, torch.zeros_like(x)) for k, x in v.items()}
    values = {"t": points_tx[:, 0].double(), "x": points_tx[:, 1].double()}
    for s in symbols:
        out, suffix = parts[s]
        values[s] = v["u" + suffix][:, out]
    return values


def residual_sample(net: PinnNetwork, pde: PDE, n: int, seed: int = 0, time_limit: float = math.inf) -> Extremum:
    """Max |residual| over up to n uniform random points of the domain (seeded, drawn on the
    CPU); sampling stops early at `time_limit` seconds, and `samples` says how many were used."""
    (t0, t1), (x0, x1) = pde.t_range, pde.x_range

    def chunk(r: Tensor) -> tuple[Tensor, Tensor]:
        pts = torch.stack([t0 + (t1 - t0) * r[:, 0], x0 + (x1 - x0) * r[:, 1]], 1).to(net.device)
        return residual_at(net, pde, pts), pts
    return _sample(chunk, 2, n, seed, time_limit, (t0, x0))


def condition_sample(net: PinnNetwork, cond: Condition, n: int, seed: int = 0,
                     time_limit: float = math.inf) -> Extremum:
    """Max |e| over up to n uniform random values of the condition's free coordinate."""
    lo, hi = cond.span

    def chunk(r: Tensor) -> tuple[Tensor, Tensor]:
        v = (lo + (hi - lo) * r[:, 0]).to(net.device)
        err = error_at(net, cond, v)
        norm = err.abs()[:, 0] if err.shape[1] == 1 else torch.linalg.vector_norm(err, dim=1)
        return norm, cond.points(v, cond.traces[0])
    return _sample(chunk, 1, n, seed, time_limit, (0.0, 0.0))


def _sample(chunk, dims: int, n: int, seed: int, time_limit: float, origin) -> Extremum:
    gen = torch.Generator().manual_seed(seed)
    best = Extremum(-1.0, origin, 0)
    start = time.perf_counter()
    for s in range(0, n, CHUNK):
        size = min(CHUNK, n - s)
        values, points = chunk(torch.rand(size, dims, generator=gen, dtype=torch.float64))
        best.update(values, points)
        best.samples += size
        if time.perf_counter() - start > time_limit:
            break
    return best
