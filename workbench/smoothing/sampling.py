"""Monte Carlo class counts of a base classifier under noise: the hot loop of every method.

Noise is drawn on the network's device in large batches under ``torch.inference_mode()`` and
the decisions are counted by ``votes.Votes`` into an [inputs, classes] table (a ``scatter_add_``,
which unlike ``bincount`` never waits for the GPU), so no Python loop ever runs over noise draws.
A batch holds ``k`` draws for each of the ``b`` inputs of a group, which keeps small networks from
being launch-bound.

The ``k`` standard draws e_1..e_k of a batch are shared by the group's inputs (input j sees
x_j + R_j (scale_j * e_i)). Each certificate is a statement about one input, and each input
still sees i.i.d. draws, fresh between calls (selection and estimation stay independent), so
this is as sound as separate draws; it cuts the random number generation, which on a CPU costs
as much as a small network's forward pass, by the group size.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Literal

import torch

from .votes import Votes, classifier_head

if TYPE_CHECKING:
    from ..nets.graph import Graph

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
        self.perturber(flat, e, out)()
        return out

    def perturber(self, flat: torch.Tensor, e: torch.Tensor, out: torch.Tensor) -> Callable[[], torch.Tensor]:
        """A call that computes ``perturb(flat, e, out)`` for whatever ``e`` holds at that time.

        The views (and the replicated inputs, and for a rotation the [B, k, d] scratch) are made
        once per buffer, not once per batch: on a small network their cost is a visible part of a
        batch. Without a rotation the inputs (and an anisotropic scale) are replicated k times
        into [B, k * d] once, so the per-batch ``addcmul`` is the same elementwise
        ``x + scale * e`` (bit for bit) over rows of k * d contiguous values instead of a
        broadcast whose innermost run is d (2 for a 2-d input: several times slower)."""
        if self.rotation is None:
            b, k, d = out.shape
            base = flat.expand(b, k, d).reshape(b, k * d)      # a copy unless k == 1
            scale = self.scale if self.scale.shape[1] == 1 else \
                self.scale[:, None, :].expand(b, k, d).reshape(b, k * d)
            e_row, out_rows = e.view(1, k * d), out.view(b, k * d)
            return lambda: torch.addcmul(base, scale, e_row, out=out_rows)
        scale, e3 = self.scale[:, None, :], e[None]
        rot_t = self.rotation.transpose(1, 2)
        scaled = torch.empty_like(out)

        def rotated() -> torch.Tensor:
            return torch.baddbmm(flat, torch.mul(scale, e3, out=scaled), rot_t, out=out)
        return rotated


# Rows per forward pass when the user leaves it to us: about this many bytes of activations per
# pass. On a CPU, passes that stay in the caches run fastest per row (measured: the moons MLP runs
# best near 10,000 rows, the digits CNN near 1,000, a CIFAR-size CNN 1.5x faster at 256 rows than
# at 1,000), and large passes make the fixed per-pass cost of smoothing small. A GPU wants many
# rows per launch.
AUTO_BYTES = {"cpu": 8 * 2**20, "cuda": 256 * 2**20}
AUTO_ROWS = {"cpu": (64, 16384), "cuda": (1024, 131072)}


def auto_batch_size(graph: Graph, device: torch.device | str) -> int:
    """Noisy rows per forward pass for ``graph``: ``AUTO_BYTES`` of activations (every node's
    value), clamped to ``AUTO_ROWS``."""
    kind = "cuda" if torch.device(device).type == "cuda" else "cpu"
    row_bytes = max(1, sum(math.prod(shape) for shape in graph.shapes) * graph.dtype.itemsize)
    low, high = AUTO_ROWS[kind]
    return int(min(high, max(low, AUTO_BYTES[kind] // row_bytes)))


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
    head = classifier_head(forward)
    k, done = 0, 0
    votes = None
    with torch.inference_mode():
        while done < num:
            if min(k_max, num - done) != k:   # the first batch, and a shorter last one
                if votes is not None:
                    votes.fold()
                k = min(k_max, num - done)
                e = torch.empty((k, d), dtype=x.dtype, device=dev)
                out = torch.empty((b, k, d), dtype=x.dtype, device=dev)
                noisy = out.view(b * k, *shape)
                perturb = noise.perturber(flat, e, out)
                votes = Votes(counts, k, transposed=head is not None)
            noise.standard(e, generator)
            perturb()
            votes.add(forward(noisy) if head is None else head.logits_t(noisy))
            done += k
            if on_batch is not None:
                on_batch(b * k)
        if votes is not None:
            votes.fold()
    return counts
