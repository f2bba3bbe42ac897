"""The statistics of randomized smoothing: confidence bounds, abstain tests and the certificates'
sizes (radius, proxy radius, log-volume). Pure numpy/scipy on small per-input arrays.

Conventions (see ../shared/notes/smoothing.md, sections 1 and 2.1):

* ``norm="2"``: Gaussian noise N(0, diag(theta^2)) (theta = sigma for Cohen et al.). The gap is
  ``r = Phi^-1(p_lower)`` and the smoothed classifier is constant on the ellipsoid
  ``{d : ||diag(theta)^-1 d||_2 < r}``; isotropic: the L2 ball of radius ``sigma * Phi^-1(p_lower)``.
* ``norm="1"``: uniform noise U[-lambda_i, lambda_i] per coordinate, where ``lambda`` is the
  *half-width* (the workbench's ``sigma`` for norm 1 is this half-width, not a standard deviation;
  the std of the noise is lambda/sqrt(3)). The gap is ``r = 2 (p_lower - 1/2)`` and the smoothed
  classifier is constant on the generalised cross-polytope ``{d : sum_i |d_i| / lambda_i < r}``;
  isotropic: the L1 ball of radius ``2 lambda (p_lower - 1/2)`` (Yang et al. 2020).
"""
from __future__ import annotations

import math
from typing import Literal

import numpy as np
from scipy import special, stats

Norm = Literal["2", "1"]


def clopper_pearson_lower(count: np.ndarray | int, n: int, alpha: float) -> np.ndarray:
    """One-sided (1 - alpha) Clopper-Pearson lower bound on a binomial proportion.

    The Beta quantile B^-1(alpha; k, n - k + 1). scipy returns nan for k = 0 (a Beta with
    a zero shape), where the exact bound is 0, so that case is set explicitly.
    """
    k = np.asarray(count, dtype=np.float64)
    if np.any((k < 0) | (k > n)):
        raise ValueError(f"counts must lie in 0..{n}")
    safe = np.maximum(k, 1.0)  # keep scipy away from the degenerate shape; masked below
    bound = stats.beta.ppf(alpha, safe, n - safe + 1)
    return np.where(k == 0, 0.0, bound)


def clopper_pearson_upper(count: np.ndarray | int, n: int, alpha: float) -> np.ndarray:
    """One-sided (1 - alpha) Clopper-Pearson upper bound; exactly 1 at k = n."""
    k = np.asarray(count, dtype=np.float64)
    if np.any((k < 0) | (k > n)):
        raise ValueError(f"counts must lie in 0..{n}")
    safe = np.minimum(k, n - 1.0)
    bound = stats.beta.ppf(1.0 - alpha, safe + 1, n - safe)
    return np.where(k == n, 1.0, bound)


def predict_abstains(top: np.ndarray, second: np.ndarray, alpha: float) -> np.ndarray:
    """Cohen's PREDICT: abstain when the two-sided binomial test of ``top`` successes in
    ``top + second`` trials at p = 1/2 has a p-value above alpha (``binomtest``; the old
    ``binom_test`` is gone from scipy)."""
    top, second = np.asarray(top, dtype=np.int64), np.asarray(second, dtype=np.int64)
    p_values = np.array([stats.binomtest(int(a), int(a + b), 0.5).pvalue if a + b > 0 else 1.0
                         for a, b in zip(top.ravel(), second.ravel())])  # per input, not per sample
    return p_values.reshape(top.shape) > alpha


def gap(p_lower: np.ndarray, norm: Norm) -> np.ndarray:
    """The certificate's gap r (unit-free): Phi^-1(p) for Gaussian L2, 2 (p - 1/2) for uniform L1.
    Negative when p < 1/2 (an abstention)."""
    p = np.asarray(p_lower, dtype=np.float64)
    if norm == "2":
        return special.ndtri(p)
    if norm == "1":
        return 2.0 * (p - 0.5)
    raise ValueError(f"unknown norm {norm!r} (use '2' or '1')")


def radius(p_lower: np.ndarray, sigma: np.ndarray | float, norm: Norm) -> np.ndarray:
    """Isotropic certified radius: sigma Phi^-1(p) (L2) or 2 lambda (p - 1/2) (L1); 0 below 1/2."""
    r = gap(p_lower, norm)
    return np.where(r > 0, np.asarray(sigma, dtype=np.float64) * np.maximum(r, 0.0), 0.0)


def unit_ball_log_volume(d: int, norm: Norm) -> float:
    """log of the volume of the unit L2 ball (pi^(d/2) / Gamma(d/2 + 1)) or L1 ball (2^d / d!)."""
    if norm == "2":
        return d / 2 * math.log(math.pi) - math.lgamma(d / 2 + 1)
    return d * math.log(2.0) - math.lgamma(d + 1)


def region_measures(semi_axes: np.ndarray, norm: Norm) -> dict[str, np.ndarray]:
    """Sizes of the regions with semi-axes ``semi_axes`` [N, d] (theta_i * r; all zero on abstain).

    ``radius``: the largest inscribed ball (min semi-axis); ``proxy_radius``: the radius of the
    ball of equal volume, r * exp(mean log theta) (in log space: the product underflows);
    ``log_volume``: log of the region's volume (-inf for an empty region). Rotations do not
    change any of them (|det R| = 1).
    """
    s = np.asarray(semi_axes, dtype=np.float64)
    positive = np.all(s > 0, axis=1)
    with np.errstate(divide="ignore"):
        logs = np.where(positive[:, None], np.log(np.where(s > 0, s, 1.0)), -np.inf)
    d = s.shape[1]
    log_volume = np.where(positive, unit_ball_log_volume(d, norm) + logs.sum(1), -np.inf)
    proxy = np.where(positive, np.exp(np.where(positive[:, None], logs, 0.0).mean(1)), 0.0)
    return {"radius": np.where(positive, s.min(1), 0.0), "proxy_radius": proxy,
            "log_volume": log_volume}
