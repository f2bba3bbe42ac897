"""RANCER's Hessian: the exact batched Hessian, Lanczos top-k against eigh, the completed basis."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from workbench.data.datasets import load_dataset
from workbench.nets.loading import load_network
from workbench.smoothing.hessian import (complete_basis, exact_hessian, hessian_eigen, hvp_operator,
                                         lanczos)

MODELS = Path(__file__).resolve().parents[1] / "sample_models"


def _digits(n: int = 4):
    graph = load_network(MODELS / "smooth_digits_sigma0.25" / "model.pt", dtype=torch.float64)
    x = torch.as_tensor(load_dataset("digits", "test").x[:n], dtype=torch.float64)
    labels = graph(x).argmax(1)
    return graph, x, labels


def test_exact_hessian_matches_autograd_per_input():
    graph, x, labels = _digits(3)
    h = exact_hessian(graph, x, labels)
    assert h.shape == (3, 64, 64)
    for i in range(3):
        def loss(flat, i=i):
            return F.cross_entropy(graph(flat.reshape(1, 1, 8, 8)), labels[i:i + 1])
        ref = torch.autograd.functional.hessian(loss, x[i].reshape(-1))
        torch.testing.assert_close(h[i], ref, rtol=1e-9, atol=1e-12)
    # a softmax-CE Hessian of a piecewise-linear net is J^T (diag p - p p^T) J: PSD, rank < 10
    eig = torch.linalg.eigvalsh(h)
    assert (eig > -1e-9).all() and ((eig > 1e-8).sum(1) <= 9).all()


def test_lanczos_top_k_matches_eigh_on_the_digits_hessian():
    """Rank < 10, so the Krylov space runs out early: this also exercises the restarts."""
    graph, x, labels = _digits(4)
    h = exact_hessian(graph, x, labels)
    values, vectors = torch.linalg.eigh(h)
    gen = torch.Generator().manual_seed(0)
    ritz, ritz_vecs = lanczos(hvp_operator(graph, x, labels), 4, 64, 24, dtype=torch.float64,
                              device=torch.device("cpu"), generator=gen)
    k = 4
    top = values.flip(1)[:, :k]
    got = ritz.flip(1)[:, :k]
    torch.testing.assert_close(got, top, rtol=1e-8, atol=1e-10)
    # the leading k-dimensional eigenspaces agree (projectors; robust to close eigenvalues)
    v_ref = vectors.flip(2)[:, :, :k]
    v_got = ritz_vecs.flip(1)[:, :k].transpose(1, 2)
    p_ref, p_got = v_ref @ v_ref.transpose(1, 2), v_got @ v_got.transpose(1, 2)
    assert (p_ref - p_got).abs().max() < 1e-6
    # and through the public entry point, the Lanczos path agrees with the exact one
    exact = hessian_eigen(graph, x, labels, 3)
    approx = hessian_eigen(graph, x, labels, 3, exact_max_dim=10, generator=gen)
    torch.testing.assert_close(approx.values, exact.values, rtol=1e-8, atol=1e-10)
    assert approx.rotation.shape == exact.rotation.shape == (4, 64, 64)


def test_lanczos_on_a_full_rank_matrix_with_known_spectrum():
    gen = torch.Generator().manual_seed(1)
    d = 200
    q, _ = torch.linalg.qr(torch.randn(2, d, d, generator=gen, dtype=torch.float64))
    spectrum = torch.cat([torch.tensor([100.0, -80.0, 60.0, 45.0]), torch.rand(d - 4, generator=gen) * 2 - 1])
    spectrum = spectrum.to(torch.float64)
    a = q @ torch.diag_embed(spectrum.expand(2, d)) @ q.transpose(1, 2)
    values, vecs = lanczos(lambda v: torch.einsum("bij,bj->bi", a, v), 2, d, 40, dtype=torch.float64,
                           device=torch.device("cpu"), generator=gen)
    order = values.abs().argsort(1, descending=True)[:, :4]
    lead = values.gather(1, order)
    np.testing.assert_allclose(lead.numpy(), np.broadcast_to([100.0, -80.0, 60.0, 45.0], (2, 4)), rtol=1e-9)
    lead_vecs = vecs.gather(1, order[:, :, None].expand(-1, -1, d))
    cos = torch.einsum("bkd,bdk->bk", lead_vecs, q[:, :, :4]).abs()
    assert (cos > 1 - 1e-8).all()


def test_complete_basis_is_orthogonal_and_starts_with_the_vectors():
    gen = torch.Generator().manual_seed(2)
    v, _ = torch.linalg.qr(torch.randn(5, 20, 3, generator=gen, dtype=torch.float64))
    rot = complete_basis(v.transpose(1, 2))
    eye = torch.eye(20, dtype=torch.float64).expand(5, 20, 20)
    torch.testing.assert_close(rot.transpose(1, 2) @ rot, eye, atol=1e-12, rtol=0)
    torch.testing.assert_close(rot[:, :, :3], v)
    # exact path: every eigenvector of the Hessian is an axis, ordered by |eigenvalue|
    graph, x, labels = _digits(2)
    e = hessian_eigen(graph, x, labels, 5)
    h = exact_hessian(graph, x, labels)
    torch.testing.assert_close(h @ e.rotation[:, :, :5], e.rotation[:, :, :5] * e.values[:, None, :],
                               atol=1e-9, rtol=1e-7)
    assert (e.values.abs().diff(dim=1) <= 1e-12).all()
