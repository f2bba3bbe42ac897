"""The front door for networks: `load_network(path)` picks the reader by file type.

Safety first: nothing here runs code stored in a file unless the caller says it trusts the
file. ONNX and torch.export archives are data; TorchScript archives are read by TorchScript's
own unpickler (no Python objects); state dicts are read with ``weights_only=True``. A pickled
``nn.Module`` needs ``trust_pickle=True`` because unpickling it can run anything.

Every failure is a `ModelLoadError` with a one-line message naming the file; operators the
core graph cannot express come as one `UnsupportedModelError` listing all of them.
"""
from __future__ import annotations

import io
import json
import pickle
import posixpath
import warnings
import zipfile
from pathlib import Path
from typing import Any, Sequence

import torch

# The errors live in workbench.nets.errors; callers import them from here too.
from workbench.nets.errors import ModelLoadError, UnsupportedModelError, first_line
from workbench.nets.graph import Graph

ONNX_SUFFIXES = (".onnx",)
EXPORT_SUFFIXES = (".pt2",)
SCRIPT_SUFFIXES = (".ts", ".torchscript", ".jit")
PICKLE_SUFFIXES = (".pt", ".pth")
# torch.load's weights-only reader says this (torch >= 2.4) when the file needs Python classes.
_NEEDS_GLOBALS = "Unsupported global"


