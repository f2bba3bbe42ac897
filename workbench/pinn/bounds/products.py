"""Products of two bounded quantities: McCormick planes, the square's envelope, interval products.

Both relaxations here share one form, ``p ∈ ka·a + kb·b + c_mid ± c_rad``: the same slopes for
the lower and the upper side. For p = a·b, with centres am, bm and half-widths ar, br,
    a·b = bm·a + am·b - am·bm + (a - am)(b - bm),   |(a - am)(b - bm)| <= ar·br,
which is exactly the 50/50 blend of the two McCormick planes on each side (the reference's
choice); for s = d² on [l, u], with centre m and half-width r,
    d² = 2m·d - m² + (d - m)²,   0 <= (d - m)² <= r²,
the midpoint tangent below and the secant above (the square's exact envelope pair). A shared
slope makes the backward pass sign-free: Λ·p needs only Λ·ka, Λ·kb and |Λ|·c_rad.

Computed in float64; `Plane.to` casts to a working dtype, slope rounding moved into c_rad.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import torch

from .activations import _down, _up

Tensor = torch.Tensor


@dataclass
class Plane:
    """``ka·a + kb·b + c_mid - c_rad <= p <= ka·a + kb·b + c_mid + c_rad``, all [N, n];
    a_max, b_max bound |a| and |b| (float64), which casting to a narrower dtype needs."""
    ka: Tensor
    kb: Tensor
    c_mid: Tensor
    c_rad: Tensor
    a_max: Tensor | None = None
    b_max: Tensor | None = None

    def to(self, dtype: torch.dtype) -> "Plane":
        """The plane in dtype, the rounding of its slopes and centre moved into c_rad."""
        if dtype == self.ka.dtype:
            return self
        ka, kb, cm = self.ka.to(dtype), self.kb.to(dtype), self.c_mid.to(dtype)
        slack = ((ka.double() - self.ka).abs() * self.a_max + (kb.double() - self.kb).abs() * self.b_max
                 + (cm.double() - self.c_mid).abs())
        return Plane(ka, kb, cm, _up(self.c_rad + slack, dtype), self.a_max, self.b_max)

    # The forms the backward pass uses, for Λ [N, n, rows].
    @cached_property
    def ka1(self) -> Tensor:
        return self.ka.unsqueeze(-1)

    @cached_property
    def kb1(self) -> Tensor:
        return self.kb.unsqueeze(-1)

    @cached_property
    def v_mid(self) -> Tensor:
        return self.c_mid.unsqueeze(1)

    @cached_property
    def v_abs(self) -> Tensor:
        return torch.stack([self.c_rad, self.c_mid.abs() + self.c_rad], 1)


def _plane(ka: Tensor, kb: Tensor, c_mid: Tensor, c_rad: Tensor, a_max: Tensor, b_max: Tensor,
           dtype: torch.dtype) -> Plane:
    """A float64 plane, its radius padded for the rounding of its own arithmetic, in dtype."""
    pad = 16 * torch.finfo(torch.float64).eps * (c_rad + c_mid.abs() + ka.abs() * a_max + kb.abs() * b_max)
    return Plane(ka, kb, c_mid, c_rad + pad, a_max, b_max).to(dtype)


def mccormick(a_lo: Tensor, a_up: Tensor, b_lo: Tensor, b_up: Tensor, dtype: torch.dtype | None = None
              ) -> Plane:
    """The blended McCormick relaxation of a·b over the box (degenerate factors give exact planes)."""
    dtype = dtype or a_lo.dtype
    a_lo, a_up, b_lo, b_up = a_lo.double(), a_up.double(), b_lo.double(), b_up.double()
    am, ar = (a_lo + a_up) / 2, (a_up - a_lo) / 2
    bm, br = (b_lo + b_up) / 2, (b_up - b_lo) / 2
    a_max, b_max = torch.max(a_lo.abs(), a_up.abs()), torch.max(b_lo.abs(), b_up.abs())
    return _plane(bm, am, -am * bm, ar * br, a_max, b_max, dtype)


def square(l: Tensor, u: Tensor, dtype: torch.dtype | None = None) -> Plane:
    """d² on [l, u] as ``2m·d - m² + r²/2 ± r²/2`` (kb = 0: one factor)."""
    dtype = dtype or l.dtype
    l, u = l.double(), u.double()
    m, r = (l + u) / 2, (u - l) / 2
    half = r * r / 2
    d_max = torch.max(l.abs(), u.abs())
    return _plane(2 * m, torch.zeros_like(m), half - m * m, half, d_max, torch.zeros_like(m), dtype)


def mul_interval(a_lo: Tensor, a_up: Tensor, b_lo: Tensor, b_up: Tensor) -> tuple[Tensor, Tensor]:
    """The exact range of a·b over the box, rounded outwards."""
    dtype = a_lo.dtype
    a_lo, a_up, b_lo, b_up = a_lo.double(), a_up.double(), b_lo.double(), b_up.double()
    corners = torch.stack([a_lo * b_lo, a_lo * b_up, a_up * b_lo, a_up * b_up], -1)
    return _down(corners.amin(-1), dtype), _up(corners.amax(-1), dtype)


def square_interval(l: Tensor, u: Tensor) -> tuple[Tensor, Tensor]:
    """The exact range of d² over [l, u], rounded outwards."""
    dtype = l.dtype
    l, u = l.double(), u.double()
    lo = torch.where((l < 0) & (u > 0), torch.zeros_like(l), torch.min(l * l, u * u))
    return _down(lo, dtype).clamp(min=0), _up(torch.max(l * l, u * u), dtype)
