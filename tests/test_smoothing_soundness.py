"""Certificates are never wrong: on the 2-D moons, points inside every certified region (disc,
L1 diamond, ellipse, rotated ellipse, cross-polytope) get the centre's smoothed class, estimated
with many fresh draws of the centre's own noise; ANCER's region contains the isotropic one."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from workbench.data.datasets import load_dataset
from workbench.nets.loading import load_network
from workbench.smoothing import cohen
from workbench.smoothing.ancer import certify_data_dependent, optimise
from workbench.smoothing.optimize import OptimSettings
from workbench.smoothing.sampling import count_classes, noise_for

MODEL = Path(__file__).resolve().parents[1] / "sample_models" / "smooth_moons_sigma0.25" / "model.pt"
SIGMA = 0.25
INSIDE = 0.75        # points at up to 3/4 of the region: true p_A >= 0.56 there when p_lower >= 0.75
DRAWS = 4000         # per point: the estimate's std is <= 0.008, far below that margin


@pytest.fixture(scope="module")
def setup():
    graph = load_network(MODEL)
    data = load_dataset("moons", "test")
    x = torch.as_tensor(data.x[:16])
    return graph, x


def _unit_directions(norm: str, k: int, gen: torch.Generator) -> torch.Tensor:
    """k points on the unit sphere of the norm (boundary) and k inside, in 2-D."""
    phi = torch.linspace(0, 2 * math.pi, k + 1)[:-1]
    circle = torch.stack([torch.cos(phi), torch.sin(phi)], 1)
    if norm == "1":
        circle = circle / circle.abs().sum(1, keepdim=True)
    inner = circle * torch.rand((k, 1), generator=gen)
    return torch.cat([circle, inner])


def _smoothed_class(graph, points, scale, rotation, kind, gen) -> np.ndarray:
    noise = noise_for(kind, scale, rotation)
    counts = count_classes(graph, points, noise, DRAWS, graph.num_outputs,
                           batch_size=points.shape[0] * DRAWS, generator=gen)
    return counts.argmax(1).numpy()


def _check_regions(graph, x, prediction, p_lower, semi, theta, rotation, kind, norm, scale_by=INSIDE):
    """Smoothed class at points of each region (scaled by ``scale_by``) -> (checked, mismatches)."""
    gen = torch.Generator().manual_seed(7)
    keep = (prediction >= 0) & (p_lower >= 0.75)
    idx = np.flatnonzero(keep)
    unit = _unit_directions(norm, 16, gen)                       # [P, 2]
    pts, scales, rots, want = [], [], [], []
    for i in idx:
        local = unit * torch.as_tensor(semi[i], dtype=torch.float32) * scale_by
        if rotation is not None:
            local = local @ torch.as_tensor(rotation[i], dtype=torch.float32).T
        pts.append(x[i] + local)
        scales.append(torch.as_tensor(theta[i], dtype=torch.float32).expand(len(unit), 2))
        if rotation is not None:
            rots.append(torch.as_tensor(rotation[i], dtype=torch.float32).expand(len(unit), 2, 2))
        want.append(np.full(len(unit), prediction[i]))
    got = _smoothed_class(graph, torch.cat(pts), torch.cat(scales), torch.cat(rots) if rots else None, kind, gen)
    return len(idx), int((got != np.concatenate(want)).sum())


@pytest.mark.parametrize("norm", ["2", "1"])
def test_cohen_disc_and_diamond(setup, norm):
    graph, x = setup
    kind, sigma = ("gaussian", SIGMA) if norm == "2" else ("uniform", 0.4)
    gen = torch.Generator().manual_seed(0)
    cert = cohen.certify(graph, x, noise_for(kind, torch.full((len(x),), sigma)), 2, n0=100, n=20_000,
                         alpha=0.001, norm=norm, batch_size=40_000, generator=gen)
    semi = np.repeat((sigma * cert.gap)[:, None], 2, 1)
    theta = np.full((len(x), 2), sigma)
    checked, wrong = _check_regions(graph, x, cert.prediction, cert.p_lower, semi, theta, None, kind, norm)
    assert checked >= 8 and wrong == 0
    if norm == "2":
        # the check has teeth: far outside the certified discs (5x) some points change class
        _, wrong = _check_regions(graph, x, cert.prediction, cert.p_lower, semi, theta, None, kind, norm,
                                  scale_by=5.0)
        assert wrong > 0


def _data_dependent(graph, x, norm: str, rancer: bool):
    kind = "gaussian" if norm == "2" else "uniform"
    gen = torch.Generator().manual_seed(3)
    settings = OptimSettings(iso_iterations=40, iso_lr=0.04, aniso_iterations=30, aniso_lr=0.04,
                             samples=64, kappa=2.0, clamp=(0.5, 1.5) if rancer else None)
    sigma0 = SIGMA if norm == "2" else 0.4
    sig, theta, eigen = optimise(graph, x, sigma0, kind, settings, group=len(x), generator=gen,
                                 step=lambda: None, hessian_rank=2 if rancer else None)
    dd = certify_data_dependent(graph, x, sig, theta, 2, kind=kind, norm=norm, n0=100, n=20_000,
                                alpha=0.001, batch_size=40_000, keep_isotropic=True, generator=gen,
                                eigen=eigen)
    return kind, sig, theta, dd


@pytest.mark.parametrize("norm, rancer", [("2", False), ("1", False), ("2", True)])
def test_ancer_and_rancer_regions(setup, norm, rancer):
    graph, x = setup
    kind, sig, theta, dd = _data_dependent(graph, x, norm, rancer)
    semi = dd.theta * dd.gap[:, None]
    checked, wrong = _check_regions(graph, x, dd.prediction, dd.p_lower, semi, dd.theta, dd.rotation, kind, norm)
    assert checked >= 8 and wrong == 0
    # the optimisation's projection: no axis below sigma* (RANCER also at most 1.5 sigma*)
    th, s = theta.double().numpy(), sig.double().numpy()
    assert np.all(th >= s[:, None] * (1 - 1e-6))
    assert (th > s[:, None] * 1.01).any(), "the anisotropic stage changed nothing"
    if rancer:
        assert np.all(th <= 1.5 * s[:, None] * (1 + 1e-6))
        r = dd.rotation
        np.testing.assert_allclose(np.einsum("nij,nik->njk", r, r), np.broadcast_to(np.eye(2), r.shape), atol=1e-6)
    # the certified region contains the isotropic certificate's ball wherever that certifies
    iso = dd.iso_prediction >= 0
    assert iso.sum() >= 8
    assert np.all(dd.prediction[iso] == dd.iso_prediction[iso])
    assert np.all(semi[iso].min(1) >= dd.sigma_star[iso] * dd.iso_gap[iso] * (1 - 1e-12))
