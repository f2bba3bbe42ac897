"""Certification workbench: sound bounds, verdicts and reports for neural networks.

Library use::

    from workbench import load_network, bound
    net = load_network("model.onnx")
    lb, ub = bound(net, x_lower, x_upper, method="crown")
"""
from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["load_network", "bound", "__version__"]


def __getattr__(name: str):
    # Lazy, so that `import workbench` stays cheap for the CLI's --help and the GUI's start-up.
    if name == "load_network":
        from .nets.loading import load_network
        return load_network
    if name == "bound":
        from .bounds.api import bound
        return bound
    raise AttributeError(name)
