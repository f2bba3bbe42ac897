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


ACTIVATIONS: dict[str, Activation] = {
    "relu": Activation(lambda x, p: torch.relu(x), lambda x: (x > 0).to(x.dtype), _kink, "relu"),
    "leaky_relu": Activation(lambda x, p: F.leaky_relu(x, p["alpha"]), None, _kink, "relu"),
    "tanh": Activation(lambda x, p: torch.tanh(x), lambda x: 1 - torch.tanh(x) ** 2, _tanh_stationary, "s-shaped"),
    "sigmoid": Activation(lambda x, p: torch.sigmoid(x), _sigmoid_derivative, _sigmoid_stationary, "s-shaped"),
    "softplus": Activation(lambda x, p: torch.logaddexp(x, torch.zeros_like(x)), torch.sigmoid,
                           _softplus_stationary, "convex"),
}


def intercepts(op: str, params: dict, lower: Tensor, upper: Tensor, slope_lo: Tensor, slope_up: Tensor
               ) -> tuple[Tensor, Tensor]:
    """The tightest sound intercepts for the given slopes (slopes may carry an extra spec dim
    broadcast against lower/upper)."""
    act = ACTIVATIONS[op]
    l, u = torch.broadcast_tensors(lower, upper, slope_lo)[:2]

    def extreme(k: Tensor, pick: Callable) -> Tensor:
        with torch.no_grad():   # envelope theorem: d(min)/dk needs the minimiser, not its derivative
            inner = act.stationary(k.detach(), params)
        cands = torch.cat([l.unsqueeze(-1), u.unsqueeze(-1),
                           torch.max(torch.min(inner, u.unsqueeze(-1)), l.unsqueeze(-1))], dim=-1)
        return pick(act.fn(cands, params) - k.unsqueeze(-1) * cands)

    b_lo = extreme(slope_lo.expand_as(l), lambda v: v.amin(-1))
    b_up = extreme(slope_up.expand_as(l), lambda v: v.amax(-1))
    # Rounding: f and k·x are each off by an ulp or so; widen by a few ulps of the terms' size.
    eps = torch.finfo(l.dtype).eps * 8
    size = 1 + torch.max(l.abs(), u.abs()) * (1 + torch.max(slope_lo.abs(), slope_up.abs()))
    return b_lo - eps * (size + b_lo.abs()), b_up + eps * (size + b_up.abs())


def _chord(op: str, params: dict, l: Tensor, u: Tensor, deriv: Callable[[Tensor], Tensor]) -> Tensor:
    f = ACTIVATIONS[op].fn
    width = u - l
    narrow = width < 1e-6 * (1 + u.abs())
    chord = (f(u, params) - f(l, params)) / torch.where(narrow, torch.ones_like(width), width)
    return torch.where(narrow, deriv((l + u) / 2), chord)


def _tangent_through(op: str, l: Tensor, u: Tensor, deriv: Callable, iters: int = 30) -> Tensor:
    """Slope of the tangent at d in [l, 0] whose line passes through (u, f(u)) (CROWN's lower
    line for S-shaped f on a box that straddles 0); the chord's slope where no such d exists."""
    f = ACTIVATIONS[op].fn
    fu = f(u, {})
    lo, hi = l.clone(), torch.zeros_like(l)
    for _ in range(iters):   # bisection, vectorised over all neurons
        d = (lo + hi) / 2
        above = f(d, {}) + deriv(d) * (u - d) >= fu
        hi, lo = torch.where(above, d, hi), torch.where(above, lo, d)
    ok = f(l, {}) + deriv(l) * (u - l) < fu   # the root lies inside [l, 0]
    return torch.where(ok, deriv(hi), _chord(op, {}, l, u, deriv))


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
        lower = torch.where(mixed, _tangent_through(op, l, u, deriv), lower)
        # f is point-symmetric about (0, f(0)), so the upper line on [l, u] mirrors the lower on [-u, -l].
        upper = torch.where(mixed, _tangent_through(op, -u, -l, deriv), upper)
    return lower, upper


def slope_range(op: str, params: dict, l: Tensor, u: Tensor) -> tuple[Tensor, Tensor]:
    """Sensible limits for optimised slopes (any slope is sound; these keep the search useful)."""
    act = ACTIVATIONS[op]
    if act.shape == "relu":
        neg = params.get("alpha", 0.0)
        return torch.full_like(l, min(neg, 1.0)), torch.full_like(l, max(neg, 1.0))
    if act.shape == "convex":
        return act.derivative(l), act.derivative(u)
    dl, du = act.derivative(l), act.derivative(u)
    peak = torch.where((l < 0) & (u > 0), act.derivative(torch.zeros_like(l)), torch.max(dl, du))
    return torch.min(dl, du), peak


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
