"""Residual terms as linear forms in the network's derivatives, one per box.

A product such as u·u_x or 1/R(u)·u_xx is not linear, so over each box it is replaced by a
*form*: Σ_s coeff_s·s + const ± rad, valid for every point of the box, where s runs over the
derivative symbols (u, u_t, u_x, u_xx, v, ...). The residual component, a sum of such forms,
then goes through one backward pass (`bound_spec`), which is tighter than bounding each term
on its own: the relaxations follow the combined signs (notes §4.7).

Forms are built from the symbols' intervals over the box:
- a symbol is exact (coeff 1);
- a product of two forms uses the blended McCormick plane of their intervals, s² the
  midpoint-tangent/secant pair (`workbench.pinn.bounds.products`); a product of three (u³,
  u²v) folds left;
- a `Func` factor (1/R(u) of diffusion–sorption) uses its chord and the tangent gap, which
  the function's stated monotonicity and concavity make valid.
All arithmetic is float64 and every rounding-sensitive step pads ``rad``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import torch

from workbench.pinn.bounds.products import mccormick, mul_interval, square, square_interval
from workbench.pinn.pdes.base import Func, Term

Tensor = torch.Tensor
EPS = torch.finfo(torch.float64).eps
Interval = tuple[Tensor, Tensor]


@dataclass
class Form:
    """Σ coeffs[s]·s + const ± rad over each box, and an enclosure [lo, hi] of the value."""
    coeffs: dict[str, Tensor]
    const: Tensor
    rad: Tensor
    lo: Tensor
    hi: Tensor

    def is_symbol(self) -> str | None:
        """The symbol's name if the form is exactly one symbol, else None."""
        if len(self.coeffs) == 1 and not bool(self.const.any()) and not bool(self.rad.any()):
            (name, c), = self.coeffs.items()
            if bool((c == 1).all()):
                return name
        return None

    def scaled(self, k: float) -> "Form":
        lo, hi = (self.lo * k, self.hi * k) if k >= 0 else (self.hi * k, self.lo * k)
        return Form({s: c * k for s, c in self.coeffs.items()}, self.const * k, self.rad * abs(k), lo, hi)


def symbol_form(name: str, box: Interval) -> Form:
    lo, hi = box
    return Form({name: torch.ones_like(lo)}, torch.zeros_like(lo), torch.zeros_like(lo), lo, hi)


def constant_form(lo: Tensor, hi: Tensor) -> Form:
    """Any value in [lo, hi], as mid ± half-width (coordinates t, x; flat functions)."""
    mid, half = (lo + hi) / 2, (hi - lo) / 2
    pad = 4 * EPS * (mid.abs() + half)
    return Form({}, mid, half + pad, lo, hi)


def multiply(a: Form, b: Form) -> Form:
    """The product of two forms: a plane in (a, b), with a and b replaced by their forms."""
    name = a.is_symbol()
    if name is not None and name == b.is_symbol():
        p = square(a.lo, a.hi)
        lo, hi = square_interval(a.lo, a.hi)
        return Form({name: p.ka}, p.c_mid, p.c_rad, lo, hi)
    p = mccormick(a.lo, a.hi, b.lo, b.hi)
    coeffs = {s: p.ka * c for s, c in a.coeffs.items()}
    for s, c in b.coeffs.items():
        coeffs[s] = coeffs[s] + p.kb * c if s in coeffs else p.kb * c
    const = p.ka * a.const + p.kb * b.const + p.c_mid
    rad = p.ka.abs() * a.rad + p.kb.abs() * b.rad + p.c_rad
    rad = rad + 4 * EPS * (const.abs() + rad)
    lo, hi = mul_interval(a.lo, a.hi, b.lo, b.hi)
    return Form(coeffs, const, rad, lo, hi)


def func_form(f: Func, box: Interval) -> Form:
    """f(s) over s ∈ box for a monotone, concave or convex `Func` with a derivative.

    On [a, b] the chord ℓ has slope k = (f(b) - f(a))/(b - a). For concave f, ℓ <= f <= ℓ + gap
    with gap <= min(f'(a) - k, k - f'(b))·(b - a) (each tangent at an end lies above f); for
    convex f the mirror image. Below the domain's lower end f is evaluated at that end (the
    Func's own convention, e.g. 1/R(max(u, 0))), where a constant form is used."""
    props = f.properties
    if f.derivative is None or not (props.get("concave") or props.get("convex")) \
            or not (props.get("increasing") or props.get("decreasing")):
        raise NotImplementedError(f"{f}: a relaxation needs a derivative, monotonicity and convexity")
    a, b = box
    d_lo = float(props.get("domain", (-float("inf"), 0))[0])
    fa, fb = f(a.clamp(min=d_lo)), f(b.clamp(min=d_lo))
    flo, fhi = torch.min(fa, fb), torch.max(fa, fb)
    slack = 16 * EPS * torch.max(fa.abs(), fb.abs())
    flat = constant_form(flo - slack, fhi + slack)
    width = b - a
    curved = (a > d_lo) & (width > 1e-9 * (1 + a.abs()))
    if not bool(curved.any()):
        return flat
    w = torch.where(curved, width, torch.ones_like(width))
    k = torch.where(curved, (fb - fa) / w, torch.zeros_like(w))
    da, db = f.derivative(a.clamp(min=d_lo)), f.derivative(b.clamp(min=d_lo))
    if props.get("concave"):
        gap = torch.min(da - k, k - db).clamp(min=0) * w     # f in [ℓ, ℓ + gap]
        shift = gap / 2
    else:
        gap = torch.min(k - da, db - k).clamp(min=0) * w     # f in [ℓ - gap, ℓ]
        shift = -gap / 2
    const = fa - k * a + shift
    rad = gap / 2 + slack + 8 * EPS * (const.abs() + (k * a).abs())
    const = torch.where(curved, const, flat.const)
    rad = torch.where(curved, rad, flat.rad)
    return Form({f.arg: k}, const, rad, flo - slack, fhi + slack)


def term_form(term: Term, intervals: Mapping[str, Interval]) -> Form:
    """One residual term as a form; `intervals` holds every symbol's enclosure over the boxes."""
    ref = next(iter(intervals.values()))[0]
    out: Form | None = None
    for factor in term.factors:
        if isinstance(factor, Func):
            form = func_form(factor, intervals[factor.arg])
        elif factor in ("t", "x"):
            form = constant_form(*intervals[factor])
        else:
            form = symbol_form(factor, intervals[factor])
        out = form if out is None else multiply(out, form)
    if out is None:  # a constant term
        c = torch.full_like(ref, term.coeff)
        return Form({}, c, torch.zeros_like(c), c, c)
    return out.scaled(term.coeff)


def component_form(terms: tuple[Term, ...], intervals: Mapping[str, Interval]) -> Form:
    """The sum of a residual component's terms."""
    forms = [term_form(t, intervals) for t in terms]
    coeffs: dict[str, Tensor] = {}
    for f in forms:
        for s, c in f.coeffs.items():
            coeffs[s] = coeffs[s] + c if s in coeffs else c
    const = sum((f.const for f in forms[1:]), forms[0].const)
    rad = sum((f.rad for f in forms[1:]), forms[0].rad)
    lo = sum((f.lo for f in forms[1:]), forms[0].lo)
    hi = sum((f.hi for f in forms[1:]), forms[0].hi)
    pad = 8 * EPS * (const.abs() + rad + lo.abs() + hi.abs())
    return Form(coeffs, const, rad + pad, lo - pad, hi + pad)
