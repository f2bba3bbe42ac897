"""Memory-based certification (Alfarra et al., UAI 2022; notes section 3): what keeps data-dependent
smoothing (ANCER, RANCER) sound when a dataset is certified in sequence.

With sigma chosen per input, two inputs' certificates come from different smoothed classifiers
and may claim different classes for the same point. The memory certifies inputs in a fixed,
recorded order and keeps every earlier certificate; a new certificate of another class that
overlaps one of them is shrunk to a ball that avoids them all, or rejected (abstain) when its
centre lies inside one. Overlap tests are exact (``regions``), distances are lower bounds.
Abstentions are not stored: a region of nothing cannot conflict (notes 3.1, derived).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Literal

import numpy as np
import torch

from . import regions

SHRINK_MARGIN = 1e-6
Status = Literal["kept", "shrunk", "rejected"]


@dataclass
class Admitted:
    status: Status
    semi: torch.Tensor                 # [d] final semi-axes (a ball: all equal; rejected: zeros)
    rotation: torch.Tensor | None      # [d, d] final rotation (None: axis-aligned)


class Memory:
    """Stored certificates of one run: centres, classes, semi-axes, rotations (float64)."""

    def __init__(self, dim: int, norm: str, *, rotated: bool = False, capacity: int = 64,
                 device: torch.device | str = "cpu"):
        if norm not in ("2", "1"):
            raise ValueError(f"unknown norm {norm!r}")
        if rotated and norm != "2":
            raise ValueError("rotated regions are L2 ellipsoids")
        self.dim, self.norm, self.rotated = dim, norm, rotated
        self.size = 0
        kw = {"dtype": torch.float64, "device": torch.device(device)}
        self.center = torch.zeros((capacity, dim), **kw)
        self.semi = torch.ones((capacity, dim), **kw)
        self.label = torch.full((capacity,), -1, dtype=torch.int64, device=kw["device"])
        self.rotation = torch.zeros((capacity, dim, dim), **kw) if rotated else None

    def _grow(self) -> None:
        cap = 2 * self.center.shape[0]

        def bigger(t: torch.Tensor, fill: float) -> torch.Tensor:
            out = torch.full((cap, *t.shape[1:]), fill, dtype=t.dtype, device=t.device)
            out[: t.shape[0]] = t
            return out
        self.center, self.semi = bigger(self.center, 0.0), bigger(self.semi, 1.0)
        self.label = bigger(self.label, -1)
        if self.rotation is not None:
            self.rotation = bigger(self.rotation, 0.0)

    def store(self, center: torch.Tensor, label: int, semi: torch.Tensor,
              rotation: torch.Tensor | None = None) -> None:
        """Add a certificate as it is (no checks): ``admit`` calls this; tests plant entries."""
        if self.size == self.center.shape[0]:
            self._grow()
        i = self.size
        self.center[i] = center.reshape(-1).to(self.center)
        self.semi[i] = semi.reshape(-1).to(self.semi)
        self.label[i] = int(label)
        if self.rotation is not None:
            eye = torch.eye(self.dim, dtype=torch.float64, device=self.center.device)
            self.rotation[i] = eye if rotation is None else rotation.to(self.rotation)
        self.size += 1

    def admit(self, center: torch.Tensor, label: int, semi: torch.Tensor,
              rotation: torch.Tensor | None = None) -> Admitted:
        """Check a new certificate of class ``label`` (>= 0) against the memory, store what
        survives, and return it. ``semi`` [d] are the region's semi-axes (theta * gap)."""
        c = center.reshape(-1).to(self.center)
        s = semi.reshape(-1).to(self.semi)
        r = None if rotation is None or not self.rotated else rotation.to(self.center)
        n = self.size
        ca, sa, la = self.center[:n], self.semi[:n], self.label[:n]
        ra = None if self.rotation is None else self.rotation[:n]
        # Coarse filter: regions of other classes whose bounding balls (same norm) meet b's.
        dist = (ca - c).norm(p=2 if self.norm == "2" else 1, dim=1)
        near = (la != label) & (dist <= (regions.bounding_radius(sa) + s.max()) * (1 + regions.SLACK))
        idx = near.nonzero().flatten()
        if idx.numel() == 0:
            return self._keep(c, label, s, r, "kept")
        ca, sa = ca[idx], sa[idx]
        ra = None if ra is None else ra[idx]
        if bool((regions.gauge(c, ca, sa, ra, self.norm) <= 1 + regions.SLACK).any()):
            return Admitted("rejected", torch.zeros_like(s), None)   # its centre is claimed
        if self.norm == "2":
            overlap = regions.ellipsoids_overlap(c, s, r, ca, sa, ra)
        else:
            overlap = regions.cross_polytopes_overlap(c, s, ca, sa)
        if not bool(overlap.any()):
            return self._keep(c, label, s, r, "kept")
        ra_o = None if ra is None else ra[overlap]
        gap = regions.distance_lower_bound(c, ca[overlap], sa[overlap], ra_o, self.norm).min()
        # the inscribed ball, cut back to clear them all; the margin keeps the exact tests (which
        # count touching as overlap) from seeing the shrunk ball touch what it was cut back from
        radius = torch.minimum(s.min(), gap * (1 - SHRINK_MARGIN))
        if radius <= 0:
            return Admitted("rejected", torch.zeros_like(s), None)
        return self._keep(c, label, torch.full_like(s, float(radius)), None, "shrunk")

    def _keep(self, c: torch.Tensor, label: int, s: torch.Tensor, r: torch.Tensor | None,
              status: Status) -> Admitted:
        self.store(c, label, s, r)
        return Admitted(status, s, r)


def memory_pass(centres: torch.Tensor, prediction: np.ndarray, semi: np.ndarray,
                rotation: np.ndarray | None, norm: str,
                step: Callable[[], None] | None = None) -> tuple[list[Status], np.ndarray]:
    """Admit a run's certificates in their order: per input its memory status and final
    semi-axes [N, d] (zeros on abstain or rejection). Abstentions are skipped and marked "kept"
    (there is nothing to keep or shrink). ``step()`` is called per input (cancellation)."""
    n, d = centres.shape
    memory = Memory(d, norm, rotated=rotation is not None, capacity=max(n, 1), device=centres.device)
    status: list[Status] = []
    final = np.zeros((n, d))
    for i in range(n):   # sequential by definition: each decision depends on the earlier ones
        if step is not None:
            step()
        if prediction[i] < 0:
            status.append("kept")
            continue
        admitted = memory.admit(centres[i], int(prediction[i]), torch.as_tensor(semi[i]),
                                None if rotation is None else torch.as_tensor(rotation[i]))
        status.append(admitted.status)
        final[i] = admitted.semi.cpu().numpy()
    return status, final
