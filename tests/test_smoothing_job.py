"""The smoothing methods end to end: the CLI, the result payload and arrays, the memory pass in a
real run, reproducibility, cancellation and user errors."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from workbench.jobs import cli, registry
from workbench.jobs.certify import CertifyJob
from workbench.jobs.registry import params_from_dict
from workbench.jobs.store import RunStore
from workbench.runtime import Cancelled, never_cancelled, no_progress
from workbench.smoothing import regions

MODELS = Path(__file__).resolve().parents[1] / "sample_models"
MOONS = str(MODELS / "smooth_moons_sigma0.25" / "model.pt")
DIGITS = str(MODELS / "smooth_digits_sigma0.25" / "model.pt")
QUICK_OPT = ["--iso-iterations", "15", "--aniso-iterations", "10", "--opt-samples", "32"]
ROW_KEYS = {"index", "status", "prediction", "label", "correct", "radius", "p_lower"}


@pytest.fixture(autouse=True)
def no_env_workspace(monkeypatch):
    monkeypatch.delenv("WORKBENCH_WORKSPACE", raising=False)


def _certify(tmp_path, method, model, *extra):
    out = tmp_path / f"{method}.json"
    code = cli.main(["--workspace", str(tmp_path / "ws"), "certify", "--method", method, "--model", model,
                     *extra, "--out", str(out)])
    return code, out


def _stored(tmp_path, payload):
    store = RunStore(tmp_path / "ws")
    stored, arrays = store.result(payload["run_id"])
    assert stored["summary"] == payload["summary"]
    return arrays


def test_cli_cohen_smoothing(tmp_path, capsys):
    code, out = _certify(tmp_path, "smoothing", MOONS, "--dataset", "moons", "--samples", "0:12",
                         "--sigma", "0.25", "--n", "3000", "--batch-size", "6000")
    assert code == 0
    stdout = capsys.readouterr().out
    payload = json.loads(out.read_text())
    s = payload["summary"]
    assert f"{s['certified']} certified, {s['abstain']} abstain" in stdout and "verified" not in stdout
    assert {"method", "model", "params", "data", "samples", "summary", "timing", "network"} <= set(payload)
    assert payload["method"] == "smoothing" and payload["params"]["sigma"] == 0.25
    assert payload["params"]["n"] == 3000 and payload["params"]["n0"] == 100 and payload["params"]["alpha"] == 0.001
    assert payload["data"]["sigma"] == 0.25 and payload["data"]["norm"] == "2" and payload["data"]["dataset"] == "moons"
    assert {"total_s", "certify_s"} <= set(payload["timing"])
    rows = payload["samples"]
    assert len(rows) == 12 and [r["index"] for r in rows] == list(range(12))
    for r in rows:
        assert set(r) == ROW_KEYS
        assert (r["status"] == "certified") == (r["prediction"] >= 0) == (r["radius"] > 0)
        assert r["correct"] == (r["prediction"] == r["label"])
        # the radius is sigma Phi^-1(p_lower), recomputed from the row alone
        if r["status"] == "certified":
            assert r["radius"] == pytest.approx(0.25 * float(torch.special.ndtri(torch.tensor(r["p_lower"],
                                                                                        dtype=torch.float64))))
    assert s["samples"] == 12 and s["certified"] + s["abstain"] == 12 and s["certified"] >= 8
    assert s["certified_accuracy"] == pytest.approx(np.mean([r["correct"] for r in rows]))
    arrays = _stored(tmp_path, payload)
    assert arrays["inputs"].shape == (12, 2) and arrays["labels"].shape == (12,)
    assert arrays["sigma"].shape == (12, 2) and np.all(arrays["sigma"] == 0.25)
    np.testing.assert_allclose(arrays["radius"], [r["radius"] for r in rows])
    assert arrays["predictions"].tolist() == [r["prediction"] for r in rows]
    for key in ("proxy_radius", "log_volume"):
        assert arrays[key].shape == (12,)


def test_cli_ancer_l1_with_the_memory_pass(tmp_path):
    code, out = _certify(tmp_path, "ancer", str(MODELS / "smooth_moons_sigma0.5" / "model.pt"), "--dataset",
                         "moons", "--samples", "0:60", "--sigma", "0.5", "--norm", "1", "--n", "2000",
                         "--batch-size", "4000", *QUICK_OPT)
    assert code == 0
    payload = json.loads(out.read_text())
    rows = payload["samples"]
    for i, r in enumerate(rows):
        assert set(r) == ROW_KEYS | {"proxy_radius", "log_volume", "parameters", "memory"}
        assert r["parameters"] == {"array": "sigma", "row": i} and r["memory"] in ("kept", "shrunk", "rejected")
        if r["memory"] == "rejected":
            assert r["status"] == "abstain"
    assert payload["data"]["memory_order"] == list(range(60)) and payload["data"]["norm"] == "1"
    arrays = _stored(tmp_path, payload)
    assert arrays["sigma"].shape == (60, 2) and arrays["isotropic_sigma"].shape == (60,)
    # the run's final certificates: no two regions of different classes overlap
    cert = arrays["predictions"] >= 0
    x = torch.as_tensor(arrays["inputs"][cert], dtype=torch.float64)
    cls = arrays["predictions"][cert]
    semi = np.where(np.array([r["memory"] == "shrunk" for r in rows])[cert][:, None],
                    arrays["radius"][cert][:, None],
                    arrays["sigma"][cert] * (2 * (arrays["p_lower"][cert] - 0.5))[:, None])
    semi = torch.as_tensor(semi)
    for i in range(len(x)):
        other = torch.as_tensor(cls != cls[i])
        assert not regions.cross_polytopes_overlap(x[i], semi[i], x[other], semi[other]).any()
    s = payload["summary"]
    assert s["shrunk"] + s["rejected"] > 0, "the run never exercised the memory"
    assert s["shrunk"] == sum(r["memory"] == "shrunk" for r in rows)


def test_cli_input_without_labels_and_without_the_isotropic_fallback(tmp_path):
    x = tmp_path / "x.npy"
    np.save(x, np.array([[0.0, 0.5], [1.0, -0.3], [2.0, 0.2]], dtype=np.float32))
    code, out = _certify(tmp_path, "ancer", MOONS, "--input", str(x), "--sigma", "0.25", "--n", "1000",
                         "--no-keep-isotropic", *QUICK_OPT)
    assert code == 0
    payload = json.loads(out.read_text())
    assert payload["params"]["keep_isotropic"] is False and payload["data"]["input"] == str(x)
    assert all(r["label"] is None and r["correct"] is False for r in payload["samples"])
    assert payload["summary"]["certified_accuracy"] is None and "acr" not in payload["summary"]
    arrays = _stored(tmp_path, payload)
    assert arrays["labels"].tolist() == [-1, -1, -1] and not arrays["used_isotropic"].any()


def test_cli_rancer_on_digits(tmp_path):
    code, out = _certify(tmp_path, "rancer", DIGITS, "--dataset", "digits", "--samples", "0:4", "--sigma",
                         "0.25", "--n", "1000", "--hessian-rank", "6", *QUICK_OPT)
    assert code == 0
    payload = json.loads(out.read_text())
    for i, r in enumerate(payload["samples"]):
        assert r["rotation"] == {"array": "rotation", "row": i} and r["parameters"]["row"] == i
    arrays = _stored(tmp_path, payload)
    assert arrays["inputs"].shape == (4, 1, 8, 8) and arrays["sigma"].shape == (4, 64)
    assert arrays["rotation"].shape == (4, 64, 64)
    assert arrays["hessian_eigvals"].shape == (4, 6) and arrays["hessian_eigvecs"].shape == (4, 6, 64)
    r = arrays["rotation"]
    np.testing.assert_allclose(np.einsum("nij,nik->njk", r, r), np.broadcast_to(np.eye(64), r.shape), atol=1e-5)


@pytest.mark.parametrize("argv, fragment", [
    (["--method", "smoothing", "--dataset", "moons"], "--sigma: is required"),
    (["--method", "smoothing", "--dataset", "moons", "--sigma", "0"], "sigma must be positive"),
    (["--method", "rancer", "--dataset", "moons", "--sigma", "0.2", "--norm", "1"], "--norm: must be one of 2"),
    (["--method", "smoothing", "--dataset", "moons", "--sigma", "0.2", "--n", "0"], "--n: must be >= 1"),
    (["--method", "ancer", "--dataset", "moons", "--sigma", "0.2", "--eps", "0.1"], "unrecognized arguments"),
])
def test_cli_user_errors(tmp_path, capsys, argv, fragment):
    code = cli.main(["--workspace", str(tmp_path / "ws"), "certify", "--model", MOONS, *argv])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and fragment in err[0]


def test_vnnlib_is_refused_as_a_failed_run(tmp_path, capsys):
    spec = tmp_path / "p.vnnlib"
    spec.write_text("(declare-const X_0 Real)\n")
    code = cli.main(["--workspace", str(tmp_path / "ws"), "certify", "--model", MOONS, "--method", "smoothing",
                     "--vnnlib", str(spec), "--sigma", "0.25"])
    assert code == 2 and "certifies samples" in capsys.readouterr().err


def _job(method: str, **params) -> CertifyJob:
    p = params_from_dict(registry.get_method(method).params, {"sigma": 0.25, "n": 500, **params})
    return CertifyJob(model=MOONS, method=method, params=p, dataset="moons", samples="0:6")


def test_same_seed_same_run_and_progress_and_cancel():
    run = registry.get_method("smoothing").run
    seen = []
    a = run(_job("smoothing"), progress=lambda f, m="", d=None: seen.append(f), cancelled=never_cancelled)
    b = run(_job("smoothing"), progress=no_progress, cancelled=never_cancelled)
    c = run(_job("smoothing", seed=5), progress=no_progress, cancelled=never_cancelled)
    np.testing.assert_array_equal(a.arrays["p_lower"], b.arrays["p_lower"])
    assert not np.array_equal(a.arrays["p_lower"], c.arrays["p_lower"])
    assert seen[0] == 0.0 and seen[-1] == 1.0 and all(0 <= f <= 1 for f in seen)
    assert all(x <= y for x, y in zip(seen, seen[1:]))
    calls = []

    def cancel_later() -> bool:
        calls.append(1)
        return len(calls) > 3
    for method in ("smoothing", "ancer"):   # small batches: many cancellation points
        calls.clear()
        with pytest.raises(Cancelled):
            registry.get_method(method).run(_job(method, batch_size=100), progress=no_progress,
                                            cancelled=cancel_later)


def test_training_sigma_mismatch_is_reported():
    job = _job("smoothing", sigma=0.5)
    result = registry.get_method("smoothing").run(job, progress=no_progress, cancelled=never_cancelled)
    assert any("trained with noise sigma 0.25" in w for w in result.payload["warnings"])
    assert "warnings" not in registry.get_method("smoothing").run(
        _job("smoothing"), progress=no_progress, cancelled=never_cancelled).payload


def test_auto_batch_size_follows_the_activations_and_the_run_records_it():
    from torch import nn

    from workbench.nets.loading import load_network
    from workbench.nets.torch_io import graph_from_module
    from workbench.smoothing.sampling import AUTO_BYTES, AUTO_ROWS, auto_batch_size
    moons = load_network(MOONS)
    row_bytes = 4 * sum(v.numel() for v in moons.forward_all(torch.zeros(1, 2)))   # 2-50-50-2 + ReLUs
    assert auto_batch_size(moons, "cpu") == min(AUTO_ROWS["cpu"][1], AUTO_BYTES["cpu"] // row_bytes)
    wide = graph_from_module(nn.Sequential(nn.Conv2d(3, 64, 3, padding=1), nn.ReLU()).eval(), (3, 64, 64))
    assert auto_batch_size(wide, "cpu") == AUTO_ROWS["cpu"][0]       # 2 MiB a row: the floor
    assert auto_batch_size(wide, "cuda") == AUTO_ROWS["cuda"][0]
    result = registry.get_method("smoothing").run(_job("smoothing"), progress=no_progress,
                                                  cancelled=never_cancelled)
    assert result.payload["params"]["batch_size"] == auto_batch_size(moons, "cpu")
    assert registry.get_method("smoothing").params(sigma=0.25).batch_size == 0    # the default: auto
