"""Initial- and boundary-condition errors as functions of one coordinate, and their bounds.

Every condition is read as e(s) = Σ_traces (α·u + β·u_x)(point on the trace at s) − g(s):
the initial condition along x on the trace t = t0; a Dirichlet or Robin condition along t on
x = x_side; a periodic one as u(t, x_lo) − u(t, x_hi) (or of u_x). Over a segment [a, b] of s
with centre c and half-width r, two enclosures are intersected:

- interval: the traces' intervals (`bound_spec`) minus g's range g(c) ± (|g'(c)|·r + M·r²/2);
- mean value: e(c) ± r·max|e'| with e' bounded the same way (u_s, u_xs; g'(c) ± M·r).
  Near a maximum of |e|, e' ≈ 0 and this is second-order tight, which is what gets the
  bound within a few per cent of the true maximum on modest segments.

M is the condition's stated bound on |g''|. A ReLU output (u = ReLU(N)) is decided per segment
from N's interval; where N may cross 0 the derivative enclosures take the hull with 0
(Clarke's mean value theorem, u being Lipschitz), and a Robin term's u_x, discontinuous
there, leaves only the interval enclosure.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from workbench.pinn.bounds import bound_spec, evaluate, prepare
from workbench.pinn.pdes.base import PDE

from .forms import EPS
from .network import PinnNetwork

Tensor = torch.Tensor
# The float64 forward-mode values at segment centres carry rounding errors far below this.
POINT_SLACK = 1e-10


@dataclass(frozen=True)
class Trace:
    fixed: str      # the coordinate held fixed: "t" (initial condition) or "x" (boundary)
    at: float
    alpha: float    # coefficient of u
    beta: float     # coefficient of u_x


@dataclass(frozen=True)
class Condition:
    name: str
    along: str                  # the free coordinate, "x" or "t"
    span: tuple[float, float]
    traces: tuple[Trace, ...]
    g: Callable[[Tensor], Tensor] | None
    curvature: float

    def points(self, s: Tensor, trace: Trace) -> Tensor:
        """(t, x) points [N, 2] of the trace at the free coordinate values s."""
        fixed = torch.full_like(s, trace.at)
        return torch.stack([fixed, s] if self.along == "x" else [s, fixed], 1)


def initial_condition(pde: PDE) -> Condition:
    if pde.initial.curvature is None:
        raise ValueError(f"{pde.name}: the initial condition states no bound on |g''| (curvature)")
    t0 = pde.t_range[0]
    return Condition("initial", "x", tuple(pde.x_range), (Trace("t", t0, 1.0, 0.0),), pde.initial.fn,
                     float(pde.initial.curvature))


def boundary_conditions(pde: PDE) -> list[Condition]:
    (t0, t1), (xl, xr) = pde.t_range, pde.x_range
    out = []
    for bc in pde.boundary:
        span = (t0 if bc.t_min is None else max(t0, bc.t_min), t1)
        if bc.kind == "periodic":
            a, b = (1.0, 0.0) if bc.order == 0 else (0.0, 1.0)
            traces = (Trace("x", xl, a, b), Trace("x", xr, -a, -b))
        else:
            beta = bc.beta if bc.kind == "robin" else 0.0
            traces = (Trace("x", xl if bc.side == "left" else xr, bc.alpha if bc.kind == "robin" else 1.0, beta),)
        curvature = 0.0 if bc.g is None else bc.curvature
        if curvature is None:
            raise ValueError(f"{pde.name}: boundary condition {bc.name} states no bound on |g''| (curvature)")
        out.append(Condition(bc.name, "t", span, traces, bc.g, float(curvature)))
    return out


def _g(cond: Condition, s: Tensor, n_out: int) -> Tensor:
    """The target g(s) [N, n_out] (zero when the condition has none)."""
    if cond.g is None:
        return s.new_zeros(s.shape[0], n_out)
    return cond.g(s).to(s).reshape(s.shape[0], n_out)


def _g_and_slope(cond: Condition, c: Tensor, n_out: int) -> tuple[Tensor, Tensor]:
    if cond.g is None:
        return _g(cond, c, n_out), c.new_zeros(c.shape[0], n_out)
    with torch.enable_grad():
        s = c.detach().clone().requires_grad_(True)
        g = _g(cond, s, n_out)
        if not g.requires_grad:   # a constant g
            return g.detach(), torch.zeros_like(g)
        slopes = [torch.autograd.grad(g[:, k].sum(), s, retain_graph=k + 1 < n_out, allow_unused=True)[0]
                  for k in range(n_out)]
    slopes = [torch.zeros_like(c) if d is None else d for d in slopes]
    return g.detach(), torch.stack(slopes, 1).detach()


def error_at(net: PinnNetwork, cond: Condition, s: Tensor) -> Tensor:
    """The exact error e(s) [N, n_out] (float64 forward mode)."""
    s = s.double().to(net.device)
    total = -_g(cond, s, net.n_outputs)   # values only: no autograd on the sampling path
    for tr in cond.traces:
        v = evaluate(net.mlp, net.net_inputs(cond.points(s, tr)), ("u", "u_x"), net.input_order)
        u, ux = v["u"], v["u_x"]
        if net.relu_output:
            u, ux = u.clamp(min=0), torch.where(u > 0, ux, torch.zeros_like(ux))
        total = total + tr.alpha * u + tr.beta * ux
    return total


def condition_bounds(net: PinnNetwork, cond: Condition, a: Tensor, b: Tensor, *, method: str = "crown",
                     dtype: torch.dtype = torch.float32) -> tuple[Tensor, Tensor]:
    """(upper bound of |e| on each segment [a, b], |e| at the segment centres), both [N]."""
    with torch.no_grad():
        return _condition_bounds(net, cond, a.double(), b.double(), method, dtype)


def _condition_bounds(net, cond, a, b, method, dtype):
    N, n_out = a.shape[0], net.n_outputs
    c, r = (a + b) / 2, (b - a) / 2
    use_x = any(tr.beta != 0 for tr in cond.traces)
    lo_tx = torch.cat([cond.points(a, tr) for tr in cond.traces])
    hi_tx = torch.cat([cond.points(b, tr) for tr in cond.traces])
    ks, kx = net.key("_" + cond.along), net.key("_x")
    kxs = tuple(sorted(kx + ks))
    rows = [(), ks] + ([kx, kxs] if use_x else [])
    prep = prepare(net.mlp, net.net_inputs(lo_tx), net.net_inputs(hi_tx), sorted(set(ks + kx) if use_x else set(ks)),
                   [kxs] if use_x else [], method, dtype)
    spec: dict[tuple[int, ...], Tensor] = {}
    for j, key in enumerate(rows):
        m = spec.setdefault(key, lo_tx.new_zeros(len(rows) * n_out, n_out))
        m[j * n_out:(j + 1) * n_out] = torch.eye(n_out, dtype=torch.float64, device=lo_tx.device)
    lo, up = bound_spec(prep, spec, method)
    g_c, g_s = _g_and_slope(cond, c, n_out)
    M, rr = cond.curvature * (1 + 1e-12), r[:, None]
    g_rad = g_s.abs() * rr + M * rr ** 2 / 2 + 4 * EPS * g_c.abs()
    e_lo, e_hi = -(g_c + g_rad), -(g_c - g_rad)             # value enclosure, starting with −g
    d_lo, d_hi = -(g_s + M * rr), -(g_s - M * rr)           # derivative enclosure, −g'
    mean_value_ok = torch.ones(N, n_out, dtype=torch.bool, device=a.device)
    for i, tr in enumerate(cond.traces):
        part = slice(i * N, (i + 1) * N)
        iv = [(lo[part, j * n_out:(j + 1) * n_out], up[part, j * n_out:(j + 1) * n_out]) for j in range(len(rows))]
        if net.relu_output:
            n_lo, n_hi = iv[0]
            zero, cross = n_hi <= 0, (n_lo < 0) & (n_hi > 0)
            iv = [(torch.where(zero, 0.0, torch.where(cross, l.clamp(max=0), l)),
                   torch.where(zero, 0.0, torch.where(cross, h.clamp(min=0), h))) for l, h in iv]
            iv[0] = (iv[0][0].clamp(min=0), iv[0][1].clamp(min=0))
            if tr.beta != 0:
                mean_value_ok &= ~cross
        terms = [(tr.alpha, iv[0], iv[1])] + ([(tr.beta, iv[2], iv[3])] if use_x else [])
        for k, (lv, hv), (ld, hd) in terms:
            e_lo, e_hi = e_lo + torch.min(k * lv, k * hv), e_hi + torch.max(k * lv, k * hv)
            d_lo, d_hi = d_lo + torch.min(k * ld, k * hd), d_hi + torch.max(k * ld, k * hd)
    e_c = error_at(net, cond, c)
    pad = 8 * EPS * (e_lo.abs() + e_hi.abs())
    by_interval = torch.max(-e_lo, e_hi) + pad
    by_mean_value = e_c.abs() + rr * torch.max(d_lo.abs(), d_hi.abs()) * (1 + 8 * EPS) + POINT_SLACK
    bound = torch.where(mean_value_ok, torch.min(by_interval, by_mean_value), by_interval)
    return _norm(bound), _norm(e_c.abs())


def _norm(v: Tensor) -> Tensor:
    return v[:, 0] if v.shape[1] == 1 else torch.linalg.vector_norm(v, dim=1) * (1 + 4 * EPS)
