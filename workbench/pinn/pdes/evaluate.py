"""A network's values and derivatives at points, by autograd, on whatever device it lives on.

``model`` may be a :class:`workbench.nets.graph.Graph`, an ``nn.Module`` or any callable
mapping a batch [N, 2] (in ``input_order``) to [N, n_outputs] (or [N]).
"""
from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import torch

from workbench.pinn.pdes.base import PDE, Tensor

ModelFn = Callable[[Tensor], Tensor]


def model_device_dtype(model: Any, device=None, dtype=None) -> tuple[torch.device, torch.dtype]:
    """Where a model's parameters live (Graph, nn.Module); cpu/float32 for a plain function."""
    d, t = torch.device("cpu"), torch.float32
    if hasattr(model, "tensors") and hasattr(model, "nodes"):  # workbench Graph
        d, t = model.device, model.dtype
    elif isinstance(model, torch.nn.Module):
        p = next(model.parameters(), None)
        if p is not None:
            d, t = p.device, p.dtype
    return torch.device(device) if device is not None else d, dtype or t


def call(model: ModelFn, inputs: Tensor, n_outputs: int) -> Tensor:
    """The model's outputs as [N, n_outputs]."""
    out = model(inputs)
    if out.dim() == 1:
        out = out[:, None]
    out = out.reshape(out.shape[0], -1)
    if out.shape[1] != n_outputs:
        raise ValueError(f"the network has {out.shape[1]} outputs, the PDE needs {n_outputs}")
    return out


def stack_inputs(t: Tensor, x: Tensor, input_order: Sequence[str]) -> Tensor:
    cols = {"t": t, "x": x}
    return torch.stack([cols[k] for k in input_order], dim=-1)


def network_values(model: ModelFn, pde: PDE, t: Tensor, x: Tensor, *,
                   input_order: Sequence[str] | None = None, suffixes: Sequence[str] = ("", "_t", "_x", "_xx"),
                   create_graph: bool = False) -> dict[str, Tensor]:
    """``{"t", "x", "u", "u_t", "u_x", "u_xx", "v", ...}`` at the points (t, x), each [N].

    Only the requested ``suffixes`` are computed (second derivatives cost a second backward
    pass). With ``create_graph`` the results stay differentiable w.r.t. the parameters
    (training); otherwise they are detached.
    """
    order = tuple(input_order or pde.input_order)
    it, ix = order.index("t"), order.index("x")
    need_grad = any(s in suffixes for s in ("_t", "_x", "_xx"))
    need_xx = "_xx" in suffixes
    with torch.enable_grad():
        inputs = stack_inputs(t, x, order).detach().requires_grad_(need_grad)
        out = call(model, inputs, pde.n_outputs)
        values: dict[str, Tensor] = {"t": t, "x": x}
        for k, name in enumerate(pde.outputs):
            u = out[:, k]
            more = k + 1 < pde.n_outputs  # later outputs backpropagate through the same graph
            values[name] = u
            if not need_grad:
                continue
            (g,) = torch.autograd.grad(u.sum(), inputs, create_graph=create_graph or need_xx,
                                       retain_graph=create_graph or need_xx or more)
            if "_t" in suffixes:
                values[name + "_t"] = g[:, it]
            values[name + "_x"] = g[:, ix]
            if need_xx:
                (gg,) = torch.autograd.grad(g[:, ix].sum(), inputs, create_graph=create_graph,
                                            retain_graph=create_graph or more)
                values[name + "_xx"] = gg[:, ix]
    if not create_graph:
        values = {k: v.detach() for k, v in values.items()}
    return values


def residual_at(model: ModelFn, pde: PDE, t: Tensor, x: Tensor, *, input_order=None,
                create_graph: bool = False) -> Tensor:
    """The residual components [N, n_components] of the network at (t, x)."""
    suffixes = sorted({s[len(o):] for s in pde.symbols for o in pde.outputs if s.startswith(o)
                       and s[len(o):] in ("", "_t", "_x", "_xx")} | {""})
    values = network_values(model, pde, t, x, input_order=input_order, suffixes=suffixes,
                            create_graph=create_graph)
    return pde.residual(values)


def initial_error_at(model: ModelFn, pde: PDE, x: Tensor, *, input_order=None,
                     create_graph: bool = False) -> Tensor:
    """network(t0, x) - g(x), [N, n_outputs]."""
    t = torch.full_like(x, pde.t_range[0])
    values = network_values(model, pde, t, x, input_order=input_order, suffixes=("",),
                            create_graph=create_graph)
    return pde.initial.error(values, pde.outputs, x)


def boundary_errors_at(model: ModelFn, pde: PDE, t: Tensor, *, input_order=None,
                       create_graph: bool = False, conditions=None) -> dict[str, Tensor]:
    """Each boundary condition's pointwise error [N, n_outputs] at the times t."""
    conditions = pde.boundary if conditions is None else conditions
    suffixes = tuple(sorted({s for bc in conditions for s in bc.needs}))
    lo, hi = pde.x_range
    sides: dict[str, Mapping[str, Tensor]] = {}
    for side, xv in (("left", lo), ("right", hi)):
        if any(bc.side in (side, "both") for bc in conditions):
            sides[side] = network_values(model, pde, t, torch.full_like(t, xv), input_order=input_order,
                                         suffixes=suffixes, create_graph=create_graph)
    return {bc.name: bc.error(t, sides.get("left", {}), sides.get("right", {}), pde.outputs)
            for bc in conditions}
