"""The library entry point for bounds: ``bound(net, x_lower, x_upper, method=...)``."""
from __future__ import annotations

import torch

from ..nets.graph import Graph
from ..runtime import sound_math
from .sets import InputSet
from .verify import compute_bounds


def bound(net: Graph, x_lower: torch.Tensor, x_upper: torch.Tensor, method: str = "crown",
          C: torch.Tensor | None = None, **options) -> tuple[torch.Tensor, torch.Tensor]:
    """Sound lower and upper bounds [B, outputs] of ``net`` over the boxes [x_lower, x_upper].

    Inputs are batched [B, *input_shape] (a single unbatched box is accepted too); ``C`` [S, out]
    or [B, S, out] bounds C·y instead of y. ``method`` is ibp, crown or alpha-crown (options:
    alpha_iterations, alpha_lr). Results are on the inputs' device, in the network's dtype.
    """
    x_lower, x_upper = torch.as_tensor(x_lower), torch.as_tensor(x_upper)
    if tuple(x_lower.shape) == net.input_shape:
        x_lower, x_upper = x_lower.unsqueeze(0), x_upper.unsqueeze(0)
    if tuple(x_lower.shape[1:]) != net.input_shape:
        raise ValueError(f"inputs of shape {tuple(x_lower.shape[1:])} given, the network takes {net.input_shape}")
    inputs = InputSet.box(x_lower.to(net.device, net.dtype), x_upper.to(net.device, net.dtype))
    if C is not None:
        C = torch.as_tensor(C).to(net.device, net.dtype)
    with torch.no_grad(), sound_math():
        return compute_bounds(net, inputs, C, method, **options)