def load_network(path: str | Path, *, trust_pickle: bool = False, device: str | torch.device = "cpu",
                 dtype: torch.dtype = torch.float32,
                 input_shape: Sequence[int] | None = None) -> Graph:
    """The network stored in `path` as a `Graph` named after the file.

    `input_shape` (batch excluded) is only needed for TorchScript and pickled modules whose
    first layer does not reveal it and that have no ``<stem>.arch.json`` beside them.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelLoadError(f"{path.name}: no such file ({path})")
    suffix = path.suffix.lower()
    try:
        if suffix in ONNX_SUFFIXES:
            from workbench.nets.onnx_io import graph_from_onnx
            graph = graph_from_onnx(path)
        elif suffix in EXPORT_SUFFIXES:
            from workbench.nets.export_io import graph_from_exported
            graph = graph_from_exported(path, trust_pickle=trust_pickle)
        elif suffix in SCRIPT_SUFFIXES or (suffix in PICKLE_SUFFIXES and _is_torchscript(path)):
            graph = _load_torchscript(path, input_shape)
        elif suffix in PICKLE_SUFFIXES:
            graph = _load_torch_pickle(path, trust_pickle, input_shape)
        else:
            known = ONNX_SUFFIXES + EXPORT_SUFFIXES + SCRIPT_SUFFIXES + PICKLE_SUFFIXES
            raise ModelLoadError(f"{path.name}: unknown network file type (known: {', '.join(known)})")
        graph = graph.to(device=device, dtype=dtype)
    except UnsupportedModelError as err:
        if err.source == path.name:
            raise
        raise UnsupportedModelError(path.name, err.problems) from None  # name the file, not the module
    except ModelLoadError:
        raise
    except Exception as err:  # a reader's own failure on a bad file: one line, not a traceback
        raise ModelLoadError(f"{path.name}: cannot be loaded ({first_line(err)})") from err
    graph.name = path.stem
    return graph


# -- TorchScript -----------------------------------------------------------------------------------
def _is_torchscript(path: Path) -> bool:
    """A TorchScript archive, told from a torch.save zip by its entries, without loading it."""
    if not zipfile.is_zipfile(path):
        return False
    try:
        with zipfile.ZipFile(path) as z:
            names = z.namelist()
    except (zipfile.BadZipFile, OSError):
        return False
    return any(n.endswith("/constants.pkl") or "/code/" in n for n in names)


def _load_torchscript(path: Path, input_shape: Sequence[int] | None) -> Graph:
    from workbench.nets.torch_io import graph_from_module
    try:
        # TorchScript's unpickler only builds TorchScript types: no Python code from the file runs.
        with warnings.catch_warnings():  # torch marks torch.jit deprecated; the file is what it is
            warnings.simplefilter("ignore", DeprecationWarning)
            module = torch.jit.load(str(path), map_location="cpu")
    except Exception as err:
        raise ModelLoadError(f"{path.name}: not a readable TorchScript file ({first_line(err)})") from None
    return graph_from_module(module, _input_shape(path, module, input_shape))


# -- torch.save files: state dicts, or pickled modules when trusted ----------------------------------
def arch_file_for(path: Path) -> Path | None:
    """The architecture description beside a weights file: <stem>.arch.json, else arch.json."""
    for candidate in (path.with_name(path.stem + ".arch.json"), path.with_name("arch.json")):
        if candidate.is_file():
            return candidate
    return None


def _load_torch_pickle(path: Path, trust_pickle: bool, input_shape: Sequence[int] | None) -> Graph:
    from workbench.nets.torch_io import graph_from_module, graph_from_state_dict, unwrap_state_dict
    try:
        obj: Any = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        if trust_pickle:
            obj = _load_trusted(path)
        elif _NEEDS_GLOBALS in str(err):
            raise ModelLoadError(
                f"{path.name}: holds pickled Python objects (e.g. a whole nn.Module), and loading it "
                f"would run code from the file; load it with trust_pickle=True only if you trust its "
                f"source, or save a state dict / torch.export / ONNX file instead") from None
        else:
            raise ModelLoadError(f"{path.name}: not a readable PyTorch file (the weights-only reader "
                                 f"rejected its content)") from None
    except Exception as err:
        raise ModelLoadError(f"{path.name}: not a readable PyTorch file ({first_line(err)})") from None
    if isinstance(obj, torch.nn.Module):
        return graph_from_module(obj.eval(), _input_shape(path, obj, input_shape))
    if unwrap_state_dict(obj) is None:
        raise ModelLoadError(f"{path.name}: holds a {type(obj).__name__}, not a network or a state dict")
    arch = arch_file_for(path)
    if arch is None:
        raise ModelLoadError(f"{path.name}: is a state dict (weights only); its architecture must be "
                             f"described in {path.stem}.arch.json or arch.json beside it")
    return graph_from_state_dict(path, arch)


def _load_trusted(path: Path) -> Any:
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:
        raise ModelLoadError(f"{path.name}: the trusted pickle could not be loaded ({first_line(err)})") from None


def _input_shape(path: Path, module: torch.nn.Module, given: Sequence[int] | None) -> tuple[int, ...]:
    """A module does not record its input shape: take it from the caller, an arch file, or layer 1."""
    if given is not None:
        return tuple(int(s) for s in given)
    arch = arch_file_for(path)
    if arch is not None:
        try:
            return tuple(int(s) for s in json.loads(arch.read_text())["input_shape"])
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise ModelLoadError(f"{arch.name}: no usable 'input_shape' ({first_line(err)})") from None
    first = next((m for m in module.modules() if len(list(m.children())) == 0), None)
    if first is not None and hasattr(first, "in_features") and not hasattr(first, "kernel_size"):
        return (int(first.in_features),)
    raise ModelLoadError(f"{path.name}: the input shape is not recorded in the file; pass input_shape= "
                         f"or write {{\"input_shape\": [...]}} to {path.stem}.arch.json")


# -- torch.export archives ------------------------------------------------------------------------
_TEXT_MEMBERS = {"archive_format", "archive_version", "version", "byteorder", "serialization_id"}


def vet_export_archive(path: Path) -> None:
    """Refuse a .pt2 whose pickled parts need more than tensors to load.

    torch.export.load unpickles weights and constants with weights_only=False (and falls back to
    it for sample inputs), so a crafted archive could run code. Every member is checked first:
    raw tensor bytes declared by the archive's own configs, JSON and the small text markers are
    data; anything else must load with torch's weights-only reader.
    """
    with zipfile.ZipFile(path) as z:
        names = z.namelist()
        raw: set[str] = set()
        pickled: set[str] = set()
        for name in (n for n in names if n.endswith("_config.json")):
            config = json.loads(z.read(name)).get("config", {})
            for meta in config.values():
                member = posixpath.normpath(posixpath.join(posixpath.dirname(name), str(meta.get("path_name"))))
                (pickled if meta.get("use_pickle", True) else raw).add(member)
        for name in names:
            if name.endswith("/") or name in raw - pickled or posixpath.basename(name) in _TEXT_MEMBERS:
                continue
            data = z.read(name)
            if name.endswith(".json") and name not in pickled:
                json.loads(data)  # data, not code
                continue
            try:
                torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
            except Exception:
                raise ModelLoadError(
                    f"{path.name}: member {name} holds pickled Python objects and loading it would run "
                    f"code from the file; load with trust_pickle=True only if you trust its source") from None
