"""The certified regions of randomized smoothing, ANCER and RANCER, as the views draw them.

Qt-free and pure numpy/scipy, so the geometry is tested without a window. The convention, for a
sample whose top class has the lower confidence bound p̲_A:

- The *gap* ρ: ρ = Φ⁻¹(p̲_A) for Gaussian noise (certificates in L2), ρ = 2·(p̲_A − ½) for
  uniform noise (L1). ρ ≤ 0 means abstain (no region).
- L2 (Gaussian, noise R·diag(σ)·ε): the smoothed classifier is constant on the ellipsoid
  {δ : ‖diag(σ)⁻¹ Rᵀ δ‖₂ ≤ ρ}, semi-axes σ_i·ρ along the columns of R. R = I for ANCER, the loss
  Hessian's eigenbasis for RANCER; Cohen's isotropic σ gives the disc of radius σ·ρ.
- L1 (uniform, half-widths σ_i): the generalised cross-polytope {δ : Σ_i |(Rᵀδ)_i|/σ_i ≤ ρ},
  a diamond with half-axes σ_i·ρ.
- A certificate that the memory pass shrank holds only on the ball (L2 disc or L1 diamond) of its
  stored radius: it is drawn as that ball, not as the ellipse it started from.

The stored ``radius`` is the inscribed ball, ρ·min σ_i; ``radius_mismatch`` lets the data layer say
so when a run's numbers disagree with the region drawn, instead of drawing a wrong region silently.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import norm as normal


def gap_from_p_lower(p_lower: float | None, norm: str) -> float:
    """ρ of a sample from its p̲_A (0 when it abstains or p̲_A is missing)."""
    if p_lower is None or not np.isfinite(p_lower) or p_lower <= 0.5:
        return 0.0
    if str(norm) == "1":
        return float(2.0 * (p_lower - 0.5))
    return float(normal.ppf(min(float(p_lower), 1.0 - 1e-16)))  # ppf(1) is inf: p̲_A < 1 anyway


@dataclass
class Region:
    """One sample's certified region in a 2-D input plane."""
    center: np.ndarray    # [2]
    axes: np.ndarray      # [2] half-axes (σ_i·ρ, or the shrunk radius twice)
    rotation: np.ndarray  # [2, 2], columns are the directions of the axes
    norm: str             # "2": ellipse, "1": diamond
    shrunk: bool = False  # the memory pass replaced the region by a ball

    @property
    def kind(self) -> str:
        if self.norm == "1":
            return "cross-polytope" if not np.allclose(self.axes[0], self.axes[1]) else "L1 ball"
        if np.isclose(self.axes[0], self.axes[1]):
            return "disc"
        return "ellipse" if np.allclose(self.rotation, np.eye(2)) else "rotated ellipse"

    def outline(self, points: int = 160) -> np.ndarray:
        """Closed polygon [P, 2] of the boundary (the first point repeated at the end)."""
        if self.norm == "1":
            a, b = self.axes
            local = np.array([[a, 0.0], [0.0, b], [-a, 0.0], [0.0, -b], [a, 0.0]])
        else:
            t = np.linspace(0.0, 2.0 * np.pi, points)
            local = np.stack([self.axes[0] * np.cos(t), self.axes[1] * np.sin(t)], axis=1)
        return self.center[None, :] + local @ self.rotation.T

    def level(self, point: np.ndarray) -> float:
        """The region's gauge at ``point``: ≤ 1 inside, 1 on the boundary."""
        local = self.rotation.T @ (np.asarray(point, float) - self.center)
        scaled = np.abs(local) / np.maximum(self.axes, 1e-300)
        return float(scaled.sum() if self.norm == "1" else np.sqrt((scaled ** 2).sum()))

    @property
    def reach(self) -> float:
        """The farthest a boundary point is from the centre (for plot extents)."""
        return float(self.axes.max())


def make_region(center: np.ndarray, sigma: np.ndarray, gap: float, norm: str,
                rotation: np.ndarray | None = None, shrunk_radius: float | None = None) -> Region | None:
    """The region of a 2-D sample; None when there is nothing certified to draw."""
    center = np.asarray(center, float).reshape(2)
    if shrunk_radius is not None:
        if shrunk_radius <= 0:
            return None
        return Region(center, np.full(2, float(shrunk_radius)), np.eye(2), norm, shrunk=True)
    if gap <= 0:
        return None
    axes = np.asarray(sigma, float).reshape(2) * gap
    rot = np.eye(2) if rotation is None else np.asarray(rotation, float).reshape(2, 2)
    return Region(center, axes, rot, norm)


def inscribed_radius(sigma: np.ndarray, gap: float) -> float:
    """The radius of the largest ball inside the region: ρ·min σ_i (what runs store as radius)."""
    return float(gap * np.min(sigma)) if gap > 0 else 0.0


def noise_std_per_coordinate(sigma: np.ndarray, rotation: np.ndarray | None) -> np.ndarray:
    """Per-input-coordinate standard deviation of the noise R·diag(σ)·ε: √Σ_j R_ij² σ_j².

    For ANCER (R = I) this is σ itself; for RANCER σ lives in the Hessian eigenbasis, so a
    per-pixel picture must show this instead of σ."""
    sigma = np.asarray(sigma, float)
    if rotation is None:
        return sigma
    return np.sqrt((np.asarray(rotation, float) ** 2) @ (sigma ** 2))
