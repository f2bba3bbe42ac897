"""Batched matrix-vector products, laid out the way CPU BLAS runs them fast.

Bounds need many products of a batch of A matrices [B, S, n] with one or a few vectors per
sample (intercepts, box centres and radii). ``torch.bmm(A, v.unsqueeze(2))`` is the obvious
spelling, but MKL runs it 4-8x slower than the same product with the vectors given as the
transpose of a [B, m, n] tensor (measured 3.6 ms against 0.53 ms for [8, 512, 784] on one core):
the two differ only in the stride of a size-1 dimension, which picks MKL's kernel.
"""
from __future__ import annotations

import torch

Tensor = torch.Tensor


def matvecs(A: Tensor, V: Tensor) -> Tensor:
    """``A`` [B or 1, S, n] times each of the vectors ``V`` [B, m, n], per sample -> [B, S, m]."""
    if A.shape[0] == 1:   # one matrix shared by the batch: a single matrix product
        return (V @ A[0].T).transpose(1, 2)
    return torch.bmm(A, V.transpose(1, 2))


def matvec(A: Tensor, v: Tensor) -> Tensor:
    """``A`` [B or 1, S, n] times ``v`` [B, n], per sample -> [B, S]."""
    return matvecs(A, v.unsqueeze(1)).squeeze(2)
