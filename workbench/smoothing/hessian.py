"""The input Hessian of the loss, for RANCER's rotation (notes section 4).

H = d^2/dx^2 CE(f(x), y_hat) at each input, y_hat the base prediction. Small inputs: the exact
Hessian with ``torch.func`` (vmap over inputs of hessian), symmetrised, then ``eigh``. Large
inputs (a full Hessian of a 3x224x224 image does not fit anywhere): the top-k eigenpairs from
batched Lanczos with full reorthogonalisation on Hessian-vector products (double backward).
Either way the k leading directions (by |eigenvalue|) are completed to an orthonormal basis of
R^d, the rotation R whose columns are the axes of RANCER's ellipsoid.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torch import func

from .sampling import Forward

EXACT_MAX_DIM = 1024   # above this input size, Lanczos instead of the dense Hessian


@dataclass
class Eigen:
    values: torch.Tensor    # [B, k], by decreasing |value|
    vectors: torch.Tensor   # [B, k, d], rows orthonormal
    rotation: torch.Tensor  # [B, d, d], columns: the k vectors first, then a completion


def exact_hessian(forward: Forward, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """[B, d, d] Hessians of CE(forward(x_b), label_b) with respect to the flattened x_b."""
    shape = tuple(x.shape[1:])

    def loss(flat: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        logits = forward(flat.reshape(1, *shape)).reshape(1, -1)
        return F.cross_entropy(logits, label.reshape(1))

    # reverse-over-reverse: forward-over-reverse (func.hessian) goes through deprecated jit paths
    h = func.vmap(func.jacrev(func.jacrev(loss)))(x.reshape(x.shape[0], -1), labels)
    return 0.5 * (h + h.transpose(1, 2))


def hvp_operator(forward: Forward, x: torch.Tensor, labels: torch.Tensor
                 ) -> Callable[[torch.Tensor], torch.Tensor]:
    """v [B, d] -> H_b v_b for every input at once (inputs do not interact, so the gradient of the
    summed loss holds each input's own gradient)."""
    flat = x.reshape(x.shape[0], -1).detach().requires_grad_(True)
    logits = forward(flat.reshape(x.shape)).reshape(x.shape[0], -1)
    loss = F.cross_entropy(logits, labels, reduction="sum")
    (grad,) = torch.autograd.grad(loss, flat, create_graph=True)

    def hvp(v: torch.Tensor) -> torch.Tensor:
        (out,) = torch.autograd.grad(grad, flat, grad_outputs=v, retain_graph=True)
        return out.detach()
    return hvp


def lanczos(hvp: Callable[[torch.Tensor], torch.Tensor], b: int, d: int, steps: int, *,
            dtype: torch.dtype, device: torch.device, generator: torch.Generator | None = None
            ) -> tuple[torch.Tensor, torch.Tensor]:
    """Ritz values [B, m] and vectors [B, m, d] of ``steps`` Lanczos steps per input, with full
    reorthogonalisation (the basis stays orthonormal to rounding, so no ghost eigenvalues). When a
    Krylov space is exhausted (beta ~ 0: the Hessian of a c-class network has rank < c) the next
    vector is a fresh random direction orthogonal to the basis, with beta set to 0."""
    m = min(steps, d)
    q = torch.zeros((b, m, d), dtype=dtype, device=device)
    alpha = torch.zeros((b, m), dtype=dtype, device=device)
    beta = torch.zeros((b, m), dtype=dtype, device=device)
    v = torch.randn((b, d), generator=generator, dtype=dtype, device=device)
    v = v / v.norm(dim=1, keepdim=True)
    scale = torch.zeros(b, dtype=dtype, device=device)
    for j in range(m):
        q[:, j] = v
        w = hvp(v)
        alpha[:, j] = (w * v).sum(1)
        scale = torch.maximum(scale, w.norm(dim=1))
        basis = q[:, : j + 1]
        for _ in range(2):  # twice is enough (Kahan-Parlett)
            w = w - torch.einsum("bjd,bj->bd", basis, torch.einsum("bjd,bd->bj", basis, w))
        if j + 1 == m:
            break
        norm = w.norm(dim=1)
        dead = norm <= 1e-10 * scale.clamp_min(torch.finfo(dtype).tiny) + torch.finfo(dtype).tiny
        fresh = torch.randn((b, d), generator=generator, dtype=dtype, device=device)
        for _ in range(2):
            fresh = fresh - torch.einsum("bjd,bj->bd", basis, torch.einsum("bjd,bd->bj", basis, fresh))
        beta[:, j] = torch.where(dead, torch.zeros_like(norm), norm)
        nxt = torch.where(dead[:, None], fresh, w)
        v = nxt / nxt.norm(dim=1, keepdim=True)
    t = torch.diag_embed(alpha) + torch.diag_embed(beta[:, : m - 1], 1) + torch.diag_embed(beta[:, : m - 1], -1)
    values, s = torch.linalg.eigh(t)
    return values, torch.einsum("bjd,bjk->bkd", q, s)


def complete_basis(vectors: torch.Tensor) -> torch.Tensor:
    """[B, k, d] orthonormal rows -> [B, d, d] orthogonal matrices whose first k columns are them.

    Householder QR of [V | I] is orthogonal whatever the rank of the rest, and its first k
    columns equal +-V; the signs are put back so the columns are exactly the given vectors."""
    b, k, d = vectors.shape
    eye = torch.eye(d, dtype=vectors.dtype, device=vectors.device).expand(b, d, d)
    q, _ = torch.linalg.qr(torch.cat([vectors.transpose(1, 2), eye], dim=2))
    q = q[:, :, :d].clone()
    q[:, :, :k] = vectors.transpose(1, 2)
    return q


def _leading(values: torch.Tensor, vectors: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    order = values.abs().argsort(dim=1, descending=True)[:, :k]
    return values.gather(1, order), vectors.gather(1, order[:, :, None].expand(-1, -1, vectors.shape[2]))


def hessian_eigen(forward: Forward, x: torch.Tensor, labels: torch.Tensor, k: int, *,
                  exact_max_dim: int = EXACT_MAX_DIM, lanczos_steps: int | None = None,
                  generator: torch.Generator | None = None) -> Eigen:
    """The k leading eigenpairs of each input's loss Hessian and the completed rotation."""
    b, d = x.shape[0], x[0].numel()
    k = max(1, min(k, d))
    if d <= exact_max_dim:
        values, vecs = torch.linalg.eigh(exact_hessian(forward, x, labels))
        # every eigenvector goes into the rotation, ordered by |value| (not only the top k)
        values, vecs = _leading(values, vecs.transpose(1, 2), d)
        return Eigen(values[:, :k], vecs[:, :k], vecs.transpose(1, 2).contiguous())
    steps = lanczos_steps or min(d, max(2 * k + 10, 40))
    values, vecs = lanczos(hvp_operator(forward, x, labels), b, d, steps, dtype=x.dtype,
                           device=x.device, generator=generator)
    values, vecs = _leading(values, vecs, k)
    return Eigen(values, vecs, complete_basis(vecs))
