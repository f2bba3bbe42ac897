"""Exact geometry of certified regions: overlap tests and distance lower bounds, batched.

A region is ``{y : ||diag(1/s) R^T (y - c)||_p <= 1}`` with semi-axes s [d], rotation R [d, d]
(None: axis-aligned) and p = 2 (ellipsoid) or p = 1 (generalised cross-polytope, axis-aligned
only). Functions take one region ``b`` against a batch of regions ``a`` ([M, ...]) and run in
float64.

Soundness direction: the memory step (``memory.py``) keeps a certificate unchanged only when it
is *disjoint* from the others and shrinks it to a *lower bound* on a distance, so every test here
errs toward "they overlap" and every distance is a lower bound (``SLACK`` covers rounding).
"""
from __future__ import annotations

import torch

SLACK = 1e-9
GRID_POINTS, GRID_ROUNDS = 65, 6   # each round narrows the bracket 32x: 32^-6 ~ 1e-9 of it


def _concave_max(f, lo: torch.Tensor, hi: torch.Tensor) -> torch.Tensor:
    """Largest value found of a concave function per row, f(t [M, G]) -> [M, G], on [lo, hi] [M].

    A grid per round, then the two cells beside the best point (where a concave function's
    maximum must lie). Every value returned is attained, so it is never above the true maximum:
    callers use that direction (an overlap is declared more readily; a dual distance bound stays
    a lower bound). A handful of large tensor ops instead of a long scalar loop.
    """
    steps = torch.linspace(0, 1, GRID_POINTS, dtype=lo.dtype, device=lo.device)
    best = torch.full_like(lo, -torch.inf)
    for _ in range(GRID_ROUNDS):
        t = lo[:, None] + (hi - lo)[:, None] * steps
        values = f(t)
        top, j = values.max(1)
        best = torch.maximum(best, top)
        width = (hi - lo) / (GRID_POINTS - 1)
        lo, hi = torch.maximum(lo, t.gather(1, j[:, None])[:, 0] - width), torch.minimum(
            hi, t.gather(1, j[:, None])[:, 0] + width)
    return best


def _quadratic_overlap(w2: torch.Tensor, lam: torch.Tensor) -> torch.Tensor:
    """max over s in [0, 1] of h(s) = sum_i w2_i s (1 - s) / (s lam_i + 1 - s), per row [M].

    Each term is the parallel sum of the linear functions s and (1 - s)/lam_i, hence concave."""
    def h(s: torch.Tensor) -> torch.Tensor:
        s = s[:, :, None]
        return (w2[:, None] * s * (1 - s) / (s * lam[:, None] + (1 - s))).sum(2)

    lo = torch.zeros(w2.shape[0], dtype=w2.dtype, device=w2.device)
    return _concave_max(h, lo, torch.ones_like(lo))


def ellipsoids_overlap(cb: torch.Tensor, sb: torch.Tensor, rb: torch.Tensor | None,
                       ca: torch.Tensor, sa: torch.Tensor, ra: torch.Tensor | None) -> torch.Tensor:
    """[M] bool: whether the closed ellipsoid b meets each ellipsoid a (exact, S-lemma style).
    b's arrays may also be batched ([M, d], [M, d, d]): then row m of b is tested against row m of a.

    They meet iff max_s min_y [(1-s) q_b(y) + s q_a(y)] <= 1 (minimax of the two quadratic
    gauges). Whitening by b and diagonalising a's shape there (one batched ``eigh``; none when
    both are axis-aligned) gives h(s) = sum_i w_i^2 s(1-s) / (s lam_i + 1 - s).
    """
    v = ca - cb                                       # [M, d]
    if ra is None and rb is None:
        lam = (sa / sb) ** 2                          # a's shape in b's whitened coordinates
        w = v / sb
    else:
        d = v.shape[-1]
        eye = torch.eye(d, dtype=v.dtype, device=v.device)
        rb_ = eye if rb is None else rb
        ra_ = eye if ra is None else ra
        m_inv = rb_.transpose(-1, -2) / sb[..., :, None]     # diag(1/s_b) R_b^T
        half = torch.matmul(m_inv, ra_) * sa[..., None, :]  # M^-1 R_a diag(s_a)
        half = half.expand(v.shape[0], d, d)
        lam, u = torch.linalg.eigh(half @ half.transpose(1, 2))
        lam = lam.clamp_min(0.0)
        z = torch.einsum("...ij,...j->...i", m_inv, v)     # a's centre in b's whitened frame
        w = torch.einsum("mij,mi->mj", u, z)
    return _quadratic_overlap(w * w, lam) <= 1 + SLACK


