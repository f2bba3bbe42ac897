"""PyTorch networks to `Graph`: nn.Module / TorchScript layer stacks, and state dicts with an
architecture description. (torch.export programs: `export_io.py`; its names are re-exported here.)

Modules are walked, never run: an nn.Sequential (scripted or not) is a list of layers whose
parameters and settings are read off. Every unsupported layer is listed at once.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
from torch import nn

from workbench.nets.architecture import ArchitectureError, build_module
from workbench.nets.builder import GraphBuilder, same_padding
from workbench.nets.errors import ModelLoadError, Unsupported, UnsupportedModelError, first_line
from workbench.nets.export_io import ATEN, BATCH, Var, convert_program, graph_from_exported
from workbench.nets.graph import Graph

__all__ = ["ATEN", "BATCH", "LAYERS", "Layer", "Var", "convert_program", "graph_from_exported", "graph_from_module",
           "graph_from_state_dict", "layer_kind", "same_padding", "unwrap_state_dict"]

# -- nn.Module / TorchScript -----------------------------------------------------------------------
Layer = Callable[[GraphBuilder, int, Any, str], int]


def _conv_layer(b: GraphBuilder, x: int, m: Any, name: str) -> int:
    padding = m.padding
    if isinstance(padding, str):
        padding = same_padding(padding, m.kernel_size, m.dilation)
    return b.conv2d(x, m.weight, m.bias, m.stride, padding, m.dilation, m.groups, name)


def _bn_layer(b: GraphBuilder, x: int, m: Any, name: str) -> int:
    # Eval semantics (running statistics), which is what a trained network means.
    gamma = m.weight if m.weight is not None else torch.ones_like(m.running_var)
    beta = m.bias if m.bias is not None else torch.zeros_like(m.running_mean)
    return b.batchnorm(x, gamma, beta, m.running_mean, m.running_var, m.eps, name)


def _pool_layer(b: GraphBuilder, x: int, m: Any, name: str) -> int:
    return b.avgpool(x, m.kernel_size, m.stride, m.padding, m.count_include_pad, m.ceil_mode, name)


def _act(op: str) -> Layer:
    return lambda b, x, m, name: b.add(op, [x], {}, name)


# Layer kind -> (converter, check of the layer's settings returning a problem or None).
LAYERS: dict[str, tuple[Layer, Callable[[Any], str | None]]] = {
    "Linear": (lambda b, x, m, name: b.linear(x, m.weight, m.bias, name), lambda m: None),
    "Conv2d": (_conv_layer, lambda m: None if m.padding_mode == "zeros" else f"padding_mode={m.padding_mode!r}"),
    "ReLU": (_act("relu"), lambda m: None),
    "Tanh": (_act("tanh"), lambda m: None),
    "Sigmoid": (_act("sigmoid"), lambda m: None),
    "Softplus": (_act("softplus"), lambda m: None if float(m.beta) == 1.0 else f"beta={m.beta}"),
    "LeakyReLU": (lambda b, x, m, name: b.add("leaky_relu", [x], {"alpha": float(m.negative_slope)}, name),
                  lambda m: None),
    "Flatten": (lambda b, x, m, name: b.flatten(x, m.start_dim, m.end_dim, name), lambda m: None),
    "BatchNorm1d": (_bn_layer, lambda m: None if m.running_mean is not None else "no running statistics"),
    "BatchNorm2d": (_bn_layer, lambda m: None if m.running_mean is not None else "no running statistics"),
    "AvgPool2d": (_pool_layer, lambda m: None if getattr(m, "divisor_override", None) is None
                  else "divisor_override"),
    "Identity": (lambda b, x, m, name: x, lambda m: None),
    "Dropout": (lambda b, x, m, name: x, lambda m: None),  # identity in eval
}


def layer_kind(m: nn.Module) -> str:
    """The torch.nn class a module is, or a descriptive name for anything else.

    Only torch.nn's own classes count: a user subclass may override forward().
    """
    if isinstance(m, torch.jit.ScriptModule):
        qualified = m._c._type().qualified_name()
        return m.original_name if qualified.startswith("__torch__.torch.nn.modules.") else f"scripted {qualified}"
    t = type(m)
    return t.__name__ if t.__module__.startswith("torch.nn.modules.") else f"{t.__module__}.{t.__qualname__}"


def _layers(m: nn.Module, prefix: str = "") -> list[tuple[str, str, nn.Module]]:
    kind = layer_kind(m)
    if kind != "Sequential":
        return [(prefix or kind, kind, m)]
    return [layer for name, child in m.named_children()
            for layer in _layers(child, f"{prefix}.{name}" if prefix else name)]


def graph_from_module(module: nn.Module, input_shape: Sequence[int], *, dtype: torch.dtype = torch.float32,
                      fuse: bool = True) -> Graph:
    """An nn.Sequential (possibly nested or scripted) of supported layers as a Graph.

    Batch norm is read with eval semantics (running statistics) whatever the module's mode.
    """
    label = layer_kind(module)
    layers = _layers(module)
    problems = [kind if kind not in LAYERS else f"{kind} ({name}) with {LAYERS[kind][1](m)}"
                for name, kind, m in layers if kind not in LAYERS or LAYERS[kind][1](m)]
    if problems:
        raise UnsupportedModelError(label, problems)
    b, x = GraphBuilder(input_shape), 0
    with torch.no_grad():
        for name, kind, m in layers:
            try:
                x = LAYERS[kind][0](b, x, m, name)
            except Unsupported as err:
                raise UnsupportedModelError(label, [f"{kind} ({name}): {err}"]) from None
    return b.build(x, label, dtype, fuse)


# -- state dict + architecture ---------------------------------------------------------------------
def unwrap_state_dict(obj: Any) -> dict[str, torch.Tensor] | None:
    """The state dict in `obj`: itself, or a checkpoint's 'state_dict' / 'model' entry."""
    def is_sd(d: Any) -> bool:
        return isinstance(d, dict) and bool(d) and all(isinstance(v, torch.Tensor) for v in d.values())
    if is_sd(obj):
        return obj
    if isinstance(obj, dict):
        return next((obj[k] for k in ("state_dict", "model_state_dict", "model") if is_sd(obj.get(k))), None)
    return None


def graph_from_state_dict(weights_path: str | Path, arch_path: str | Path, *,
                          dtype: torch.dtype = torch.float32) -> Graph:
    """Weights saved with torch.save(model.state_dict()) + the JSON architecture they belong to."""
    weights_path, arch_path = Path(weights_path), Path(arch_path)
    try:
        arch = json.loads(arch_path.read_text())
        module = build_module(arch)
    except (OSError, ValueError, AttributeError, TypeError) as err:  # ArchitectureError is a ValueError
        kind = "" if isinstance(err, ArchitectureError) else "not a readable architecture: "
        raise ModelLoadError(f"{arch_path.name}: {kind}{first_line(err)}") from None
    try:
        state = unwrap_state_dict(torch.load(weights_path, map_location="cpu", weights_only=True))
    except Exception as err:  # includes a pickle the weights-only reader refuses: never run it
        raise ModelLoadError(f"{weights_path.name}: not a readable state dict ({first_line(err)})") from None
    if state is None:
        raise ModelLoadError(f"{weights_path.name}: does not hold a state dict")
    try:
        module.load_state_dict(state)
    except Exception as err:
        raise ModelLoadError(f"{weights_path.name}: does not fit {arch_path.name} ({first_line(err)})") from None
    graph = graph_from_module(module.eval(), arch["input_shape"], dtype=dtype)
    graph.name = weights_path.stem
    return graph
