"""Linear relaxations of activations, as a table from operator to a few small functions.

Every activation f gets bounded on [l, u] by two lines ``k_lo·x + b_lo <= f(x) <= k_up·x + b_up``.
The slope is free (CROWN picks one, alpha-CROWN optimises it); the intercept is then the tightest
*valid* one, ``b_lo = min_{x in [l,u]} f(x) - k·x``, found exactly by evaluating f(x) - k·x at the
only places its minimum can be: the two ends, the kinks, and the points where f'(x) = k. So any
slope gives a sound line — soundness never depends on how the slope was chosen.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F

from .tangents import tangent_point

Tensor = torch.Tensor
# The ops here run on small tensors, where dispatch dominates: a Python number operand is wrapped
# into a new tensor on every op, which costs as much again. A 0-dim tensor is not (and, being
# 0-dim, takes the other operand's dtype and may meet tensors on any device).
ZERO, HALF, ONE = torch.zeros(()), torch.tensor(0.5), torch.ones(())


def _without_grad(fn: Callable) -> Callable:
    """fn under torch.no_grad(), entered only where grad is on: callers mostly run without it
    already, and entering costs about two of these small ops."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        if not torch.is_grad_enabled():
            return fn(*args, **kwargs)
        with torch.no_grad():
            return fn(*args, **kwargs)
    return wrapper


# The stationary points are not capped: for a tiny slope k (saturated neurons) the minimiser of
# f(x) - k·x lies far out, and a capped candidate misses it by more than float64's padding covers
# (a cap at 1 - k <= 1 - 1e-7 made a tanh line on [-11.2, -9.5] invalid by 2e-9). Where 1 - k
# rounds to 1 the point comes out infinite and is clamped to an end, whose value is then within
# k·(u - l) <= eps·(u - l) of the extreme (inside the padding); a k outside f's range of slopes
# gives an end as well (or 0), where the extreme then is.


def _tanh_stationary(k: Tensor, p: dict) -> Tensor:
    # tanh'(x) = 1 - tanh(x)^2 = k  <=>  x = ±atanh(sqrt(1 - k))
    s = torch.sqrt(torch.sub(ONE, k).clamp_(0, 1))
    x = torch.atanh(s)
    return torch.stack([x, -x])


def _sigmoid_stationary(k: Tensor, p: dict) -> Tensor:
    # s'(x) = s(1 - s) = k  <=>  s = (1 ± d)/2 with d = sqrt(1 - 4k)  <=>  x = ±2·atanh(d)
    d = torch.sqrt(torch.sub(ONE, k, alpha=4).clamp_(0, 1))
    x = torch.atanh(d)
    x = x + x
    return torch.stack([x, -x])


def _softplus_stationary(k: Tensor, p: dict) -> Tensor:
    # softplus'(x) = sigmoid(x) = k  <=>  x = logit(k)
    return torch.logit(k.clamp(0, 1)).unsqueeze(0)


def _kink(k: Tensor, p: dict) -> Tensor:
    return torch.zeros_like(k).unsqueeze(0)


def _sigmoid_derivative(x: Tensor) -> Tensor:
    s = torch.sigmoid(x)
    return s * (ONE - s)


def _tanh_derivative(x: Tensor) -> Tensor:
    return ONE - torch.tanh(x).square()


@dataclass(frozen=True)
class Activation:
    fn: Callable[[Tensor, dict], Tensor]
    derivative: Callable[[Tensor], Tensor]
    # Candidate minimisers [m, *k.shape] of f(x) - k x, for slopes k. (The candidates go along a
    # new first dim: stacking and reducing along the last one is several times slower.)
    stationary: Callable[[Tensor, dict], Tensor]
    shape: str                                       # "relu" | "s-shaped" | "convex"
    # The width over which f' changes by O(1) (tanh(x) = 2·sigmoid(2x) - 1): alpha-CROWN's step unit
    # for tangent points on wide intervals.
    scale: float = 1.0


ACTIVATIONS: dict[str, Activation] = {
    "relu": Activation(lambda x, p: torch.relu(x), lambda x: (x > 0).to(x.dtype), _kink, "relu"),
    "leaky_relu": Activation(lambda x, p: F.leaky_relu(x, p["alpha"]), None, _kink, "relu"),
    "tanh": Activation(lambda x, p: torch.tanh(x), _tanh_derivative, _tanh_stationary, "s-shaped"),
    "sigmoid": Activation(lambda x, p: torch.sigmoid(x), _sigmoid_derivative, _sigmoid_stationary, "s-shaped", 2.0),
    "softplus": Activation(lambda x, p: torch.logaddexp(x, torch.zeros_like(x)), torch.sigmoid,
                           _softplus_stationary, "convex", 2.0),
}


