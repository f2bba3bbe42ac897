"""The shipped sample models load safely and reach the accuracy their manifests claim."""
import json

import numpy as np
import pytest
import torch

from workbench.data.datasets import load_dataset
from workbench.data.samples import list_sample_models, load_sample_model, sample_models_dir
from workbench.nets.architecture import build_module

EXPECTED = {"moons_relu_mlp", "digits_relu_mlp", "digits_cnn", "digits_tanh_mlp",
            "digits_sigmoid_mlp"}
MODELS = {m["name"]: m for m in list_sample_models()}


def test_all_models_are_listed():
    assert sample_models_dir().name == "sample_models" and sample_models_dir().is_dir()
    assert EXPECTED <= set(MODELS)
    for m in MODELS.values():
        assert m["weights"].is_file() and m["architecture"].is_file()
        assert m["train_script"].is_file() and m["manifest"]["name"] == m["name"]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_model_matches_manifest(name):
    entry = MODELS[name]
    manifest = entry["manifest"]
    state = torch.load(entry["weights"], map_location="cpu", weights_only=True)
    assert type(state) is dict and all(isinstance(v, torch.Tensor) for v in state.values())
    arch = json.loads(entry["architecture"].read_text())
    model = build_module(arch)
    model.load_state_dict(state)  # strict: the architecture and the weights agree exactly
    model.eval()
    data = load_dataset(manifest["dataset"]["name"], split="test")
    assert list(data.input_shape) == arch["input_shape"] == manifest["architecture"]["input_shape"]
    assert len(data) == manifest["dataset"]["split_sizes"]["test"]
    with torch.no_grad():
        pred = model(torch.from_numpy(data.x)).argmax(dim=1).numpy()
    acc = float((pred == data.y).mean())
    assert abs(acc - manifest["test_accuracy"]) <= 1e-6
    assert acc > 0.9 and acc > 1 / len(data.classes) + 0.4  # far above chance
    for key in ("epochs", "optimizer", "lr", "batch_size", "seed"):
        assert key in manifest["training"]
    assert {"torch_version", "date", "architecture", "dataset"} <= set(manifest)


def test_load_sample_model():
    model, manifest = load_sample_model("moons_relu_mlp")
    assert not model.training and manifest["dataset"]["name"] == "moons"
    out = model(torch.zeros(3, 2))
    assert out.shape == (3, 2) and np.isfinite(out.detach().numpy()).all()
    with pytest.raises(ValueError, match="no sample model 'nope'"):
        load_sample_model("nope")


def test_sample_models_dir_override(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_SAMPLE_MODELS", str(tmp_path))
    assert sample_models_dir() == tmp_path.resolve() and list_sample_models() == []
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "manifest.json").write_text("{broken")
    with pytest.raises(ValueError, match="unreadable manifest"):
        list_sample_models()
