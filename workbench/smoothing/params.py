"""Parameters of the smoothing methods (the GUI builds its form and the CLI its flags from these).

Defaults follow ../shared/notes/smoothing.md: Cohen's n0 = 100, n = 100,000, alpha = 0.001; the
optimisation constants of ANCER (900 isotropic steps at lr 0.04, 100 Adam steps at lr 0.04,
M = 100 draws, kappa = 2) and RANCER's clamp of theta to [0.5, 1.5] sigma*.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..jobs.registry import param
from .hessian import EXACT_MAX_DIM

_SIGMA_HELP = ("noise level: the Gaussian standard deviation for norm 2; for norm 1 the half-width "
               "lambda of the uniform noise U[-lambda, lambda] (its std is lambda/sqrt(3)); use "
               "the training noise of the model")


@dataclass
class SmoothingParams:
    sigma: float = param(help=_SIGMA_HELP, unit="input units", min=0.0)
    norm: Literal["2", "1"] = param("2", help="2: Gaussian noise, L2 certificates; 1: uniform noise, "
                                    "L1 certificates", choices=("2", "1"))
    n0: int = param(100, help="noise draws that select the class", min=1, max=10**9)
    n: int = param(100000, help="noise draws that estimate its probability", min=1, max=10**10)
    alpha: float = param(0.001, help="failure probability of each certificate", min=1e-12, max=0.5)
    batch_size: int = param(0, help="noisy copies per forward pass (0: sized to the network, about "
                            "8 MiB of activations per pass on a CPU, 256 MiB on a GPU)", min=0,
                            max=10**7, min_label="auto")
    device: Literal["cpu", "cuda"] = param("cpu", help="where to compute", choices=("cpu", "cuda"))
    seed: int = param(0, help="seed of the noise generator (the same seed gives the same run)",
                      min=0, max=2**63 - 1)

    def __post_init__(self) -> None:
        if not self.sigma > 0:
            raise ValueError(f"sigma must be positive, got {self.sigma}")


@dataclass
class AncerParams(SmoothingParams):
    iso_iterations: int = param(900, help="gradient-ascent steps of the isotropic sigma*(x)", min=0,
                                max=100000)
    iso_lr: float = param(0.04, help="learning rate of the isotropic stage", min=0.0)
    aniso_iterations: int = param(100, help="Adam steps of the per-dimension sigma", min=0, max=100000)
    aniso_lr: float = param(0.04, help="learning rate of the anisotropic stage (Adam)", min=0.0)
    opt_samples: int = param(100, help="noise draws per input per optimisation step", min=1,
                             max=100000)
    kappa: float = param(2.0, help="weight of the smallest axis in the anisotropic objective", min=0.0)
    keep_isotropic: bool = param(True, help="also certify sigma*(x) (alpha split in two) and keep "
                                 "it where the anisotropic region does not contain its ball")


@dataclass
class RancerParams(AncerParams):
    norm: Literal["2"] = param("2", help="RANCER certifies L2 (rotated Gaussian noise)", choices=("2",))
    hessian_rank: int = param(10, help="leading Hessian eigenpairs kept (Lanczos above "
                              "hessian_exact_dim inputs)", min=1, max=100000)
    hessian_exact_dim: int = param(EXACT_MAX_DIM, help="largest input size with the exact dense Hessian",
                                   min=1, max=100000)
    clamp_low: float = param(0.5, help="lower clamp of theta, as a multiple of sigma*", min=0.0)
    clamp_high: float = param(1.5, help="upper clamp of theta, as a multiple of sigma*", min=1.0)