def cross_polytopes_overlap(cb: torch.Tensor, sb: torch.Tensor, ca: torch.Tensor,
                            sa: torch.Tensor) -> torch.Tensor:
    """[M] bool: whether the closed axis-aligned cross-polytope b meets each a (exact).

    min_y max(f_a, f_b) = max_t sum_i |v_i| min((1-t)/s_a,i, t/s_b,i) (minimax of the two L1
    gauges; the inner minimum is separable). The right side is concave and piecewise linear in t
    with kinks at t_i = s_b,i / (s_a,i + s_b,i), so its maximum is at a kink: sort the kinks and
    evaluate all of them with prefix sums.
    """
    v = (ca - cb).abs()
    sbx = sb.expand_as(v)
    kinks = sbx / (sa + sbx)
    order = kinks.argsort(dim=1)
    t = kinks.gather(1, order)
    over_a = (v / sa).gather(1, order)                # terms (1-t)/s_a active for kinks < t
    over_b = (v / sbx).gather(1, order)               # terms t/s_b active for kinks >= t
    before = torch.cumsum(over_a, 1) - over_a         # kinks strictly before position j
    after = torch.flip(torch.cumsum(torch.flip(over_b, [1]), 1), [1])
    return (t * after + (1 - t) * before).max(1).values <= 1 + SLACK


def gauge(point: torch.Tensor, ca: torch.Tensor, sa: torch.Tensor, ra: torch.Tensor | None,
          norm: str) -> torch.Tensor:
    """[M] the gauge of ``point`` for each region a (<= 1: inside the closed region)."""
    y = point - ca
    if ra is not None:
        y = torch.einsum("mij,mi->mj", ra, y)         # R_a^T (point - c_a)
    if norm == "2":
        return ((y / sa) ** 2).sum(1).sqrt()
    return (y.abs() / sa).sum(1)


def distance_lower_bound(point: torch.Tensor, ca: torch.Tensor, sa: torch.Tensor,
                         ra: torch.Tensor | None, norm: str) -> torch.Tensor:
    """[M] a lower bound on the L2 (ellipsoids) or L1 (cross-polytopes) distance from ``point``
    to each region (0 inside).

    L2: the Lagrange dual g(t) = sum_i y_i^2 t A_i / (1 + t A_i) - t (A_i = 1/s_i^2, y in a's
    frame) is <= dist^2 for every t >= 0 and equals it at the projection's t (the root of
    sum_i A_i y_i^2 / (1 + t A_i)^2 = 1), so maximising it only has to find a good t: an inexact
    search can never inflate the distance. L1: the exact distance by the
    fractional-knapsack solution (shrink the cheapest coordinates, smallest s_i, first).
    """
    y = point - ca
    if ra is not None:
        y = torch.einsum("mij,mi->mj", ra, y)
    if norm == "2":
        a = sa ** -2
        y2 = y * y

        def dual(t: torch.Tensor) -> torch.Tensor:   # concave in t
            ta = t[:, :, None] * a[:, None]
            return (y2[:, None] * ta / (1 + ta)).sum(2) - t

        lo = torch.zeros(y.shape[0], dtype=y.dtype, device=y.device)
        hi = (y2 * sa * sa).sum(1).sqrt()             # beyond the projection's root t (phi <= 1)
        best = _concave_max(dual, lo, hi)
        return best.clamp_min(0.0).sqrt() * (1 - SLACK)
    u = y.abs()
    order = sa.argsort(dim=1)
    s = sa.gather(1, order)
    cap = (u / sa).gather(1, order)                   # gauge each coordinate can give up
    need = ((u / sa).sum(1) - 1).clamp_min(0.0)[:, None]
    taken = (need - (torch.cumsum(cap, 1) - cap)).clamp(min=torch.zeros_like(cap), max=cap)
    return (taken * s).sum(1) * (1 - SLACK)


def bounding_radius(semi: torch.Tensor) -> torch.Tensor:
    """Radius of a ball (L2 or L1, matching the region's norm) that contains the region."""
    return semi.max(-1).values