def _extreme(op: str, params: dict, l: Tensor, u: Tensor, k: Tensor, lower: bool | None) -> Tensor:
    """min (lower line) or max (upper line) of f(x) - k·x over [l, u], exactly: at an end, a kink
    or a point where f'(x) = k. The gradient wrt k is the minimiser's (envelope theorem).
    ``lower`` None: the values at all candidate points [m, *k.shape] (the caller reduces).
    l and u may lack k's leading dims (they broadcast)."""
    act = ACTIVATIONS[op]
    with torch.no_grad():   # envelope theorem: d(min)/dk needs the minimiser, not its derivative
        inner = act.stationary(k.detach(), params)
        ends = (1, *inner.shape[1:])
        cands = torch.cat([l.expand(ends), u.expand(ends), inner.clamp(l, u)])
    values = act.fn(cands, params) - k * cands
    if lower is None:
        return values
    return values.amin(0) if lower else values.amax(0)


def _pad(b: Tensor, size: Tensor, side: str) -> Tensor:
    """The intercept b moved outwards by 8 ulps of the terms' size (``size`` + |b|): f and k·x are
    each off by an ulp or so. (One op: add with alpha multiplies and adds in one rounding, and
    since 8·eps is a power of 2 the product is exact, so this is b ∓ 8·eps·(size + |b|) rounded
    once, as two ops would round it.)"""
    eps = torch.finfo(b.dtype).eps * 8
    return torch.add(b, size + b.abs(), alpha=-eps if side == "lower" else eps)


def intercepts(op: str, params: dict, lower: Tensor, upper: Tensor, slope_lo: Tensor, slope_up: Tensor
               ) -> tuple[Tensor, Tensor]:
    """The tightest sound intercepts for the given slopes (slopes may carry an extra spec dim
    broadcast against lower/upper). Both lines in one pass: the ops are small and many."""
    if not lower.shape == upper.shape == slope_lo.shape == slope_up.shape:   # (skip the views if so)
        lower, upper, slope_lo, slope_up = torch.broadcast_tensors(lower, upper, slope_lo, slope_up)
    k = torch.stack([slope_lo, slope_up])
    both = _extreme(op, params, lower, upper, k, None)                    # [candidates, line, ...]
    b_lo, b_up = both.amin(0)[0], both.amax(0)[1]
    size = ONE + torch.max(lower.abs(), upper.abs()) * (ONE + k.abs().amax(0))
    return _pad(b_lo, size, "lower"), _pad(b_up, size, "upper")


def intercept(op: str, params: dict, lower: Tensor, upper: Tensor, slope: Tensor, side: str) -> Tensor:
    """The tightest sound intercept of one line (``side`` "lower" or "upper") for the given slope,
    padded for rounding as in :func:`intercepts`; slope may carry a spec dim lower/upper lack."""
    l, u = torch.broadcast_tensors(lower, upper, slope)[:2]
    b = _extreme(op, params, l, u, slope.expand_as(l), side == "lower")
    return _pad(b, ONE + torch.max(l.abs(), u.abs()) * (ONE + slope.abs()), side)


def _chord(f_l: Tensor, f_u: Tensor, l: Tensor, u: Tensor, mid_slope: Tensor) -> Tensor:
    """The slope of the chord from (l, f(l)) to (u, f(u)); where the interval is too narrow for
    the difference quotient, f' at the middle (``mid_slope``) instead."""
    width = u - l
    narrow = width < (ONE + u.abs()) * 1e-6
    return torch.where(narrow, mid_slope, (f_u - f_l) / width)   # x/0 there is discarded


def _relu_slopes(op: str, params: dict, l: Tensor, u: Tensor) -> tuple[Tensor, Tensor]:
    """CROWN's slopes for a (leaky) ReLU: upper the chord, lower the slope of the piece that loses
    less area (u >= -l: 1 where l >= 0, the negative piece's where u <= 0)."""
    neg = params.get("alpha", 0.0)
    piece = lambda up: torch.where(up, 1.0, torch.full_like(l, neg))  # noqa: E731
    f = ACTIVATIONS[op].fn
    upper = _chord(f(l, params), f(u, params), l, u, piece((l + u) / 2 > 0))
    return piece(u >= -l), upper


