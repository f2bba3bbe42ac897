"""Monte Carlo class counts of a base classifier under noise: the hot loop of every method.

Noise is drawn on the network's device in large batches under ``torch.inference_mode()`` and
classes are counted with one ``scatter_add_`` per batch into a [inputs, classes] table (unlike
``bincount``, which sizes its output from the data, it never waits for the GPU), so no Python
loop ever runs over noise draws. A batch holds ``k`` draws for each of the ``b`` inputs of a group, which keeps small
networks from being launch-bound.

The ``k`` standard draws e_1..e_k of a batch are shared by the group's inputs (input j sees
x_j + R_j (scale_j * e_i)). Each certificate is a statement about one input, and each input
still sees i.i.d. draws, fresh between calls (selection and estimation stay independent), so
this is as sound as separate draws; it cuts the random number generation, which on a CPU costs
as much as a small network's forward pass, by the group size.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Literal

import torch

Forward = Callable[[torch.Tensor], torch.Tensor]


@dataclass
class Noise:
    """Per-input noise: ``scale`` [B, d] or [B, 1] (Gaussian std / uniform half-width per
    coordinate) and an optional orthonormal ``rotation`` [B, d, d] whose columns are the axes
    (a draw is R (scale * e) with e standard Gaussian or uniform on [-1, 1]^d)."""
    kind: Literal["gaussian", "uniform"]
    scale: torch.Tensor
    rotation: torch.Tensor | None = None

    def select(self, rows: slice) -> "Noise":
        return Noise(self.kind, self.scale[rows], None if self.rotation is None else self.rotation[rows])

    def standard(self, out: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        """Fill ``out`` with standard draws (N(0, 1) or U[-1, 1])."""
        if self.kind == "gaussian":
            return out.normal_(generator=generator)
        return out.uniform_(-1.0, 1.0, generator=generator)

    def perturb(self, flat: torch.Tensor, e: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        """``flat`` [B, 1, d] + R (scale * e) for shared draws ``e`` [k, d] -> ``out`` [B, k, d]."""
        scale = self.scale[:, None, :]
        if self.rotation is None:
            return torch.addcmul(flat, scale, e[None], out=out)      # one pass over the batch
        return torch.baddbmm(flat, scale * e[None], self.rotation.transpose(1, 2), out=out)


def noise_for(kind: str, scale: torch.Tensor, rotation: torch.Tensor | None = None) -> Noise:
    """``kind``: "gaussian" or "uniform"; ``scale`` [B] (isotropic) or [B, d]."""
    if kind not in ("gaussian", "uniform"):
        raise ValueError(f"unknown noise {kind!r}")
    scale = scale[:, None] if scale.dim() == 1 else scale
    return Noise(kind, scale, rotation)  # type: ignore[arg-type]


def count_classes(forward: Forward, x: torch.Tensor, noise: Noise, num: int, num_classes: int, *,
                  batch_size: int, generator: torch.Generator | None = None,
                  on_batch: Callable[[int], None] | None = None) -> torch.Tensor:
    """Counts [B, num_classes] (int64) of ``argmax forward(x_b + noise_b)`` over ``num`` draws per input.

    ``x`` [B, *input_shape], ideally B <= batch_size (callers group their inputs); a batch holds
    ``batch_size // B`` draws per input. ``on_batch(rows)`` is called after every batch with the
    forward rows done (progress and cancellation; it may raise).
    """
    b = x.shape[0]
    shape = tuple(x.shape[1:])
    d = x[0].numel()
    k_max = max(1, batch_size // b)
    dev = x.device
    counts = torch.zeros((b, num_classes), dtype=torch.int64, device=dev)
    flat = x.reshape(b, 1, d)
    k, done = 0, 0
    with torch.inference_mode():
        while done < num:
            if min(k_max, num - done) != k:   # the first batch, and a shorter last one
                k = min(k_max, num - done)
                e = torch.empty((k, d), dtype=x.dtype, device=dev)
                out = torch.empty((b, k, d), dtype=x.dtype, device=dev)
                ones = torch.ones((b, k), dtype=torch.int64, device=dev)
            noisy = noise.perturb(flat, noise.standard(e, generator), out)
            pred = forward(noisy.view(b * k, *shape)).reshape(b * k, -1).argmax(1)
            counts.scatter_add_(1, pred.view(b, k), ones)   # row j: input j's votes
            done += k
            if on_batch is not None:
                on_batch(b * k)
    return counts
