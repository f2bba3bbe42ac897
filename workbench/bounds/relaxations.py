"""Linear relaxations of activations, as a table from operator to a few small functions.

Every activation f gets bounded on [l, u] by two lines ``k_lo·x + b_lo <= f(x) <= k_up·x + b_up``.
The slope is free (CROWN picks one, alpha-CROWN optimises it); the intercept is then the tightest
*valid* one, ``b_lo = min_{x in [l,u]} f(x) - k·x``, found exactly by evaluating f(x) - k·x at the
only places its minimum can be: the two ends, the kinks, and the points where f'(x) = k. So any
slope gives a sound line — soundness never depends on how the slope was chosen.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F

from .tangents import tangent_point

Tensor = torch.Tensor


def _tanh_stationary(k: Tensor, p: dict) -> Tensor:
    # tanh'(x) = 1 - tanh(x)^2 = k  <=>  x = ±atanh(sqrt(1 - k))
    s = torch.sqrt((1 - k).clamp(0, 1 - 1e-7))
    x = torch.atanh(s)
    return torch.stack([x, -x], dim=-1)


def _sigmoid_stationary(k: Tensor, p: dict) -> Tensor:
    # s'(x) = s(1 - s) = k  <=>  s = (1 ± d)/2 with d = sqrt(1 - 4k)  <=>  x = ±2·atanh(d)
    d = torch.sqrt((1 - 4 * k).clamp(0, 1 - 1e-7))
    x = 2 * torch.atanh(d)
    return torch.stack([x, -x], dim=-1)


def _softplus_stationary(k: Tensor, p: dict) -> Tensor:
    # softplus'(x) = sigmoid(x) = k  <=>  x = logit(k)
    return torch.logit(k.clamp(1e-7, 1 - 1e-7)).unsqueeze(-1)


def _kink(k: Tensor, p: dict) -> Tensor:
    return torch.zeros_like(k).unsqueeze(-1)


def _sigmoid_derivative(x: Tensor) -> Tensor:
    s = torch.sigmoid(x)
    return s * (1 - s)


@dataclass(frozen=True)
class Activation:
    fn: Callable[[Tensor, dict], Tensor]
    derivative: Callable[[Tensor], Tensor]
    stationary: Callable[[Tensor, dict], Tensor]   # candidate minimisers of f(x) - k x, [..., m]
    shape: str                                       # "relu" | "s-shaped" | "convex"
    # The width over which f' changes by O(1) (tanh(x) = 2·sigmoid(2x) - 1): alpha-CROWN's step unit
    # for tangent points on wide intervals.
    scale: float = 1.0


ACTIVATIONS: dict[str, Activation] = {
    "relu": Activation(lambda x, p: torch.relu(x), lambda x: (x > 0).to(x.dtype), _kink, "relu"),
    "leaky_relu": Activation(lambda x, p: F.leaky_relu(x, p["alpha"]), None, _kink, "relu"),
    "tanh": Activation(lambda x, p: torch.tanh(x), lambda x: 1 - torch.tanh(x) ** 2, _tanh_stationary, "s-shaped"),
    "sigmoid": Activation(lambda x, p: torch.sigmoid(x), _sigmoid_derivative, _sigmoid_stationary, "s-shaped", 2.0),
    "softplus": Activation(lambda x, p: torch.logaddexp(x, torch.zeros_like(x)), torch.sigmoid,
                           _softplus_stationary, "convex", 2.0),
}


def _extreme(op: str, params: dict, l: Tensor, u: Tensor, k: Tensor, lower: bool | None) -> Tensor:
    """min (lower line) or max (upper line) of f(x) - k·x over [l, u], exactly: at an end, a kink
    or a point where f'(x) = k. The gradient wrt k is the minimiser's (envelope theorem).
    ``lower`` None: the values at all candidate points [..., m] (the caller reduces)."""
    act = ACTIVATIONS[op]
    with torch.no_grad():   # envelope theorem: d(min)/dk needs the minimiser, not its derivative
        inner = act.stationary(k.detach(), params)
        lo, up = l.unsqueeze(-1).expand_as(inner[..., :1]), u.unsqueeze(-1).expand_as(inner[..., :1])
        cands = torch.cat([lo, up, torch.max(torch.min(inner, up), lo)], dim=-1)
    values = act.fn(cands, params) - k.unsqueeze(-1) * cands
    if lower is None:
        return values
    return values.amin(-1) if lower else values.amax(-1)


def intercepts(op: str, params: dict, lower: Tensor, upper: Tensor, slope_lo: Tensor, slope_up: Tensor
               ) -> tuple[Tensor, Tensor]:
    """The tightest sound intercepts for the given slopes (slopes may carry an extra spec dim
    broadcast against lower/upper). Both lines in one pass: the ops are small and many."""
    l, u = torch.broadcast_tensors(lower, upper, slope_lo)[:2]
    k = torch.stack([slope_lo.expand_as(l), slope_up.expand_as(l)])
    both = _extreme(op, params, l.unsqueeze(0), u.unsqueeze(0), k, None)
    b_lo, b_up = both[0].amin(-1), both[1].amax(-1)
    # Rounding: f and k·x are each off by an ulp or so; widen by a few ulps of the terms' size.
    eps = torch.finfo(l.dtype).eps * 8
    size = 1 + torch.max(l.abs(), u.abs()) * (1 + torch.max(slope_lo.abs(), slope_up.abs()))
    return b_lo - eps * (size + b_lo.abs()), b_up + eps * (size + b_up.abs())


def intercept(op: str, params: dict, lower: Tensor, upper: Tensor, slope: Tensor, side: str) -> Tensor:
    """The tightest sound intercept of one line (``side`` "lower" or "upper") for the given slope,
    padded for rounding as in :func:`intercepts`; slope may carry a spec dim lower/upper lack."""
    l, u = torch.broadcast_tensors(lower, upper, slope)[:2]
    b = _extreme(op, params, l, u, slope.expand_as(l), side == "lower")
    eps = torch.finfo(l.dtype).eps * 8
    pad = eps * (1 + torch.max(l.abs(), u.abs()) * (1 + slope.abs()) + b.abs())
    return b - pad if side == "lower" else b + pad


def _chord(op: str, params: dict, l: Tensor, u: Tensor, deriv: Callable[[Tensor], Tensor]) -> Tensor:
    f = ACTIVATIONS[op].fn
    width = u - l
    narrow = width < 1e-6 * (1 + u.abs())
    chord = (f(u, params) - f(l, params)) / torch.where(narrow, torch.ones_like(width), width)
    return torch.where(narrow, deriv((l + u) / 2), chord)


def _tangent_point(op: str, l: Tensor, u: Tensor, deriv: Callable) -> tuple[Tensor, Tensor]:
    """The point d in [l, 0] whose tangent passes through (u, f(u)) (for S-shaped f on a box that
    straddles 0), from the tangent table, and where it exists (``ok``)."""
    f = ACTIVATIONS[op].fn
    fn = lambda x: f(x, {})  # noqa: E731
    d = torch.max(tangent_point(op, fn, deriv, u).clamp(max=0), l)
    ok = fn(l) + deriv(l) * (u - l) < fn(u)   # the root lies inside [l, 0]
    return d, ok


def _tangent_through(op: str, l: Tensor, u: Tensor, deriv: Callable, chord: Tensor) -> Tensor:
    """Slope of the tangent at d in [l, 0] whose line passes through (u, f(u)) (CROWN's lower
    line for S-shaped f on a box that straddles 0); the chord's slope where no such d exists."""
    d, ok = _tangent_point(op, l, u, deriv)
    return torch.where(ok, deriv(d), chord)


