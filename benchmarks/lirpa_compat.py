"""Run auto_LiRPA 0.3 (written for torch 1.8-1.12, numpy 1.x) on torch 2.x / numpy 2.x, for benchmarks only.

auto_LiRPA is NOT a dependency of the workbench: it is the peer we compare against. Install it
without its pinned dependencies (it pins torch<1.13 and would pull an old torch otherwise)::

    pip install --no-deps auto-lirpa==0.3 appdirs==1.4.4 tqdm

then call :func:`load_auto_lirpa` (or ``import benchmarks.lirpa_compat`` first) before importing
auto_LiRPA. Everything here happens in this process only: missing modules are stubbed through
``sys.modules`` and missing names are added to already-imported modules; no installed file is
touched.

What auto_LiRPA 0.3 needs that newer versions removed:

* ``numpy.lib.arraysetops`` (private since numpy 2.0; auto_LiRPA imports ``isin`` from it)
* ``torch._six`` (removed in torch 2.0; used for ``torch._six.string_classes``)
* ``torch.onnx.symbolic_helper._set_opset_version`` (moved into the TorchScript exporter's
  globals in torch 2.x); ``torch.onnx.utils._optimize_graph`` still exists.
* ``torch._C.Node.__getitem__`` (``node["attr"]`` on TorchScript graph nodes, removed in 2.x).
"""
from __future__ import annotations

import sys
import types

_APPLIED = False


def apply() -> None:
    """Install the shims (idempotent)."""
    global _APPLIED
    if _APPLIED:
        return
    import numpy as np
    import torch
    import torch.onnx
    import torch.onnx.symbolic_helper as symbolic_helper
    import torch.onnx.utils  # noqa: F401  (auto_LiRPA imports _optimize_graph from here)

    # numpy.lib.arraysetops -> a stub exposing the set routines at their new home.
    try:
        import numpy.lib.arraysetops  # noqa: F401
    except ImportError:
        stub = types.ModuleType("numpy.lib.arraysetops")
        for name in ("isin", "in1d", "unique", "intersect1d", "setdiff1d", "setxor1d", "union1d", "ediff1d"):
            if hasattr(np, name):
                setattr(stub, name, getattr(np, name))
        sys.modules["numpy.lib.arraysetops"] = stub

    # torch._six -> string_classes etc.
    if "torch._six" not in sys.modules and not hasattr(torch, "_six"):
        six = types.ModuleType("torch._six")
        six.string_classes = (str, bytes)
        six.int_classes = int
        six.inf = float("inf")
        six.nan = float("nan")
        import collections.abc as container_abcs
        six.container_abcs = container_abcs
        sys.modules["torch._six"] = six
        torch._six = six

    # torch.onnx.symbolic_helper._set_opset_version
    if not hasattr(symbolic_helper, "_set_opset_version"):
        def _set_opset_version(opset_version: int) -> None:
            try:
                from torch.onnx._internal.torchscript_exporter._globals import GLOBALS
            except ImportError:   # torch 2.0 - 2.5
                from torch.onnx._globals import GLOBALS  # type: ignore[no-redef]
            GLOBALS.export_onnx_opset_version = opset_version
        symbolic_helper._set_opset_version = _set_opset_version

    # torch._C.Node.__getitem__ (``node[attr_name]``, removed in torch 2.x): dispatch on the
    # attribute's kind the way torch's own symbolic_helper._node_get does.
    if not hasattr(torch._C.Node, "__getitem__"):
        def _node_getitem(node, key: str):
            return getattr(node, node.kindOf(key))(key)
        torch._C.Node.__getitem__ = _node_getitem

    _APPLIED = True


def load_auto_lirpa():
    """Apply the shims and import auto_LiRPA. Returns ``(module, "")``, or ``(None, reason)`` when
    it is not installed or cannot be made to import."""
    import importlib.util
    try:
        found = importlib.util.find_spec("auto_LiRPA") is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        return None, "auto_LiRPA is not installed (our numbers only; see benchmarks/README.md)"
    try:
        apply()
        import auto_LiRPA
    except Exception as err:   # noqa: BLE001  (any failure just means: no comparison)
        return None, f"auto_LiRPA failed to import: {type(err).__name__}: {err}"
    return auto_LiRPA, ""
