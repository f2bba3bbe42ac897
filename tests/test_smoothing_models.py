"""The noise-trained sample models for smoothing: manifests, accuracies, a bit-exact rebuild."""
from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from workbench.data.datasets import load_dataset
from workbench.data.samples import list_sample_models
from workbench.nets.architecture import build_module

ROOT = Path(__file__).resolve().parents[1]
EXPECTED = {"smooth_moons_sigma0.12": 0.12, "smooth_moons_sigma0.25": 0.25, "smooth_moons_sigma0.5": 0.5,
            "smooth_digits_sigma0.25": 0.25, "smooth_digits_sigma0.5": 0.5}
MODELS = {m["name"]: m for m in list_sample_models()}


def _smoothing_common():
    if "smoothing_common" in sys.modules:
        return sys.modules["smoothing_common"]
    sys.path.insert(0, str(ROOT / "sample_models"))   # smoothing_common imports common from there
    try:
        spec = importlib.util.spec_from_file_location("smoothing_common", ROOT / "sample_models" / "smoothing_common.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules["smoothing_common"] = module      # dataclasses look their module up there
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(ROOT / "sample_models"))


def _model(entry):
    model = build_module(json.loads(entry["architecture"].read_text()))
    model.load_state_dict(torch.load(entry["weights"], map_location="cpu", weights_only=True))
    return model.eval()


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_manifest_and_accuracies(name):
    entry = MODELS[name]
    manifest = entry["manifest"]
    assert manifest["kind"] == "smoothing" and manifest["sigma"] == EXPECTED[name]
    assert manifest["training"]["noise"]["sigma"] == EXPECTED[name] and entry["train_script"].is_file()
    model = _model(entry)
    data = load_dataset(manifest["dataset"]["name"], "test")
    with torch.no_grad():
        clean = float((model(torch.from_numpy(data.x)).argmax(1).numpy() == data.y).mean())
    assert clean == pytest.approx(manifest["test_accuracy"], abs=1e-9)
    noisy = _smoothing_common().noisy_accuracy(model, data, manifest["sigma"])
    assert noisy == pytest.approx(manifest["noisy_test_accuracy"], abs=1e-9)
    assert 0.7 < noisy < clean and clean > 0.9


def test_more_noise_costs_noisy_accuracy():
    acc = [MODELS[f"smooth_moons_sigma{s}"]["manifest"]["noisy_test_accuracy"] for s in ("0.12", "0.25", "0.5")]
    assert acc[0] > acc[1] > acc[2]


def test_rebuild_is_bit_exact(tmp_path):
    name = "smooth_digits_sigma0.5"
    out = subprocess.run([sys.executable, str(ROOT / "sample_models" / name / "train.py"), "--out", str(tmp_path)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    new = torch.load(tmp_path / "model.pt", weights_only=True)
    old = torch.load(MODELS[name]["weights"], weights_only=True)
    assert new.keys() == old.keys() and all(torch.equal(new[k], old[k]) for k in old)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["noisy_test_accuracy"] == MODELS[name]["manifest"]["noisy_test_accuracy"]