@torch.no_grad()
def default_slopes(op: str, params: dict, l: Tensor, u: Tensor) -> tuple[Tensor, Tensor]:
    """CROWN's choice of lower and upper slopes for f on [l, u]."""
    act = ACTIVATIONS[op]
    if act.shape == "relu":
        neg = params.get("alpha", 0.0)
        deriv = lambda x: torch.where(x > 0, torch.ones_like(x), torch.full_like(x, neg))  # noqa: E731
        upper = _chord(op, params, l, u, deriv)
        adaptive = torch.where(u >= -l, torch.ones_like(l), torch.full_like(l, neg))
        lower = torch.where(l >= 0, torch.ones_like(l), torch.where(u <= 0, torch.full_like(l, neg), adaptive))
        return lower, upper
    deriv = act.derivative
    mid_slope, chord = deriv((l + u) / 2), _chord(op, params, l, u, deriv)
    if act.shape == "convex":
        return mid_slope, chord
    # S-shaped: convex below 0, concave above.
    mixed = (l < 0) & (u > 0)
    lower = torch.where(u <= 0, mid_slope, chord)
    upper = torch.where(l >= 0, mid_slope, chord)
    if bool(mixed.any()):
        # f is point-symmetric about (0, f(0)), so the upper line on [l, u] mirrors the lower on
        # [-u, -l]: both come out of one vectorised search.
        # The chord is its own mirror image.
        both = _tangent_through(op, torch.cat([l, -u]), torch.cat([u, -l]), deriv, torch.cat([chord, chord]))
        lower = torch.where(mixed, both[: l.shape[0]], lower)
        upper = torch.where(mixed, both[l.shape[0]:], upper)
    return lower, upper


