"""Per-input optimisation of the smoothing parameters (notes section 2.2 and 4).

Stage 1 (DDRS, Alfarra et al.): isotropic sigma*(x) by plain gradient ascent on the soft
certified radius. Stage 2 (ANCER): per-coordinate theta from sigma*, Adam on
J = g (prod theta)^(1/d) + kappa g min theta, projected onto theta >= sigma* after every step so
no axis of the ellipsoid falls below the isotropic one. RANCER runs stage 2 in a rotated basis.

Everything is batched over inputs: theta is one [B, d] tensor and the objectives are summed, so
each input's gradient (and Adam's element-wise update) is exactly that of its own problem.
The soft classifier is the mean over M reparametrised draws of softmax(f(x + R(theta * e))).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from .sampling import Forward

# ANCER clamps the soft probabilities before Phi^-1 (the original DDRS used [0.02, 0.98]).
PROB_CLAMP = (0.001, 0.999)
SIGMA_FLOOR = 1e-3   # stage 1 keeps sigma above this fraction of sigma_0 (the ascent may overshoot)


@dataclass
class OptimSettings:
    iso_iterations: int = 900
    iso_lr: float = 0.04
    aniso_iterations: int = 100
    aniso_lr: float = 0.04
    samples: int = 100         # M, draws per input per step
    kappa: float = 2.0         # weight of the min-axis term
    clamp: tuple[float, float] | None = None   # RANCER: theta in [lo, hi] * sigma*


def soft_gap(forward: Forward, x: torch.Tensor, scale: torch.Tensor, kind: str, samples: int,
             generator: torch.Generator | None, rotation: torch.Tensor | None = None) -> torch.Tensor:
    """The soft classifier's gap per input [B]: Phi^-1(psi_A) - Phi^-1(psi_B) (gaussian) or
    psi_A - psi_B (uniform), A and B the two largest entries of psi; differentiable in ``scale``."""
    b, d = x.shape[0], x[0].numel()
    if kind == "gaussian":
        e = torch.randn((b, samples, d), generator=generator, device=x.device, dtype=x.dtype)
    else:
        e = torch.rand((b, samples, d), generator=generator, device=x.device, dtype=x.dtype) * 2 - 1
    delta = e * scale.reshape(b, 1, -1)
    if rotation is not None:
        delta = torch.bmm(delta, rotation.transpose(1, 2))
    noisy = (x.reshape(b, 1, d) + delta).reshape(b * samples, *x.shape[1:])
    psi = torch.softmax(forward(noisy).reshape(b * samples, -1), dim=1).reshape(b, samples, -1).mean(1)
    top = psi.topk(2, dim=1).values if psi.shape[1] > 1 else torch.cat([psi, 1 - psi], 1)
    if kind == "gaussian":
        top = torch.special.ndtri(top.clamp(*PROB_CLAMP))
    else:
        top = top.clamp(*PROB_CLAMP)
    return top[:, 0] - top[:, 1]


def isotropic_sigma(forward: Forward, x: torch.Tensor, sigma0: float, kind: str,
                    settings: OptimSettings, generator: torch.Generator | None = None,
                    step: Callable[[], None] | None = None) -> torch.Tensor:
    """Stage 1: sigma*(x) [B] maximising sigma/2 (Phi^-1 psi_A - Phi^-1 psi_B) (gaussian) or
    lambda (psi_A - psi_B) (uniform) by plain gradient ascent from ``sigma0``."""
    sigma = torch.full((x.shape[0],), float(sigma0), dtype=x.dtype, device=x.device)
    factor = 0.5 if kind == "gaussian" else 1.0
    for _ in range(settings.iso_iterations):
        sigma.requires_grad_(True)
        objective = (factor * sigma * soft_gap(forward, x, sigma[:, None], kind, settings.samples,
                                               generator)).sum()
        (grad,) = torch.autograd.grad(objective, sigma)
        with torch.no_grad():
            sigma = (sigma + settings.iso_lr * grad).clamp_min(SIGMA_FLOOR * sigma0)
        if step is not None:
            step()
    return sigma.detach()


def anisotropic_theta(forward: Forward, x: torch.Tensor, sigma_star: torch.Tensor, kind: str,
                      settings: OptimSettings, generator: torch.Generator | None = None,
                      rotation: torch.Tensor | None = None,
                      step: Callable[[], None] | None = None) -> torch.Tensor:
    """Stage 2: theta [B, d] from sigma* [B] (ANCER; RANCER with ``rotation`` [B, d, d])."""
    b, d = x.shape[0], x[0].numel()
    floor = sigma_star[:, None].expand(b, d).clone()
    ceiling = None
    if settings.clamp is not None:
        lo, hi = settings.clamp
        floor = torch.maximum(floor, lo * sigma_star[:, None])
        ceiling = hi * sigma_star[:, None].expand(b, d)
    theta = floor.clone().requires_grad_(True)
    opt = torch.optim.Adam([theta], lr=settings.aniso_lr)
    for _ in range(settings.aniso_iterations):
        g = soft_gap(forward, x, theta, kind, settings.samples, generator, rotation)
        objective = g * torch.exp(torch.log(theta).mean(1)) + settings.kappa * g * theta.min(1).values
        opt.zero_grad()
        (-objective.sum()).backward()
        opt.step()
        with torch.no_grad():  # project in place: theta must stay the leaf Adam updates
            theta.copy_(torch.maximum(theta, floor))
            if ceiling is not None:
                theta.copy_(torch.minimum(theta, ceiling))
        if step is not None:
            step()
    return theta.detach()
