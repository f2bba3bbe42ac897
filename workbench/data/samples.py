"""The trained sample models in the repository's ``sample_models/`` folder.

Each model lives in ``sample_models/<name>/`` with ``model.pt`` (a plain dict of tensors),
``model.arch.json`` (see ``workbench.nets.architecture``), ``manifest.json`` and ``train.py``.
"""
from __future__ import annotations

import json
import os
import pathlib
from typing import Any

import torch
from torch import nn

from workbench.nets.architecture import build_module

# Set to use sample models from elsewhere, e.g. when the package is installed without a checkout.
ENV_VAR = "WORKBENCH_SAMPLE_MODELS"


def sample_models_dir() -> pathlib.Path:
    """``sample_models/`` at the repository root (beside the ``workbench`` package)."""
    override = os.environ.get(ENV_VAR)
    if override:
        return pathlib.Path(override).expanduser().resolve()
    return pathlib.Path(__file__).resolve().parents[2] / "sample_models"


def list_sample_models() -> list[dict[str, Any]]:
    """One dict per model folder holding a manifest, sorted by name.

    Keys: ``name``, ``dir``, ``weights``, ``architecture``, ``manifest_path``, ``train_script``
    (paths) and ``manifest`` (the parsed manifest.json). Empty if the folder is absent.
    """
    root = sample_models_dir()
    if not root.is_dir():
        return []
    models = []
    for folder in sorted(p for p in root.iterdir() if (p / "manifest.json").is_file()):
        try:
            manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            raise ValueError(f"{folder / 'manifest.json'}: unreadable manifest ({err})") from None
        files = manifest.get("files", {})
        models.append({
            "name": folder.name,
            "dir": folder,
            "weights": folder / files.get("weights", "model.pt"),
            "architecture": folder / files.get("architecture", "model.arch.json"),
            "manifest_path": folder / "manifest.json",
            "train_script": folder / "train.py",
            "manifest": manifest,
        })
    return models


def load_sample_model(name: str) -> tuple[nn.Sequential, dict[str, Any]]:
    """The named sample model in eval mode, and its manifest. Never unpickles code."""
    entry = next((m for m in list_sample_models() if m["name"] == name), None)
    if entry is None:
        known = ", ".join(m["name"] for m in list_sample_models()) or "none found"
        raise ValueError(f"no sample model '{name}' (available: {known})")
    arch = json.loads(entry["architecture"].read_text(encoding="utf-8"))
    model = build_module(arch)
    model.load_state_dict(torch.load(entry["weights"], map_location="cpu", weights_only=True))
    return model.eval(), entry["manifest"]
