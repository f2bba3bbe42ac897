"""Randomized smoothing: Cohen et al. (predict, certify), ANCER (anisotropic: L2 ellipsoid, L1
generalised cross-polytope), RANCER (rotated by the loss Hessian's eigenbasis) and the memory step
that keeps data-dependent certificates sound. Pure torch/numpy/scipy; no Qt.

Modules: ``stats`` (Clopper-Pearson, radii, volumes), ``sampling`` (batched noisy class counts),
``cohen`` (PREDICT/CERTIFY), ``optimize`` (per-input sigma), ``hessian`` (exact/Lanczos
eigenbasis), ``regions`` (exact overlap tests, distance bounds), ``memory``, ``ancer``
(optimise + certify), ``params``, ``job`` (the registered run function), ``results`` (payload).
"""
from __future__ import annotations

from .cohen import ABSTAIN, Certificates, certify, predict
from .sampling import Noise, count_classes, noise_for
from .stats import clopper_pearson_lower, clopper_pearson_upper, radius

__all__ = ["ABSTAIN", "Certificates", "Noise", "certify", "clopper_pearson_lower",
           "clopper_pearson_upper", "count_classes", "noise_for", "predict", "radius"]