def _s_shaped_slopes(op: str, params: dict, l: Tensor, u: Tensor) -> tuple[Tensor, Tensor]:
    """CROWN's slopes for an S-shaped f (convex below 0, concave above) on [l, u]: for the lower
    line, where f is convex on [l, u] the tangent at the middle, where concave the chord, and
    where [l, u] straddles 0 the tangent at d in [l, 0] through (u, f(u)) if it exists, else the
    chord; the upper line likewise, convex and concave swapped."""
    act = ACTIVATIONS[op]
    # f is point-symmetric about (0, f(0)), so the upper line on [l, u] mirrors the lower one on
    # [-u, -l] (same slope): both come out of one lower-line computation on [L, U] with the lines
    # along a new first dim, L = (l, -u), U = (u, -l), except the chord and the middle's tangent,
    # which are the same for both lines (and taken on [l, u], as their rounding differs on the
    # mirror). The ops are small and dispatch dominates, so f and f' are each evaluated once.
    LU = torch.stack([l, -u, u, -l])
    f_LU = act.fn(LU, params)
    L, U, f_L, f_U = LU[:2], LU[2:], f_LU[:2], f_LU[2:]
    d = _tangent_point(op, L, U)
    d_mid, d_L, d_d = act.derivative(torch.cat([((l + u) * HALF).unsqueeze(0), L, d])).split([1, 2, 2])
    chord = _chord(f_L[0], f_U[0], l, u, d_mid[0])
    # U <= 0: f is convex on [L, U] (upper line: l >= 0, f concave on [l, u]); otherwise L < 0
    # means [L, U] straddles 0. (The tangent search runs on all neurons: nearly every call has
    # straddling ones, and checking first costs more than it saves.)
    tangent = (L < ZERO) & _tangent_exists(L, U, f_L, f_U, d_L)
    lower, upper = torch.where(U <= ZERO, d_mid, torch.where(tangent, d_d, chord))
    return lower, upper


def _tangent_point(op: str, l: Tensor, u: Tensor) -> Tensor:
    """The point d in [l, 0] whose tangent passes through (u, f(u)) (for S-shaped f on a box that
    straddles 0), from the tangent table; clamped into [l, 0] where it does not exist (see
    :func:`_tangent_exists`)."""
    act = ACTIVATIONS[op]
    fn = lambda x: act.fn(x, {})  # noqa: E731
    return torch.max(tangent_point(op, fn, act.derivative, u).clamp(max=0), l)


def _tangent_exists(l: Tensor, u: Tensor, f_l: Tensor, f_u: Tensor, deriv_l: Tensor) -> Tensor:
    """Where :func:`_tangent_point`'s d lies inside [l, 0]: the tangent at l passes below (u, f(u))."""
    return f_l + deriv_l * (u - l) < f_u


@_without_grad
def default_slopes(op: str, params: dict, l: Tensor, u: Tensor) -> tuple[Tensor, Tensor]:
    """CROWN's choice of lower and upper slopes for f on [l, u]."""
    act = ACTIVATIONS[op]
    if act.shape == "relu":
        return _relu_slopes(op, params, l, u)
    if act.shape == "convex":
        mid_slope = act.derivative((l + u) / 2)
        return mid_slope, _chord(act.fn(l, params), act.fn(u, params), l, u, mid_slope)
    return _s_shaped_slopes(op, params, l, u)


@_without_grad
def relu_default(l: Tensor, u: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """CROWN's ReLU relaxation in closed form (the common case, kept off the generic path for
    speed): lower x or 0 by whichever loses less area, upper the chord k(x - l)."""
    unstable = (l < ZERO) & (u > ZERO)
    # u >= -l: 1 where l >= 0 and 0 where u <= 0 (l < 0), as for stable neurons both lines are.
    k_lo = (u >= -l).to(l.dtype)
    k_up = torch.where(unstable, u / (u - l), k_lo)   # x/0 there is discarded
    zero = torch.zeros_like(l)
    # The chord's intercept, rounded outwards: a few ulps of its size keep it above relu at l and u.
    eps = torch.finfo(l.dtype).eps
    b_up = torch.where(unstable, eps * u - k_up * l * (1 + 8 * eps), zero)
    return k_lo, zero, k_up, b_up


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
    fn, deriv = (lambda x: act.fn(x, params)), act.derivative

    def convex_side(l: Tensor, u: Tensor) -> TangentRange:
        # The lower line of an S-shaped f (convex below 0, concave above).
        mid = (l + u) / 2
        mixed = (l < 0) & (u > 0)
        if bool(mixed.any()):
            t, ok = _tangent_point(op, l, u), _tangent_exists(l, u, fn(l), fn(u), deriv(l))
        else:
            t, ok = mid, mixed
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
        b = _pad(b, ONE + torch.max(lower.abs(), upper.abs()) * (ONE + kd.abs()), side)
    # The value is b; its derivative wrt k is -(the extreme's place) (envelope theorem).
    return k, b - (k - kd) * at
