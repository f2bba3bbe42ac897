"""Smoothing statistics: Clopper-Pearson bounds, abstain tests, radii, volumes, class counting."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats as sps

from workbench.smoothing import stats
from workbench.smoothing.cohen import certify, predict
from workbench.smoothing.sampling import count_classes, noise_for


@pytest.mark.parametrize("n, alpha", [(10, 0.05), (100, 0.001), (1000, 0.01)])
def test_clopper_pearson_solves_the_binomial_tail_equation(n, alpha):
    k = np.arange(1, n)
    lower = stats.clopper_pearson_lower(k, n, alpha)
    upper = stats.clopper_pearson_upper(k, n, alpha)
    # The exact one-sided bounds: P(X >= k | p_lower) = alpha and P(X <= k | p_upper) = alpha.
    np.testing.assert_allclose(sps.binom.sf(k - 1, n, lower), alpha, rtol=1e-6)
    np.testing.assert_allclose(sps.binom.cdf(k, n, upper), alpha, rtol=1e-6)
    assert np.all(np.diff(lower) > 0) and np.all(lower < k / n) and np.all(upper > k / n)


def test_clopper_pearson_at_the_ends():
    # scipy's Beta quantile is nan at k = 0; the exact bounds are 0 and alpha^(1/n) (and 1,
    # 1 - alpha^(1/n) for the upper bound).
    assert stats.clopper_pearson_lower(0, 50, 0.01) == 0.0
    assert stats.clopper_pearson_lower(50, 50, 0.01) == pytest.approx(0.01 ** (1 / 50), rel=1e-12)
    assert stats.clopper_pearson_upper(50, 50, 0.01) == 1.0
    assert stats.clopper_pearson_upper(0, 50, 0.01) == pytest.approx(1 - 0.01 ** (1 / 50), rel=1e-12)
    both = stats.clopper_pearson_lower(np.array([0, 3, 50]), 50, 0.01)
    assert np.isfinite(both).all() and both[0] == 0.0
    with pytest.raises(ValueError):
        stats.clopper_pearson_lower(51, 50, 0.01)


def test_certify_threshold_and_radius_ceilings_at_the_notes_defaults():
    # n = 100,000, alpha = 0.001: certifying at all needs n_A >= 50,490 (notes section 1)
    lo = stats.clopper_pearson_lower(np.array([50489, 50490]), 100_000, 0.001)
    assert lo[0] < 0.5 <= lo[1]
    # the largest radius, sigma Phi^-1(alpha^(1/n)): 1.50, 2.46, 3.20, 3.81 sigma
    for n, ceiling in [(100, 1.50), (1000, 2.46), (10_000, 3.20), (100_000, 3.81)]:
        r = stats.radius(stats.clopper_pearson_lower(n, n, 0.001), 1.0, "2")
        assert round(float(r), 2) == ceiling


def test_radius_formulas_by_hand():
    # L2: sigma Phi^-1(p); Phi(1) = 0.8413447460685429, Phi(2) = 0.9772498680518208
    p = np.array([0.8413447460685429, 0.9772498680518208, 0.5, 0.3])
    np.testing.assert_allclose(stats.radius(p, 0.5, "2"), [0.5, 1.0, 0.0, 0.0], atol=1e-12)
    # L1 with uniform noise of half-width lambda: 2 lambda (p - 1/2)
    np.testing.assert_allclose(stats.radius(np.array([0.75, 1.0, 0.4]), 0.2, "1"), [0.1, 0.2, 0.0])
    np.testing.assert_allclose(stats.gap(np.array([0.75]), "1"), [0.5])
    with pytest.raises(ValueError):
        stats.gap(np.array([0.7]), "inf")


def test_region_measures_by_hand():
    # 2-D: an ellipse with semi-axes 1 and 4 has area 4 pi; the L1 diamond has area 2ab = 8.
    m2 = stats.region_measures(np.array([[1.0, 4.0], [0.0, 0.0]]), "2")
    assert m2["log_volume"][0] == pytest.approx(math.log(4 * math.pi))
    assert m2["radius"][0] == 1.0 and m2["proxy_radius"][0] == pytest.approx(2.0)  # sqrt(1 * 4)
    assert m2["log_volume"][1] == -np.inf and m2["radius"][1] == 0 and m2["proxy_radius"][1] == 0
    m1 = stats.region_measures(np.array([[1.0, 4.0]]), "1")
    assert m1["log_volume"][0] == pytest.approx(math.log(8.0))
    # 3-D unit ball 4/3 pi; in high dimension the product of axes would underflow, the logs do not
    assert stats.region_measures(np.ones((1, 3)), "2")["log_volume"][0] == pytest.approx(math.log(4 / 3 * math.pi))
    big = stats.region_measures(np.full((1, 5000), 1e-3), "2")
    assert np.isfinite(big["log_volume"][0]) and big["proxy_radius"][0] == pytest.approx(1e-3)


def test_predict_abstains_by_binomial_test():
    assert not stats.predict_abstains(np.array([90]), np.array([10]), 0.001)[0]
    assert stats.predict_abstains(np.array([55]), np.array([45]), 0.001)[0]
    # exact two-sided p-value of 60 vs 40 at 1/2 is 0.0569...: abstain at 0.05, not at 0.1
    assert stats.predict_abstains(np.array([60]), np.array([40]), 0.05)[0]
    assert not stats.predict_abstains(np.array([60]), np.array([40]), 0.1)[0]


def _halfspace(x: torch.Tensor) -> torch.Tensor:
    """A base classifier with known smoothing: class 1 iff x_0 > 0 (logits -x_0, x_0)."""
    x0 = x.reshape(x.shape[0], -1)[:, 0]
    return torch.stack([-x0, x0], 1)


def test_count_classes_keeps_inputs_apart_across_uneven_batches():
    x = torch.tensor([[5.0, 0.0], [-5.0, 0.0], [0.0, 1.0]])
    gen = torch.Generator().manual_seed(0)
    noise = noise_for("gaussian", torch.full((3,), 0.1))
    seen = []
    counts = count_classes(_halfspace, x, noise, 1001, 2, batch_size=300, generator=gen,
                           on_batch=seen.append)
    assert counts.dtype == torch.int64 and counts.sum(1).tolist() == [1001] * 3
    assert counts[0].tolist() == [0, 1001] and counts[1].tolist() == [1001, 0]
    assert 400 < counts[2, 1] < 600          # on the boundary: about half
    assert sum(seen) == 3 * 1001 and len(seen) == math.ceil(1001 / 100)


def test_certify_on_a_halfspace_is_sound_and_tight():
    """For f = [x_0 > 0] the smoothed classifier is known exactly: the true L2 (and L1) distance
    to its decision boundary is |x_0|. The certified radius must never exceed it, and with
    100k draws it must come close (Gaussian L2 and uniform L1 are both tight for a halfspace)."""
    x = torch.tensor([[0.3, 0.3], [0.5, -1.0], [-0.4, 0.0], [0.0, 0.0], [1.5, 0.0]])
    gen = torch.Generator().manual_seed(1)
    for norm, kind, sigma in [("2", "gaussian", 0.5), ("1", "uniform", 1.0)]:
        cert = certify(_halfspace, x, noise_for(kind, torch.full((5,), sigma)), 2, n0=100, n=100_000,
                       alpha=0.001, norm=norm, batch_size=20_000, generator=gen)
        radius = sigma * cert.gap
        truth = x[:, 0].abs().numpy()
        assert np.all(radius <= truth + 1e-12), (norm, radius, truth)
        assert cert.prediction.tolist()[:3] == [1, 1, 0] and cert.prediction[3] == -1
        certified = cert.prediction >= 0
        assert np.all(radius[certified][:3] >= 0.8 * truth[certified][:3])
    # predict: clear cases answer, the point on the boundary abstains
    pred = predict(_halfspace, x, noise_for("gaussian", torch.full((5,), 0.5)), 2, n=2000, alpha=0.001,
                   batch_size=10_000, generator=gen)
    assert pred.tolist()[1:] == [1, 0, -1, 1]
