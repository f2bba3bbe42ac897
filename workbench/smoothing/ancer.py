"""ANCER and RANCER end to end for a batch of inputs: optimise, certify, choose (no memory yet).

Both certify through Cohen's CERTIFY with the optimised noise. With ``keep_isotropic`` the
isotropic sigma*(x) is certified as well, each certificate at alpha/2: by the union bound both
hold together with probability >= 1 - alpha, so taking whichever is larger afterwards is sound.
The anisotropic one is kept only when its region contains the isotropic ball, which makes the
promise "never smaller than the isotropic certificate" hold for the *certified* regions, not
only for the optimisation's theta >= sigma*.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from . import cohen
from .hessian import Eigen, hessian_eigen
from .optimize import OptimSettings, anisotropic_theta, isotropic_sigma
from .sampling import Forward, noise_for


@dataclass
class DataDependent:
    """Per input, before the memory step: the chosen certificate and what produced it."""
    prediction: np.ndarray       # [N] (-1 abstain)
    p_lower: np.ndarray          # [N]
    gap: np.ndarray              # [N] (0 on abstain)
    theta: np.ndarray            # [N, d] smoothing parameters of the chosen certificate
    sigma_star: np.ndarray       # [N] isotropic stage
    iso_gap: np.ndarray          # [N] gap of the isotropic certificate (0 if not certified)
    iso_prediction: np.ndarray   # [N]
    used_isotropic: np.ndarray   # [N] bool
    rotation: np.ndarray | None = None        # [N, d, d] (RANCER)
    eigvals: np.ndarray | None = None         # [N, k]
    eigvecs: np.ndarray | None = None         # [N, k, d]


def optimise(forward: Forward, x: torch.Tensor, sigma0: float, kind: str, settings: OptimSettings, *,
             group: int, generator: torch.Generator | None, step: Callable[[], None],
             hessian_rank: int | None = None, hessian_exact_dim: int = 1024
             ) -> tuple[torch.Tensor, torch.Tensor, Eigen | None]:
    """sigma* [N], theta [N, d] and (RANCER, ``hessian_rank`` given) the Hessian eigenbasis."""
    sig, thetas, eig = [], [], []
    for start in range(0, x.shape[0], group):
        xb = x[start:start + group]
        s = isotropic_sigma(forward, xb, sigma0, kind, settings, generator, step)
        rotation = None
        if hessian_rank is not None:
            with torch.no_grad():
                labels = forward(xb).reshape(xb.shape[0], -1).argmax(1)
            e = hessian_eigen(forward, xb, labels, hessian_rank, exact_max_dim=hessian_exact_dim,
                              generator=generator)
            eig.append(e)
            rotation = e.rotation
        thetas.append(anisotropic_theta(forward, xb, s, kind, settings, generator, rotation, step))
        sig.append(s)
    eigen = None
    if eig:
        eigen = Eigen(torch.cat([e.values for e in eig]), torch.cat([e.vectors for e in eig]),
                      torch.cat([e.rotation for e in eig]))
    return torch.cat(sig), torch.cat(thetas), eigen


def certify_data_dependent(forward: Forward, x: torch.Tensor, sigma_star: torch.Tensor,
                           theta: torch.Tensor, num_classes: int, *, kind: str, norm: str, n0: int,
                           n: int, alpha: float, batch_size: int, keep_isotropic: bool,
                           generator: torch.Generator | None, eigen: Eigen | None = None,
                           on_batch: Callable[[int], None] | None = None) -> DataDependent:
    """Certify the optimised noise (and sigma* when ``keep_isotropic``) and pick per input."""
    rotation = None if eigen is None else eigen.rotation
    a_alpha = alpha / 2 if keep_isotropic else alpha
    kw = dict(n0=n0, n=n, norm=norm, batch_size=batch_size, generator=generator, on_batch=on_batch)
    aniso = cohen.certify(forward, x, noise_for(kind, theta, rotation), num_classes, alpha=a_alpha, **kw)
    d = theta.shape[1]
    sig = sigma_star.detach().cpu().double().numpy()
    th = theta.detach().cpu().double().numpy()
    if keep_isotropic:
        iso = cohen.certify(forward, x, noise_for(kind, sigma_star), num_classes, alpha=alpha / 2, **kw)
        contains = (aniso.prediction == iso.prediction) & (th.min(1) * aniso.gap >= sig * iso.gap)
        use_aniso = aniso.certified & (~iso.certified | contains)
        use_iso = ~use_aniso & iso.certified
    else:
        iso = None
        use_aniso = np.ones(len(sig), dtype=bool)
        use_iso = ~use_aniso

    def pick(a: np.ndarray, i: np.ndarray | None) -> np.ndarray:
        return a if i is None else np.where(use_iso.reshape(-1, *[1] * (a.ndim - 1)), i, a)

    theta_out = pick(th, None if iso is None else np.repeat(sig[:, None], d, 1))
    return DataDependent(
        prediction=pick(aniso.prediction, None if iso is None else iso.prediction),
        p_lower=pick(aniso.p_lower, None if iso is None else iso.p_lower),
        gap=pick(aniso.gap, None if iso is None else iso.gap), theta=theta_out, sigma_star=sig,
        iso_gap=np.zeros_like(sig) if iso is None else iso.gap,
        iso_prediction=np.full(len(sig), -1) if iso is None else iso.prediction,
        used_isotropic=use_iso,
        rotation=None if eigen is None else eigen.rotation.detach().cpu().double().numpy(),
        eigvals=None if eigen is None else eigen.values.detach().cpu().double().numpy(),
        eigvecs=None if eigen is None else eigen.vectors.detach().cpu().double().numpy())
