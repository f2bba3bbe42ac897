"""The real certify job end to end through the CLI: the result contract, verdicts and errors."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from workbench.data.datasets import load_dataset
from workbench.data.samples import sample_models_dir
from workbench.jobs import cli
from workbench.nets.loading import load_network

MOONS = str(sample_models_dir() / "moons_relu_mlp" / "model.pt")
CNN = str(sample_models_dir() / "digits_cnn" / "model.pt")


def certify(tmp_path, *args) -> tuple[int, dict]:
    out = tmp_path / "result.json"
    code = cli.main(["--workspace", str(tmp_path / "ws"), "certify", *args, "--out", str(out)])
    return code, (json.loads(out.read_text()) if out.exists() else {})


def test_dataset_run_meets_the_result_contract_and_counterexamples_are_real(tmp_path):
    code, res = certify(tmp_path, "--model", MOONS, "--method", "crown", "--dataset", "moons",
                        "--samples", "0:60", "--eps", "0.15", "--radius")
    assert code == 0
    for key in ("method", "model", "params", "samples", "summary", "timing", "run_id"):
        assert key in res
    assert res["method"] == "crown" and len(res["samples"]) == 60
    assert {"total_s", "bounds_s"} <= set(res["timing"])
    statuses = {s["status"] for s in res["samples"]}
    assert statuses <= {"verified", "falsified", "unknown"} and len(statuses) >= 2
    net = load_network(MOONS)
    data = load_dataset("moons")
    for s in res["samples"]:
        assert len(s["lower"]) == len(s["upper"]) == 1          # margins y_label - y_other
        assert all(lo <= up for lo, up in zip(s["lower"], s["upper"]))
        x = torch.as_tensor(data.x[s["index"]])
        if s["status"] == "verified":
            assert s["lower"][0] > 0 and s["counterexample"] is None
            assert s["radius"] >= 0.15 - 1e-3   # a verified eps lies within the certified radius
        if s["status"] == "falsified":
            cex = torch.tensor(s["counterexample"], dtype=torch.float32).view(1, 2)
            assert (cex - x).abs().max() <= 0.15 + 1e-6
            assert int(net(cex).argmax()) != s["label"] or s["label"] != int(net(x[None]).argmax())
    # the run is in the store and can be listed again
    assert cli.main(["--workspace", str(tmp_path / "ws"), "runs", "show", res["run_id"]]) == 0


def test_outputs_spec_bounds_the_raw_outputs_and_contains_the_clean_output(tmp_path):
    code, res = certify(tmp_path, "--model", CNN, "--method", "alpha-crown", "--dataset", "digits",
                        "--samples", "0:8", "--eps", "0.01", "--spec", "outputs", "--alpha-iters", "5")
    assert code == 0
    net = load_network(CNN)
    data = load_dataset("digits")
    for s in res["samples"]:
        assert len(s["lower"]) == 10
        y = net(torch.as_tensor(data.x[s["index"]])[None])[0].detach().numpy()
        assert (np.array(s["lower"]) <= y + 1e-5).all() and (y <= np.array(s["upper"]) + 1e-5).all()


def test_npy_input_without_labels_certifies_the_prediction(tmp_path):
    x = load_dataset("digits").x[:5]
    np.save(tmp_path / "x.npy", x.reshape(5, 64))     # flat data for a [1, 8, 8] network is reshaped
    code, res = certify(tmp_path, "--model", CNN, "--method", "ibp", "--input", str(tmp_path / "x.npy"),
                        "--eps", "0.0")
    assert code == 0
    assert all(s["status"] == "verified" for s in res["samples"])  # eps 0: the prediction itself


def test_vnnlib_sat_instance_is_falsified_with_a_checked_counterexample(tmp_path, shared_dir):
    acas = shared_dir / "vnncomp" / "acasxu"
    code, res = certify(tmp_path, "--model", str(acas / "ACASXU_run2a_1_9_batch_2000.onnx"), "--method", "crown",
                        "--vnnlib", str(acas / "prop_3.vnnlib"))
    assert code == 0
    [s] = res["samples"]
    assert s["status"] == "falsified"


@pytest.mark.parametrize("args, fragment", [
    (["--model", "nope.onnx", "--method", "crown", "--dataset", "moons"], "nope.onnx"),
    (["--model", MOONS, "--method", "crown", "--dataset", "digits"], "shape"),
    (["--model", MOONS, "--method", "crown", "--dataset", "moons", "--eps", "-1"], "eps"),
    (["--model", MOONS, "--method", "crown", "--dataset", "moons", "--samples", "5000"], "range"),
])
def test_user_errors_exit_2_with_one_line(tmp_path, capsys, args, fragment):
    code, _ = certify(tmp_path, *args)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert err[-1].startswith("workbench: error:") and fragment in err[-1]
    assert "Traceback" not in "\n".join(err)
