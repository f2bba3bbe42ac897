"""Empirical maxima of a PINN's residual, initial and boundary errors over uniform random points.

These are the lower ends a certificate is compared with (the certified bound must never be
below them). Errors of several components are combined by the Euclidean norm (see
:func:`workbench.pinn.pdes.base.pointwise_norm`); squares of the values are what the ∂-CROWN
paper's tables report.
"""
from __future__ import annotations

import copy
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

import torch

from workbench.pinn.pdes.base import PDE, pointwise_norm
from workbench.pinn.pdes.evaluate import boundary_errors_at, initial_error_at, model_device_dtype, residual_at


@dataclass
class Extremum:
    """max |error| over ``samples`` points, attained at ``point`` = (t, x)."""

    value: float
    point: tuple[float, float]
    samples: int

    @property
    def squared(self) -> float:
        return self.value ** 2

    def to_dict(self) -> dict[str, Any]:
        return {"value": self.value, "squared": self.squared, "point": {"t": self.point[0], "x": self.point[1]},
                "samples": self.samples}


@dataclass
class EmpiricalMax:
    pde: str
    residual: Extremum | None
    initial: Extremum | None
    boundary: Extremum | None  # the worst of the conditions
    conditions: dict[str, Extremum] = field(default_factory=dict)
    n: int = 0
    seed: int = 0
    seconds: float = 0.0
    device: str = "cpu"
    dtype: str = "float32"

    def to_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in asdict(self).items() if k not in ("residual", "initial", "boundary", "conditions")}
        for k in ("residual", "initial", "boundary"):
            e = getattr(self, k)
            out[k] = None if e is None else e.to_dict()
        out["conditions"] = {k: v.to_dict() for k, v in self.conditions.items()}
        return out


def _prepare(model: Any, device, dtype):
    dev, dt = model_device_dtype(model, device, dtype)
    if hasattr(model, "nodes") and hasattr(model, "to") and (model.device != dev or model.dtype != dt):
        model = model.to(device=dev, dtype=dt)  # a Graph copy
    elif isinstance(model, torch.nn.Module):
        p = next(model.parameters(), None)
        if p is not None and (p.device != dev or p.dtype != dt):
            model = copy.deepcopy(model).to(device=dev, dtype=dt)
    return model, dev, dt


def _scan(err_fn: Callable, points: torch.Tensor, dev, dt, batch: int, cancelled) -> Extremum:
    """max over batches of ``err_fn(t, x)`` ([B] norms); points [N, 2] (t, x) float64 on the CPU."""
    best, best_i = -1.0, 0
    for s in range(0, points.shape[0], batch):
        if cancelled is not None and cancelled():
            raise InterruptedError("cancelled")
        chunk = points[s:s + batch].to(device=dev, dtype=dt)
        vals = err_fn(chunk[:, 0], chunk[:, 1])
        v, i = torch.max(vals.detach(), dim=0)
        v = float(v)
        if v > best or v != v:  # NaN wins: it must not hide
            best, best_i = v, s + int(i)
            if v != v:
                break
    p = points[best_i].to(dt).double()  # the point as actually evaluated
    return Extremum(best, (float(p[0]), float(p[1])), int(points.shape[0]))


def empirical_max(model: Any, pde: PDE | str, n: int = 10 ** 6, seed: int = 0, *, input_order=None,
                  device=None, dtype=None, batch: int = 1 << 16,
                  parts=("residual", "initial", "boundary"), progress=None, cancelled=None) -> EmpiricalMax:
    """Max |residual| over ``n`` uniform points of the domain, max |IC error| over ``n`` uniform x
    at t = t0, and for each boundary condition max |error| over ``n`` uniform t (from its
    ``t_min``), with the arg-max points as (t, x).

    ``model``: a Graph, an nn.Module or a callable [N, 2] -> [N, n_outputs] taking inputs in
    ``input_order`` (default: the PDE's). Derivatives by autograd, in batches of ``batch`` points,
    on the model's device (or ``device``) and dtype (or ``dtype``; a Graph or module is copied
    when that differs). The points depend only on ``seed`` and ``n`` (drawn in float64 on the
    CPU, in the order residual, initial, boundary conditions), not on the batch size or device.
    """
    from workbench.pinn.pdes.registry import get_pde

    pde = get_pde(pde) if isinstance(pde, str) else pde
    model, dev, dt = _prepare(model, device, dtype)
    order = tuple(input_order or pde.input_order)
    gen = torch.Generator().manual_seed(int(seed))
    (t0, t1), (x0, x1) = pde.t_range, pde.x_range
    start = time.perf_counter()
    res = ini = None
    conds: dict[str, Extremum] = {}
    steps = len(parts) - ("boundary" in parts) + (len(pde.boundary) if "boundary" in parts else 0)
    done = 0

    def tick(msg):
        nonlocal done
        done += 1
        if progress is not None:
            progress(done / max(steps, 1), msg)

    r = torch.rand(n, 2, generator=gen, dtype=torch.float64)
    if "residual" in parts:
        pts = torch.stack([t0 + (t1 - t0) * r[:, 0], x0 + (x1 - x0) * r[:, 1]], dim=1)
        res = _scan(lambda t, x: pointwise_norm(residual_at(model, pde, t, x, input_order=order)),
                    pts, dev, dt, batch, cancelled)
        tick("residual")
    r = torch.rand(n, generator=gen, dtype=torch.float64)
    if "initial" in parts:
        pts = torch.stack([torch.full_like(r, t0), x0 + (x1 - x0) * r], dim=1)
        ini = _scan(lambda t, x: pointwise_norm(initial_error_at(model, pde, x, input_order=order)),
                    pts, dev, dt, batch, cancelled)
        tick("initial condition")
    for bc in pde.boundary:
        r = torch.rand(n, generator=gen, dtype=torch.float64)
        if "boundary" not in parts:
            continue
        lo = t0 if bc.t_min is None else max(t0, bc.t_min)
        ts = lo + (t1 - lo) * r
        xs = torch.full_like(ts, x0 if bc.side in ("left", "both") else x1)
        pts = torch.stack([ts, xs], dim=1)
        conds[bc.name] = _scan(
            lambda t, x, bc=bc: pointwise_norm(boundary_errors_at(model, pde, t, input_order=order,
                                                                  conditions=(bc,))[bc.name]),
            pts, dev, dt, batch, cancelled)
        tick(f"boundary {bc.name}")
    worst = max(conds.values(), key=lambda e: (e.value != e.value, e.value)) if conds else None
    return EmpiricalMax(pde.name, res, ini, worst, conds, n=int(n), seed=int(seed),
                        seconds=time.perf_counter() - start, device=str(dev), dtype=str(dt).replace("torch.", ""))
