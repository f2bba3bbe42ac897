"""What the Models panel and the report say about a network: layers, shapes, parameters, hash.

Qt-free (it runs in a worker: loading an ONNX file can take a while) and shared with the report,
so the window and the PDF describe a model in the same words.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.data.samples import list_sample_models


@dataclass
class ModelInfo:
    path: str
    name: str
    input_shape: tuple[int, ...]
    outputs: int
    parameters: int
    layers: list[dict] = field(default_factory=list)  # Graph.summary() rows
    sha256: str = ""
    manifest: dict[str, Any] = field(default_factory=dict)  # sample models only

    @property
    def architecture(self) -> str:
        """One line: the operators in order, e.g. ``linear → relu → linear``."""
        return " → ".join(str(r["op"]) for r in self.layers if r["op"] != "input")

    def headline(self) -> str:
        shape = "×".join(map(str, self.input_shape))
        return (f"input {shape} → {self.outputs} outputs · {self.parameters:,} parameters · "
                f"{len([r for r in self.layers if r['op'] != 'input'])} layers")


def file_hash(path: str | Path) -> str:
    """SHA-256 of the network file and, for state dicts, of its architecture file too, because
    both together are the model."""
    from workbench.nets.loading import arch_file_for

    path = Path(path)
    digest = hashlib.sha256()
    files = [path]
    arch = arch_file_for(path) if path.suffix.lower() in (".pt", ".pth") else None
    if arch is not None:
        files.append(arch)
    for f in files:
        with open(f, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()


def sample_manifest(path: str | Path) -> dict[str, Any]:
    """The manifest of a bundled sample model, when ``path`` is one."""
    try:
        resolved = Path(path).resolve()
        for entry in list_sample_models():
            if Path(entry["weights"]).resolve() == resolved:
                return dict(entry["manifest"])
    except (OSError, ValueError):
        pass
    return {}


def display_name(path: str | Path) -> str:
    """``moons_relu_mlp`` for a sample model's ``model.pt``, else the file name."""
    p = Path(path)
    return p.parent.name if p.stem == "model" else p.name


def describe_model(path: str | Path) -> ModelInfo:
    """Load the network (raises ``ModelLoadError`` with a plain one-line message) and describe it."""
    from workbench.nets.loading import load_network

    graph = load_network(path)
    return ModelInfo(str(path), display_name(path), tuple(graph.input_shape), int(graph.num_outputs),
                     int(graph.num_parameters()), graph.summary(), file_hash(path),
                     sample_manifest(path))
