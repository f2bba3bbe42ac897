"""Cohen, Rosenfeld & Kolter (ICML 2019): PREDICT and CERTIFY for a smoothed classifier.

``certify`` works on any per-input noise (isotropic, anisotropic, rotated; Gaussian or uniform),
so ANCER and RANCER certify through it too: it returns the class, the Clopper-Pearson lower bound
p_lower and the gap r (``stats.gap``); the caller turns the gap into a region.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from . import stats
from .sampling import Forward, Noise, count_classes

ABSTAIN = -1


@dataclass
class Certificates:
    """Per input: ``prediction`` (-1 on abstain), ``p_lower``, ``gap`` (<= 0 on abstain) and
    the counts behind them (``n_a`` of the selected class among the ``n`` estimation draws)."""
    prediction: np.ndarray
    p_lower: np.ndarray
    gap: np.ndarray
    n_a: np.ndarray

    @property
    def certified(self) -> np.ndarray:
        return self.prediction != ABSTAIN


def _groups(n: int, size: int) -> list[slice]:
    return [slice(i, min(n, i + size)) for i in range(0, n, size)]


DRAWS_PER_BATCH = 10


def group_size(batch_size: int, draws: int) -> int:
    """Inputs per Monte Carlo batch: as many as leave ``DRAWS_PER_BATCH`` draws each. Many inputs
    per batch share one set of standard draws (``sampling``), so the random numbers cost little
    beside the network; a few draws each keep the batches of small groups full."""
    return max(1, batch_size // max(1, min(draws, DRAWS_PER_BATCH)))


def certify(forward: Forward, x: torch.Tensor, noise: Noise, num_classes: int, *, n0: int, n: int,
            alpha: float, norm: stats.Norm, batch_size: int,
            generator: torch.Generator | None = None,
            on_batch: Callable[[int], None] | None = None) -> Certificates:
    """CERTIFY for every input of ``x`` [N, *shape] with its own ``noise`` (rows match x).

    Selection: the top class of n0 draws; estimation: n_A among n *fresh* draws; p_lower is the
    one-sided (1 - alpha) Clopper-Pearson bound; abstain when p_lower < 1/2 (gap <= 0).
    """
    pred, p_low, n_a = [], [], []
    for rows in _groups(x.shape[0], group_size(batch_size, n)):
        sub = noise.select(rows)
        c0 = count_classes(forward, x[rows], sub, n0, num_classes, batch_size=batch_size,
                           generator=generator, on_batch=on_batch)
        c_hat = c0.argmax(1)
        counts = count_classes(forward, x[rows], sub, n, num_classes, batch_size=batch_size,
                               generator=generator, on_batch=on_batch)
        k = counts.gather(1, c_hat[:, None])[:, 0].cpu().numpy()
        n_a.append(k)
        p_low.append(stats.clopper_pearson_lower(k, n, alpha))
        pred.append(c_hat.cpu().numpy())
    p_lower = np.concatenate(p_low)
    prediction = np.where(p_lower >= 0.5, np.concatenate(pred), ABSTAIN)
    g = np.where(prediction == ABSTAIN, 0.0, stats.gap(p_lower, norm))
    # p_lower == 1/2 exactly gives gap 0: a certificate of nothing; report it as an abstention.
    prediction = np.where(g > 0, prediction, ABSTAIN)
    return Certificates(prediction.astype(np.int64), p_lower, np.maximum(g, 0.0), np.concatenate(n_a))


def predict(forward: Forward, x: torch.Tensor, noise: Noise, num_classes: int, *, n: int,
            alpha: float, batch_size: int, generator: torch.Generator | None = None,
            on_batch: Callable[[int], None] | None = None) -> np.ndarray:
    """PREDICT: the top class of n draws, or -1 when a binomial test cannot tell it from the
    runner-up at level alpha (so a returned class differs from g(x) with probability <= alpha)."""
    out = []
    for rows in _groups(x.shape[0], group_size(batch_size, n)):
        counts = count_classes(forward, x[rows], noise.select(rows), n, num_classes,
                               batch_size=batch_size, generator=generator, on_batch=on_batch)
        top2 = counts.topk(min(2, num_classes), dim=1)
        values, classes = top2.values.cpu().numpy(), top2.indices[:, 0].cpu().numpy()
        second = values[:, 1] if values.shape[1] > 1 else np.zeros_like(values[:, 0])
        out.append(np.where(stats.predict_abstains(values[:, 0], second, alpha), ABSTAIN, classes))
    return np.concatenate(out).astype(np.int64)
