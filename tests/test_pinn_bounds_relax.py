"""The ∂-CROWN relaxations one by one: tanh, tanh', tanh'' lines and ranges, McCormick, squares.

Every line must lie below / above its function on a dense grid of its interval, for many
intervals: tiny, wide, degenerate, and straddling each bend (0 for tanh; ±Z1 for tanh';
0, ±Z1 as extremes and ±Z2 as bends for tanh''). The functions are evaluated here by
independent formulas (sech, not 1 - tanh²) in float64.
"""
from __future__ import annotations

import math

import pytest
import torch

from workbench.pinn.bounds.activations import Z1, Z2, interval, relax
from workbench.pinn.bounds.products import mccormick, mul_interval, square, square_interval


def f_ref(order: int, z: torch.Tensor) -> torch.Tensor:
    sech2 = 1 / torch.cosh(z) ** 2
    return [torch.tanh(z), sech2, -2 * torch.tanh(z) * sech2][order]


def intervals(dtype: torch.dtype, n: int = 3000, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Random intervals of widths 1e-9 .. 30, plus ones hugging every bend and extreme."""
    gen = torch.Generator().manual_seed(seed)
    centre = torch.randn(n, generator=gen, dtype=torch.float64) * 3
    width = torch.exp(torch.empty(n, dtype=torch.float64).uniform_(math.log(1e-9), math.log(30), generator=gen))
    special = torch.tensor([0.0, Z1, -Z1, Z2, -Z2], dtype=torch.float64)
    k = n // 3   # a third of them straddle (or touch) a special point
    centre[:k] = special[torch.randint(0, 5, (k,), generator=gen)] + width[:k] * (torch.rand(k, generator=gen,
                                                                                             dtype=torch.float64) - 0.5)
    lo, up = centre - width / 2, centre + width / 2
    extra_lo = torch.tensor([0.0, -1, Z1 - 0.1, -Z2 - 0.05, -5, 1e-3, -40, 3.0, -Z1, Z1], dtype=torch.float64)
    extra_up = torch.tensor([0.0, 1, Z1 + 0.1, -Z2 + 0.05, 5, 1e-3, 40, 3.0, Z1, Z2], dtype=torch.float64)
    lo, up = torch.cat([lo, extra_lo]), torch.cat([up, extra_up])
    return lo.to(dtype), torch.max(up.to(dtype), lo.to(dtype))


def grid(lo: torch.Tensor, up: torch.Tensor, n: int = 801) -> torch.Tensor:
    s = torch.linspace(0, 1, n, dtype=torch.float64)
    z = lo.double()[:, None] + (up.double() - lo.double())[:, None] * s
    return torch.minimum(z, up.double()[:, None])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("order", [0, 1, 2])
def test_lines_enclose_function(order: int, dtype: torch.dtype) -> None:
    lo, up = intervals(dtype, seed=order)
    r = relax(order, lo, up)
    assert r.kl.dtype == dtype and r.bu.dtype == dtype
    z = grid(lo, up)
    f = f_ref(order, z)
    below = f - (r.kl.double()[:, None] * z + r.bl.double()[:, None])
    above = (r.ku.double()[:, None] * z + r.bu.double()[:, None]) - f
    assert below.min() >= -1e-15, f"lower line above tanh^({order}) by {-below.min():.3g}"
    assert above.min() >= -1e-15, f"upper line below tanh^({order}) by {-above.min():.3g}"


@pytest.mark.parametrize("order", [0, 1, 2])
def test_lines_are_tight(order: int) -> None:
    """On small intervals the gap is second order (about f''·w²/8), and exact on points."""
    lo, up = intervals(torch.float64, seed=10 + order)
    r = relax(order, lo, up)
    z = grid(lo, up)
    gap = ((r.ku - r.kl).double()[:, None] * z + (r.bu - r.bl).double()[:, None]).amax(1)
    w = (up - lo).double()
    small = w < 1e-2
    # |f''| <= 2 (tanh'''' peaks near 5.2 but w² makes that term tiny): allow 2·w²/8·... generous 1·w²
    assert bool((gap[small] <= 1.0 * w[small] ** 2 + 1e-13).all())
    point = w == 0
    assert bool((gap[point] <= 1e-13).all())


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("order", [0, 1, 2])
def test_exact_ranges(order: int, dtype: torch.dtype) -> None:
    lo, up = intervals(dtype, seed=20 + order)
    a, b = interval(order, lo, up)
    z = grid(lo, up, 2001)
    f = f_ref(order, z)
    assert bool((a.double() <= f.amin(1) + 1e-15).all()) and bool((b.double() >= f.amax(1) - 1e-15).all())
    # Exact: the critical points are clamped in, so the grid can only miss by its resolution.
    step = (up - lo).double() / 2000
    slack = 2 * step + 1e-6 if dtype == torch.float32 else 2 * step + 1e-12
    assert bool((a.double() >= f.amin(1) - slack).all()) and bool((b.double() <= f.amax(1) + slack).all())


def test_known_extremes() -> None:
    lo, up = torch.tensor([-3.0, -3.0, -0.1], dtype=torch.float64), torch.tensor([3.0, 3.0, 0.1], dtype=torch.float64)
    a, b = interval(2, lo, up)
    peak = 4 / (3 * math.sqrt(3))
    assert a[0].item() == pytest.approx(-peak, abs=1e-12) and b[0].item() == pytest.approx(peak, abs=1e-12)
    a1, b1 = interval(1, lo, up)
    assert b1[0].item() == pytest.approx(1.0, abs=1e-12)
    assert a1[2].item() == pytest.approx(1 / math.cosh(0.1) ** 2, abs=1e-12)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_mccormick_and_square(dtype: torch.dtype) -> None:
    gen = torch.Generator().manual_seed(3)
    n = 4000
    c = torch.randn(n, 2, generator=gen, dtype=torch.float64) * torch.tensor([1.0, 100.0], dtype=torch.float64)
    w = torch.exp(torch.empty(n, 2, dtype=torch.float64).uniform_(-12, 3, generator=gen))
    w[:200] = 0   # degenerate factors (constants) must come out exact
    lo, up = (c - w / 2).to(dtype), (c + w / 2).to(dtype)
    u = torch.rand(n, 64, 2, generator=gen, dtype=torch.float64)
    u[:, :4] = torch.tensor([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=torch.float64)
    pts = lo.double()[:, None] + (up - lo).double()[:, None] * u
    pts = torch.minimum(torch.maximum(pts, lo.double()[:, None]), up.double()[:, None])   # exact corners
    a, b = pts[..., 0], pts[..., 1]
    P = mccormick(lo[:, 0], up[:, 0], lo[:, 1], up[:, 1])
    lin = P.ka.double()[:, None] * a + P.kb.double()[:, None] * b + P.c_mid.double()[:, None]
    err = a * b - lin
    assert bool((err.abs() <= P.c_rad.double()[:, None] * (1 + 1e-12) + 1e-12 * (a * b).abs()).all())
    ilo, iup = mul_interval(lo[:, 0], up[:, 0], lo[:, 1], up[:, 1])
    assert bool((ilo.double()[:, None] <= a * b).all()) and bool((iup.double()[:, None] >= a * b).all())
    S = square(lo[:, 1], up[:, 1])
    lin = S.ka.double()[:, None] * b + S.c_mid.double()[:, None]
    err = b * b - lin
    assert bool((err.abs() <= S.c_rad.double()[:, None] * (1 + 1e-12) + 1e-12 * b * b).all())
    slo, sup = square_interval(lo[:, 1], up[:, 1])
    assert bool((slo.double()[:, None] <= b * b).all()) and bool((sup.double()[:, None] >= b * b).all())
    tol = 64 * torch.finfo(dtype).eps * (1 + (c[:200, 0] * c[:200, 1]).abs())
    assert bool((P.c_rad[:200].double() <= tol).all())   # constants: exact up to rounding
