"""Input sets (box, Linf ball, L2 ball) and concretization of linear bounds over them.

Propagation produces linear functions ``A x + c`` of the input; turning them into numbers over a
set is this module's only job, so adding a new set never touches the propagation code.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .linalg import matvec, matvecs


def rounding_slack(magnitude: torch.Tensor, n_terms: int) -> torch.Tensor:
    """A safe bound on float rounding error of a sum of ``n_terms`` terms of total size ``magnitude``.

    Bounds are computed in floating point; without this slack a float32 margin of 1e-7 could read
    as a proof. 4·sqrt(n)+8 units of roundoff covers dot products and the few layers of
    accumulation between concretizations with room to spare, and costs nothing in tightness.
    """
    finfo = torch.finfo(magnitude.dtype)
    # tiny + c·magnitude in one op: a Python-number operand would cost a tensor of its own per op.
    tiny = _tiny.get((magnitude.dtype, magnitude.device))
    if tiny is None:
        tiny = _tiny[magnitude.dtype, magnitude.device] = torch.tensor(finfo.tiny, dtype=magnitude.dtype,
                                                                        device=magnitude.device)
    return torch.add(tiny, magnitude, alpha=finfo.eps * (4.0 * math.sqrt(n_terms) + 8.0))


_tiny: dict[tuple, torch.Tensor] = {}   # per dtype and device, for rounding_slack


@dataclass
class InputSet:
    """A batch of input sets. ``lower``/``upper`` [B, *in] always bound the set (for balls: the
    bounding box intersected with the clip range); balls also keep ``center`` and ``eps`` [B]."""

    lower: torch.Tensor
    upper: torch.Tensor
    center: torch.Tensor | None = None
    eps: torch.Tensor | None = None
    norm: float = math.inf

    @classmethod
    def box(cls, lower: torch.Tensor, upper: torch.Tensor) -> "InputSet":
        if lower.shape != upper.shape:
            raise ValueError(f"box bounds differ in shape: {tuple(lower.shape)} vs {tuple(upper.shape)}")
        if bool((lower > upper).any()):
            raise ValueError("box has a lower bound above its upper bound")
        return cls(lower, upper)

    @classmethod
    def ball(cls, center: torch.Tensor, eps: float | torch.Tensor, norm: float = math.inf,
             clip: tuple[float, float] | None = None) -> "InputSet":
        """The Linf or L2 ball of radius eps (scalar or per-sample [B]) around each center,
        optionally intersected with the valid data range ``clip``."""
        if norm not in (math.inf, 2, 2.0):
            raise ValueError(f"norm must be inf or 2, not {norm}")
        eps_t = torch.as_tensor(eps, dtype=center.dtype, device=center.device).expand(center.shape[0]).clone()
        if bool((eps_t < 0).any()):
            raise ValueError("eps must be non-negative")
        radius = eps_t.view(-1, *([1] * (center.dim() - 1)))
        lower, upper = center - radius, center + radius
        if clip is not None:
            lower, upper = lower.clamp(min=clip[0]), upper.clamp(max=clip[1])
            if bool((lower > upper).any()):
                raise ValueError(f"the inputs lie outside the valid data range {clip}")
        if norm == math.inf:
            return cls(lower, upper, center, eps_t, math.inf)  # clipped Linf ball is exactly a box
        return cls(lower, upper, center, eps_t, 2.0)

    @property
    def batch(self) -> int:
        return self.lower.shape[0]

    def to(self, device=None, dtype=None) -> "InputSet":
        mv = lambda t: None if t is None else t.to(device=device, dtype=dtype)  # noqa: E731
        return InputSet(mv(self.lower), mv(self.upper), mv(self.center), mv(self.eps), self.norm)

    def select(self, index: torch.Tensor) -> "InputSet":
        pick = lambda t: None if t is None else t[index]  # noqa: E731
        return InputSet(pick(self.lower), pick(self.upper), pick(self.center), pick(self.eps), self.norm)

    def project(self, x: torch.Tensor) -> torch.Tensor:
        """The nearest point of the set (exact for boxes/Linf; ball then box for L2, which stays
        inside the set because the ball projection keeps points inside the box's convex hull)."""
        if self.norm == 2:
            delta = (x - self.center).flatten(1)
            scale = (self.eps / delta.norm(dim=1).clamp_min(1e-30)).clamp(max=1.0)
            x = self.center + (delta * scale[:, None]).view_as(x)
        return torch.max(torch.min(x, self.upper), self.lower)

    def contains(self, x: torch.Tensor, tol: float = 0.0) -> torch.Tensor:
        inside = ((x >= self.lower - tol) & (x <= self.upper + tol)).flatten(1).all(dim=1)
        if self.norm == 2:
            inside &= (x - self.center).flatten(1).norm(dim=1) <= self.eps * (1 + 1e-6) + tol
        return inside

    def concretize(self, A: torch.Tensor, bias: torch.Tensor, consume: bool = False) -> torch.Tensor:
        """A sound lower bound of ``A x + bias`` over the set; A [B, S, *in], bias [B, S] -> [B, S].
        ``consume``: A is not needed afterwards and may be overwritten."""
        A = A.flatten(2)
        lo, up = self.lower.flatten(1), self.upper.flatten(1)
        mid, rad = (lo + up) / 2, (up - lo) / 2
        box = matvec(A, mid)
        ball = matvec(A, self.center.flatten(1)) if self.norm == 2 else None
        norm = A.norm(dim=2) if self.norm == 2 else None
        # |A| is the largest temporary: with ``consume`` (the caller is done with A) it overwrites
        # A, since allocating it costs about as much as computing it.
        absA = A.abs_() if consume and not A.requires_grad and A.is_contiguous() else A.abs()
        spread, size = matvecs(absA, torch.stack([rad, mid.abs()], 1)).unbind(2)
        box = box - spread + bias
        magnitude = spread + size + bias.abs()
        best = box
        if ball is not None:
            best = torch.max(box, ball - self.eps[:, None] * norm + bias)
        return best - rounding_slack(magnitude, A.shape[2])