@torch.no_grad()
def relu_default(l: Tensor, u: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """CROWN's ReLU relaxation in closed form (the common case, kept off the generic path for
    speed): lower x or 0 by whichever loses less area, upper the chord k(x - l)."""
    unstable = (l < 0) & (u > 0)
    width = torch.where(unstable, u - l, torch.ones_like(l))
    k_up = torch.where(unstable, u / width, (l >= 0).to(l.dtype))
    # The chord's intercept, rounded outwards: a few ulps of its size keep it above relu at l and u.
    b_up = torch.where(unstable, -k_up * l * (1 + 8 * torch.finfo(l.dtype).eps) + torch.finfo(l.dtype).eps * u,
                       torch.zeros_like(l))
    k_lo = torch.where(unstable, (u >= -l).to(l.dtype), (l >= 0).to(l.dtype))
    return k_lo, torch.zeros_like(l), k_up, b_up


@dataclass
class TangentRange:
    """Where alpha-CROWN may put the tangent point d of one line (slope f'(d), exact intercept) of
    a smooth activation on [l, u]: d in [start, end], the points whose tangents touch the convex
    (lower line) or concave (upper line) envelope of f on [l, u]; lines elsewhere are dominated
    there. ``free`` marks the neurons where that range is not a single line (elsewhere the line
    is fixed: CROWN's chord, which is then the envelope itself); ``init`` is CROWN's point."""
    start: Tensor
    end: Tensor
    init: Tensor
    free: Tensor


@torch.no_grad()
def tangent_ranges(op: str, params: dict, l: Tensor, u: Tensor
                   ) -> tuple[TangentRange | None, TangentRange | None]:
    """The lower and upper line's :class:`TangentRange` of a smooth activation (None: that line
    is always CROWN's chord, the best there is). Consistent with :func:`default_slopes`: at
    ``init`` the tangent's slope is CROWN's wherever ``free``."""
    act = ACTIVATIONS[op]
    if act.shape == "relu":
        raise ValueError("ReLU-shaped activations are optimised by slope, not by tangent point")
    mid = (l + u) / 2
    if act.shape == "convex":   # lower: any tangent; upper: the chord
        return TangentRange(l, u, mid, u > l), None
    deriv = act.derivative

    def convex_side(l: Tensor, u: Tensor) -> TangentRange:
        # The lower line of an S-shaped f (convex below 0, concave above).
        mid = (l + u) / 2
        mixed = (l < 0) & (u > 0)
        t, ok = _tangent_point(op, l, u, deriv) if bool(mixed.any()) else (mid, mixed)
        end = torch.where(mixed, t, u)
        return TangentRange(l, end, torch.where(mixed, t, mid), torch.where(mixed, ok, u <= 0) & (end > l))

    lower = convex_side(l, u)
    # f is point-symmetric about (0, f(0)): the upper line on [l, u] mirrors the lower on [-u, -l].
    m = convex_side(-u, -l)
    return lower, TangentRange(-m.end, -m.start, -m.init, m.free)


def tangent_line(op: str, params: dict, lower: Tensor, upper: Tensor, d: Tensor, side: str
                 ) -> tuple[Tensor, Tensor]:
    """Slope f'(d) and the tightest sound intercept (padded for rounding as in :func:`intercepts`)
    of a smooth activation's lower or upper line with the slope of the tangent at ``d``; d may
    carry a spec dim that lower/upper lack, and may lie anywhere.

    Cheaper than :func:`intercept` and exact: f(x) - f'(d)·x is stationary only where f'(x) = f'(d),
    i.e. at ±d for S-shaped f (f' even, its minimum at -|d| on the convex side, its maximum at
    |d|) and at d for convex f, so its extreme over [l, u] is at an end or at that point."""
    act = ACTIVATIONS[op]
    if act.shape == "relu":
        raise ValueError("tangent_line is for smooth activations")
    fn = lambda x: act.fn(x, params)  # noqa: E731
    k = act.derivative(d)
    if act.shape == "s-shaped":
        inner = -d.abs() if side == "lower" else d.abs()
    elif side == "lower":
        inner = d
    else:   # convex f: f(x) - kx is convex, its maximum over [l, u] is at an end
        inner = upper
    inner = torch.max(torch.min(inner, upper), lower)
    with torch.no_grad():
        kd = k.detach()
        b, at = fn(lower) - kd * lower, lower
        for x in (upper, inner):
            g = fn(x) - kd * x
            better = g < b if side == "lower" else g > b
            b, at = torch.where(better, g, b), torch.where(better, x, at)
        eps = torch.finfo(b.dtype).eps * 8
        pad = eps * (1 + torch.max(lower.abs(), upper.abs()) * (1 + kd.abs()) + b.abs())
        b = b - pad if side == "lower" else b + pad
    # The value is b; its derivative wrt k is -(the extreme's place) (envelope theorem).
    return k, b - (k - kd) * at
