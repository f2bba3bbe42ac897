"""Output specifications: what must hold of the network's outputs.

A specification is a set of *unsafe* regions (disjuncts), each a conjunction of linear
constraints on the outputs. Every row is written as a margin ``s = C·y + d``; a row "holds"
(the output is on the unsafe side of it) when ``s <= 0``. So:
- the property is **verified** when, for every disjunct, some row has a certified lower bound > 0
  (that disjunct's region cannot be reached);
- it is **falsified** by a concrete input whose output makes every row of some disjunct <= 0.
Robustness of class t is: one disjunct per other class j with the single row ``y_t - y_j``.
This matches VNN-LIB, where the asserted output constraints describe the unsafe region.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

Tensor = torch.Tensor


@dataclass
class Specification:
    C: Tensor           # [B, S, n_outputs]
    d: Tensor           # [B, S]
    groups: Tensor      # [S] disjunct index of each row (0..n_disjuncts-1)

    @property
    def n_disjuncts(self) -> int:
        return int(self.groups.max().item()) + 1 if self.groups.numel() else 0

    def to(self, device=None, dtype=None) -> "Specification":
        return Specification(self.C.to(device, dtype), self.d.to(device, dtype), self.groups.to(device))

    def select(self, index: Tensor) -> "Specification":
        return Specification(self.C[index], self.d[index], self.groups)

    def expand(self, batch: int) -> "Specification":
        return Specification(self.C.expand(batch, -1, -1), self.d.expand(batch, -1), self.groups)

    def margins(self, outputs: Tensor) -> Tensor:
        """s = C·y + d for concrete outputs y [B, n] -> [B, S]."""
        return torch.einsum("bsn,bn->bs", self.C, outputs.flatten(1)) + self.d

    def _per_disjunct(self, values: Tensor, reduce: str) -> Tensor:
        out = values.new_full((values.shape[0], self.n_disjuncts), -torch.inf if reduce == "amax" else torch.inf)
        index = self.groups.to(values.device).expand(values.shape[0], -1)
        return out.scatter_reduce(1, index, values, reduce=reduce, include_self=True)

    def disjunct_scores(self, lower: Tensor) -> Tensor:
        """Per disjunct, the best certified row [B, D]; the disjunct is unreachable when > 0."""
        return self._per_disjunct(lower, "amax")

    def verified(self, lower: Tensor) -> Tensor:
        """[B] bool: every unsafe region is certified unreachable."""
        return (self.disjunct_scores(lower) > 0).all(dim=1)

    def worst_score(self, lower: Tensor) -> Tensor:
        """[B]: how far from verified (the property is verified where this is > 0)."""
        return self.disjunct_scores(lower).amin(dim=1)

    def violation(self, outputs: Tensor) -> Tensor:
        """[B]: min over disjuncts of max over rows of the concrete margins; <= 0 is a counterexample."""
        return self._per_disjunct(self.margins(outputs), "amax").amin(dim=1)


def robustness(labels: Tensor, n_classes: int, dtype=torch.float32) -> Specification:
    """One disjunct per wrong class j: the margin y_label - y_j must stay positive."""
    labels = labels.long()
    B = labels.shape[0]
    others = torch.arange(n_classes, device=labels.device).expand(B, -1)
    others = others[others != labels[:, None]].view(B, n_classes - 1)
    C = torch.zeros(B, n_classes - 1, n_classes, dtype=dtype, device=labels.device)
    C.scatter_(2, labels.view(B, 1, 1).expand(-1, n_classes - 1, 1), 1.0)
    C.scatter_(2, others.unsqueeze(2), -1.0)
    groups = torch.arange(n_classes - 1, device=labels.device)
    return Specification(C, torch.zeros(B, n_classes - 1, dtype=dtype, device=labels.device), groups)


def from_disjuncts(disjuncts: list[tuple[np.ndarray, np.ndarray]], dtype=torch.float32,
                   device="cpu") -> Specification:
    """The VNN-LIB unsafe region ``OR_k (A_k y <= b_k)`` as margins ``s = A_k y - b_k``."""
    rows = np.concatenate([np.asarray(A, dtype=np.float64) for A, _ in disjuncts])
    offsets = np.concatenate([-np.asarray(b, dtype=np.float64) for _, b in disjuncts])
    groups = np.concatenate([np.full(len(b), k) for k, (_, b) in enumerate(disjuncts)])
    return Specification(torch.as_tensor(rows, dtype=dtype, device=device).unsqueeze(0),
                         torch.as_tensor(offsets, dtype=dtype, device=device).unsqueeze(0),
                         torch.as_tensor(groups, dtype=torch.long, device=device))
