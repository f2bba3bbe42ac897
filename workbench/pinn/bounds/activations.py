"""tanh and its first two derivatives on intervals: exact ranges and sound linear relaxations.

Write t = tanh z. Then σ = t, σ' = 1 - t², σ'' = -2t(1 - t²), σ''' = 2(1 - t²)(3t² - 1): every
order is a polynomial in t, so one tanh per point gives all of them.

Soundness never rests on how a slope is chosen (the trick of workbench/bounds/relaxations.py):
for a slope k the tightest valid intercepts are min / max over [l, u] of f(z) - k·z, and those
extremes lie at l, u or where f'(z) = k. For σ, σ', σ'' the solutions of f'(z) = k are known in
closed form (a square root, a cubic, a quadratic in t²), so the extremes are exact. σ' and σ''
are not monotone and change curvature (σ' at ±Z1, σ'' at 0 and ±Z2); this handles every case
alike, straddling or not. Exact ranges clamp the known critical points into [l, u].

Everything here runs in float64 (root formulas lose digits in float32 near |t| = 1); `Lines.to`
casts to a working dtype, moving the slope's rounding into the intercept, rounded outwards.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import torch

Tensor = torch.Tensor
Z1 = math.atanh(1 / math.sqrt(3))   # σ''' = 0: σ' bends, σ'' has its extremes ∓4/(3√3)
Z2 = math.atanh(math.sqrt(2 / 3))   # σ'''' = 0: σ'' bends
_T_MAX = 1 - 1e-15                  # atanh stays finite; beyond it every σ^(m) is flat to 1e-15
_Z_MAX = math.atanh(_T_MAX)         # ~17.6: stationary points beyond it are only located to here
_CRITICAL = {0: (), 1: (0.0,), 2: (Z1, -Z1)}   # where σ^(m) has its interior extremes


def poly(order: int, t: Tensor) -> Tensor:
    """σ^(order) as a function of t = tanh z (order 0..3)."""
    if order == 0:
        return t
    s = 1 - t * t
    if order == 1:
        return s
    if order == 2:
        return -2 * t * s
    if order == 3:
        return 2 * s * (3 * t * t - 1)
    raise ValueError(f"order {order} is not supported")


def value(order: int, z: Tensor) -> Tensor:
    return poly(order, torch.tanh(z))


def _stationary_t(order: int, k: Tensor) -> Tensor:
    """The t = tanh z where σ^(order+1)(z) = k, stacked on a new last dim (spurious entries
    where there are fewer real roots: they only add harmless candidate points)."""
    if order == 0:      # 1 - t² = k
        t = torch.sqrt((1 - k).clamp(0, 1))
        return torch.stack([t, -t], -1)
    if order == 1:      # 2t³ - 2t = k: three real roots for |k| < 4/(3√3) (trigonometric form)
        phi = torch.acos((3 * math.sqrt(3) / 4 * k).clamp(-1, 1)) / 3
        r = 2 / math.sqrt(3)
        return torch.stack([r * torch.cos(phi - 2 * math.pi * m / 3) for m in range(3)], -1)
    # 2(1 - s)(3s - 1) = k with s = t²:  6s² - 8s + 2 + k = 0
    d = torch.sqrt((4 - 6 * k).clamp(min=0))
    s1, s2 = ((4 - d) / 6).clamp(0, 1).sqrt(), ((4 + d) / 6).clamp(0, 1).sqrt()
    return torch.stack([s1, -s1, s2, -s2], -1)


def _extremes(order: int, l: Tensor, u: Tensor, fl: Tensor, fu: Tensor, k: Tensor) -> tuple[Tensor, Tensor]:
    """min and max of σ^(order)(z) - k·z over [l, u] for slopes k [..., S] (l, u, fl, fu [...])."""
    t = _stationary_t(order, k)                                            # [..., S, C]
    z = torch.atanh(t.clamp(-_T_MAX, _T_MAX))
    z = torch.max(torch.min(z, u[..., None, None]), l[..., None, None])    # only points of [l, u]
    inner = poly(order, torch.tanh(z)) - k[..., None] * z
    ends = torch.stack([(fl[..., None] - k * l[..., None]), (fu[..., None] - k * u[..., None])], -1)
    both = torch.cat([ends, inner], -1)
    return both.amin(-1), both.amax(-1)


def _down(x: Tensor, dtype: torch.dtype) -> Tensor:
    """x (float64) cast to dtype, rounded so that the result is <= x."""
    eps = torch.finfo(dtype).eps
    return (x - eps * x.abs() - torch.finfo(dtype).tiny).to(dtype)


def _up(x: Tensor, dtype: torch.dtype) -> Tensor:
    return -_down(-x, dtype)


@dataclass
class Lines:
    """``kl·z + bl <= f(z) <= ku·z + bu`` on the neuron's interval, all [N, n] in one dtype;
    ``zmax`` = max |z| on the interval (float64), which casting to a narrower dtype needs."""
    kl: Tensor
    bl: Tensor
    ku: Tensor
    bu: Tensor
    zmax: Tensor | None = None

    def to(self, dtype: torch.dtype) -> "Lines":
        """The lines in dtype: rounding a slope moves its line by at most |Δk|·max|z| on the
        interval, which the intercept absorbs before its outward rounding."""
        if dtype == self.kl.dtype:
            return self
        kl, ku = self.kl.to(dtype), self.ku.to(dtype)
        bl = self.bl - (kl.double() - self.kl).abs() * self.zmax
        bu = self.bu + (ku.double() - self.ku).abs() * self.zmax
        return Lines(kl, _down(bl, dtype), ku, _up(bu, dtype), self.zmax)

    # The forms the backward pass uses, for Λ [N, n, rows]: Λ·upper + Λ⁺·(lower - upper) and
    # the magnitudes of the intercept terms.
    @cached_property
    def ku1(self) -> Tensor:
        return self.ku.unsqueeze(-1)

    @cached_property
    def dk1(self) -> Tensor:
        return (self.kl - self.ku).unsqueeze(-1)

    @cached_property
    def v_all(self) -> Tensor:
        return torch.stack([self.bu, -self.bu.abs()], 1)

    @cached_property
    def v_pos(self) -> Tensor:
        return torch.stack([self.bl - self.bu, self.bl.abs() + self.bu.abs()], 1)


def interval(order: int, l: Tensor, u: Tensor, dtype: torch.dtype | None = None) -> tuple[Tensor, Tensor]:
    """The exact range of σ^(order) (0, 1, 2) over [l, u], rounded outwards into dtype."""
    dtype = dtype or l.dtype
    l64, u64 = l.double(), u.double()
    pts = [l64, u64] + [torch.full_like(l64, c).clamp(l64, u64) for c in _CRITICAL[order]]
    vals = poly(order, torch.tanh(torch.stack(pts, -1)))
    pad = 16 * torch.finfo(torch.float64).eps
    lo, up = vals.amin(-1), vals.amax(-1)
    return _down(lo - pad * (1 + lo.abs()), dtype), _up(up + pad * (1 + up.abs()), dtype)


def relax(order: int, l: Tensor, u: Tensor, dtype: torch.dtype | None = None) -> Lines:
    """Sound lower and upper lines of σ^(order) on [l, u] (order 0, 1 or 2), elementwise.

    Candidate slopes: the chord and the tangents at l, the midpoint and u (the chord and the
    midpoint tangent are the optimal pair on a convex or concave piece; the end tangents win
    near bends). Each gets its exact intercepts; per side we keep the line that is tightest at
    the midpoint (equivalently: the least area between line and curve)."""
    dtype = dtype or l.dtype
    l64, u64 = l.double(), u.double()
    mid, w = (l64 + u64) / 2, u64 - l64
    tl, tu, tm = torch.tanh(l64), torch.tanh(u64), torch.tanh(mid)
    fl, fu = poly(order, tl), poly(order, tu)
    narrow = w <= 1e-12 * (1 + mid.abs())
    chord = torch.where(narrow, poly(order + 1, tm), (fu - fl) / torch.where(narrow, torch.ones_like(w), w))
    k = torch.stack([chord, poly(order + 1, tl), poly(order + 1, tm), poly(order + 1, tu)], -1)
    b_lo, b_up = _extremes(order, l64, u64, fl, fu, k)
    i_lo = (k * mid[..., None] + b_lo).argmax(-1, keepdim=True)
    i_up = (k * mid[..., None] + b_up).argmin(-1, keepdim=True)
    kl, bl = k.gather(-1, i_lo)[..., 0], b_lo.gather(-1, i_lo)[..., 0]
    ku, bu = k.gather(-1, i_up)[..., 0], b_up.gather(-1, i_up)[..., 0]
    # Root formulas are accurate to ~1e-8 in z, so the extremes to ~1e-16 (stationary: second
    # order); pad generously in float64, far below any float32 effect. Past _Z_MAX, where a
    # stationary point is only found as far as _Z_MAX, f' and k are below 8e-15, so f - k·z
    # moves by at most 1.6e-14 per unit of z between the two.
    M = torch.max(l64.abs(), u64.abs())
    eps = 64 * torch.finfo(torch.float64).eps
    far = 1.6e-14 * (M - _Z_MAX).clamp(min=0)
    bl = bl - eps * (1 + kl.abs() * M + bl.abs()) - far
    bu = bu + eps * (1 + ku.abs() * M + bu.abs()) + far
    return Lines(kl, bl, ku, bu, M).to(dtype)
