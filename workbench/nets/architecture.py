"""Architecture descriptions: a JSON-able list of layers that builds a torch ``nn.Sequential``.

A state dict alone cannot be loaded without knowing the network's shape; this description is
that knowledge, stored beside the weights (``model.pt`` + ``model.arch.json``). Keys of the state
dict are those of the built ``nn.Sequential`` ("0.weight", "0.bias", ...).

Example::

    {"input_shape": [1, 8, 8],
     "layers": [{"type": "conv2d", "in": 1, "out": 8, "kernel": 3, "stride": 1, "padding": 1},
                {"type": "relu"}, {"type": "flatten"},
                {"type": "linear", "in": 512, "out": 10}]}
"""
from __future__ import annotations

from typing import Any

from torch import nn


class ArchitectureError(ValueError):
    """An architecture description that cannot be built (unknown layer type, missing field)."""


def _conv(d):
    return nn.Conv2d(d["in"], d["out"], d["kernel"], stride=d.get("stride", 1),
                     padding=d.get("padding", 0), bias=d.get("bias", True))


def _avgpool(d):
    return nn.AvgPool2d(d["kernel"], stride=d.get("stride"), padding=d.get("padding", 0))


BUILDERS = {
    "linear": lambda d: nn.Linear(d["in"], d["out"], bias=d.get("bias", True)),
    "conv2d": _conv,
    "relu": lambda d: nn.ReLU(),
    "leaky_relu": lambda d: nn.LeakyReLU(d.get("alpha", 0.01)),
    "tanh": lambda d: nn.Tanh(),
    "sigmoid": lambda d: nn.Sigmoid(),
    "softplus": lambda d: nn.Softplus(),
    "flatten": lambda d: nn.Flatten(),
    "batchnorm1d": lambda d: nn.BatchNorm1d(d["num_features"]),
    "batchnorm2d": lambda d: nn.BatchNorm2d(d["num_features"]),
    "avgpool2d": _avgpool,
}


def build_module(arch: dict[str, Any]) -> nn.Sequential:
    """The ``nn.Sequential`` an architecture description describes (weights uninitialised)."""
    layers = arch.get("layers")
    if not isinstance(layers, list) or "input_shape" not in arch:
        raise ArchitectureError("an architecture needs 'input_shape' and a list of 'layers'")
    unknown = sorted({str(d.get("type")) for d in layers if d.get("type") not in BUILDERS})
    if unknown:
        raise ArchitectureError(f"unsupported layer types: {', '.join(unknown)} "
                                f"(supported: {', '.join(BUILDERS)})")
    try:
        return nn.Sequential(*(BUILDERS[d["type"]](d) for d in layers))
    except KeyError as err:
        raise ArchitectureError(f"layer description is missing the field {err}") from None
