"""The `workbench` command, run in-process against fake registered methods."""
from __future__ import annotations

import io
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from workbench.jobs import cli, registry
from workbench.jobs.progressbar import ProgressBar, format_table
from workbench.jobs.registry import Method, param, params_to_dict
from workbench.jobs.store import RunStore
from workbench.runtime import Cancelled

REPO = Path(__file__).resolve().parents[1]


@dataclass
class FakeParams:
    eps: float = param(0.0, help="perturbation radius", unit="input units", min=0.0)
    norm: str = param("inf", help="ball norm", choices=("inf", "2"))
    spec: str = param("robust", help="what to bound", choices=("robust", "outputs"))
    bab: bool = param(False, help="input-domain branch and bound")
    timeout: float | None = param(None, help="time budget", unit="s", min=0.0)
    device: str = param("cpu", help="where to compute", choices=("cpu", "cuda"))
    alpha_iters: int = param(20, help="slope optimisation steps (100% honest)", min=1)


@dataclass
class FakeJob:  # same attributes as workbench.jobs.certify.CertifyJob
    model: str
    method: str
    params: Any
    vnnlib: str | None = None
    input: str | None = None
    labels: str | None = None
    dataset: str | None = None
    samples: str | None = None


@dataclass
class FakeResult:
    payload: dict
    arrays: dict
    summary: dict


JOBS: list = []


def _ok(job, *, progress, cancelled):
    JOBS.append(job)
    for i in range(5):
        progress(i / 4, f"batch {i + 1}/5")
    samples = [{"index": i, "status": s, "lower": [0.1 * i, -np.inf], "upper": [0.2, np.inf],
                "counterexample": [1.0, float("nan")] if s == "falsified" else None,
                "radius": 0.3 if s == "verified" else None}
               for i, s in enumerate(["verified", "falsified", "unknown"])]
    payload = {"method": job.method, "model": job.model, "params": params_to_dict(job.params),
               "samples": samples, "summary": {"verified": 1, "falsified": 1, "unknown": 1},
               "timing": {"total_s": 0.01, "bounds_s": np.float32(0.005)}}
    return FakeResult(payload, {"lower": np.zeros((3, 2), np.float32)},
                      {"verified": 1, "falsified": 1, "unknown": 1, "mean_radius": 0.3})


def _user_error(job, *, progress, cancelled):
    raise ValueError("unsupported operator(s): Foo, Bar\nsecond line of detail")


def _bug(job, *, progress, cancelled):
    raise RuntimeError("index out of range in the core")


def _ctrl_c(job, *, progress, cancelled):
    raise KeyboardInterrupt


def _sigint(job, *, progress, cancelled):
    os.kill(os.getpid(), signal.SIGINT)  # what Ctrl-C in the terminal does
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if cancelled():
            raise Cancelled("cancelled by the user")
        time.sleep(0.005)
    raise AssertionError("the cancel flag never came")


FAKES = {"fake-ok": _ok, "fake-user-error": _user_error, "fake-bug": _bug,
         "fake-ctrl-c": _ctrl_c, "fake-sigint": _sigint}


@pytest.fixture(autouse=True)
def fakes(monkeypatch):
    registry.list_methods()  # load the real registry first, so our entries are the last word
    for name, run in FAKES.items():
        monkeypatch.setitem(registry._registry, name,
                            Method(name, name.title(), cli.CERTIFY_FAMILY, FakeParams, run,
                                   description="a stand-in"))
    monkeypatch.setattr(cli, "certify_job", FakeJob)
    monkeypatch.delenv("WORKBENCH_WORKSPACE", raising=False)
    JOBS.clear()


@pytest.fixture
def files(tmp_path):
    model = tmp_path / "net.onnx"
    model.write_bytes(b"not parsed by the fake")
    x, y = tmp_path / "x.npy", tmp_path / "y.npy"
    np.save(x, np.zeros((3, 2)))
    np.save(y, np.zeros(3, int))
    return {"ws": str(tmp_path / "ws"), "model": str(model), "x": str(x), "y": str(y),
            "tmp": tmp_path}


def certify(files, *extra, method="fake-ok"):
    return cli.main(["--workspace", files["ws"], "certify", "--model", files["model"],
                     "--method", method, "--input", files["x"], *extra])


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("workbench: error: ") and "Traceback" not in err
    return lines[0]


def test_certify_success_out_json_store_and_progress(files, capsys):
    out = files["tmp"] / "result.json"
    code = certify(files, "--labels", files["y"], "--eps", "0.1", "--norm", "2", "--bab",
                   "--alpha-iters", "5", "--samples", "0:3", "--out", str(out))
    captured = capsys.readouterr()
    assert code == 0, captured.err
    result = json.loads(out.read_text(), parse_constant=lambda c: pytest.fail(c))
    run_id = result["run_id"]
    assert result["method"] == "fake-ok" and len(result["samples"]) == 3
    assert result["samples"][1]["counterexample"] == [1.0, None]
    assert result["samples"][0]["lower"][1] == "-inf"
    assert "1 verified, 1 falsified, 1 unknown" in captured.out and run_id in captured.out
    # stderr is not a TTY under pytest: plain progress lines with percentage and message
    assert "batch 1/5" in captured.err and "100.0%  done" in captured.err
    assert "\r" not in captured.err
    job = JOBS[0]
    assert job.params == FakeParams(eps=0.1, norm="2", bab=True, alpha_iters=5)
    assert job.input == str(Path(files["x"]).resolve()) and job.samples == "0:3"
    with RunStore(files["ws"]) as store:
        r = store.get(run_id)
        assert r.status == "done" and r.summary["verified"] == 1 and r.family == "bounds"
        assert r.spec["params"]["eps"] == 0.1 and r.spec["data"]["labels"].endswith("y.npy")
        assert "--eps 0.1" in r.command and "--bab" in r.command and "--alpha-iters 5" in r.command
        assert r.environment["device"] == "cpu" and r.environment["python"]
        payload, arrays = store.result(run_id)
        assert payload["run_id"] == run_id and arrays["lower"].shape == (3, 2)


def test_stored_command_reruns(files, capsys):
    assert certify(files, "--eps", "0.2", "--no-bab") == 0
    with RunStore(files["ws"]) as store:
        command = store.list()[0].command
    argv = shlex.split(command)[1:]
    assert cli.main(["--workspace", files["ws"], *argv]) == 0
    assert JOBS[0].params == JOBS[1].params


@pytest.mark.parametrize("extra, fragment", [
    (["--eps", "abc"], "--eps: expected a number"),
    (["--eps", "-1"], "--eps: must be >= 0.0"),
    (["--norm", "1"], "--norm: must be one of inf, 2"),
    (["--alpha-iters", "0"], "--alpha-iters: must be >= 1"),
    (["--labels", "missing.npy"], "--labels: no such file"),
    (["--samples", "a:b"], "--samples: bad sample selection 'a:b'"),
    (["--out", "/nonexistent-dir/r.json"], "--out: folder"),
    (["--frobnicate"], "unrecognized arguments: --frobnicate"),
    (["--dataset", "moons"], "not allowed with argument"),
])
def test_certify_user_errors(files, capsys, extra, fragment):
    assert certify(files, *extra) == 2
    assert fragment in one_line_error(capsys)
    assert not JOBS  # nothing ran


def test_more_user_errors(files, capsys):
    ws = ["--workspace", files["ws"]]
    cases = [
        ([*ws, "certify", "--model", "nope.onnx", "--method", "fake-ok", "--input", files["x"]],
         "--model: no such file: nope.onnx"),
        ([*ws, "certify", "--model", files["model"], "--method", "zzz", "--input", files["x"]],
         "invalid choice: 'zzz'"),
        ([*ws, "certify", "--model", files["model"], "--method", "fake-ok"],
         "one of the arguments --vnnlib --input --dataset is required"),
        ([*ws, "certify", "--model", files["model"], "--method", "fake-ok", "--dataset", "moons",
          "--labels", files["y"]], "--labels goes with --input"),
        ([*ws, "certify", "--model", files["model"], "--method", "fake-ok", "--dataset",
          "data/missing.npz"], "--dataset: no such file"),
        ([*ws, "runs", "show", "nope"], "no run matching 'nope'"),
        ([*ws, "runs", "delete", "nope"], "no run matching 'nope'"),
        ([*ws, "runs", "list", "--limit", "x"], "invalid int value"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
        ([*ws, "runs"], "the following arguments are required: ACTION"),
    ]
    for argv, fragment in cases:
        assert cli.main(argv) == 2, argv
        assert fragment in one_line_error(capsys), argv


def test_user_error_during_run_marks_failed(files, capsys):
    assert certify(files, method="fake-user-error") == 2
    line = one_line_error(capsys)
    assert line == "workbench: error: unsupported operator(s): Foo, Bar"
    with RunStore(files["ws"]) as store:
        r = store.list()[0]
        assert r.status == "failed" and r.message.startswith("unsupported operator")


def test_internal_failure_exit_1_with_hint(files, capsys):
    assert certify(files, method="fake-bug") == 1
    err = capsys.readouterr().err
    assert "internal error: RuntimeError: index out of range" in err
    assert "workbench runs show" in err and "Traceback" not in err
    with RunStore(files["ws"]) as store:
        r = store.list()[0]
        assert r.status == "failed" and "Traceback" in r.error and "RuntimeError" in r.error
    assert cli.main(["--debug", "--workspace", files["ws"], "certify", "--model", files["model"],
                     "--method", "fake-bug", "--input", files["x"]]) == 1
    assert "Traceback" in capsys.readouterr().err


@pytest.mark.parametrize("method", ["fake-ctrl-c", "fake-sigint"])
def test_ctrl_c_cancels(files, capsys, method):
    previous = signal.getsignal(signal.SIGINT)
    assert certify(files, method=method) == 130
    assert signal.getsignal(signal.SIGINT) is previous  # the handler is restored
    assert "cancelled (run " in capsys.readouterr().err
    with RunStore(files["ws"]) as store:
        assert store.list()[0].status == "cancelled"


def test_runs_list_show_delete(files, capsys):
    assert certify(files) == 0
    assert certify(files, method="fake-bug") == 1
    capsys.readouterr()
    ws = ["--workspace", files["ws"]]
    assert cli.main([*ws, "runs", "list"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["ID", "METHOD", "STATUS", "CREATED", "DURATION", "SUMMARY"]
    assert "fake-bug" in out[1] and "failed" in out[1]
    assert "fake-ok" in out[2] and "done" in out[2] and "verified=1" in out[2]
    ok_id = out[2].split()[0]
    assert cli.main([*ws, "runs", "list", "--status", "failed"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 2
    assert cli.main([*ws, "runs", "show", ok_id[:-1], "--rows", "2"]) == 0
    shown = capsys.readouterr().out
    for fragment in (ok_id, "done", "command", "--eps 0.0", "environment:", "summary:",
                     "mean_radius", "lower float32[3, 2]", "INDEX", "falsified",
                     "... 1 more samples"):
        assert fragment in shown, fragment
    assert cli.main([*ws, "runs", "delete", ok_id]) == 0
    assert cli.main([*ws, "runs", "list", "--status", "done"]) == 0
    assert "no runs" in capsys.readouterr().out


def test_runs_show_corrupt_files_one_line(files, capsys):
    assert certify(files) == 0
    with RunStore(files["ws"]) as store:
        run_id = store.list()[0].id
        (store.run_dir(run_id) / "arrays.npz").write_bytes(b"garbage")
    capsys.readouterr()
    assert cli.main(["--workspace", files["ws"], "runs", "show", run_id]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "arrays.npz is damaged" in err[0]


def test_methods_and_help(files, capsys):
    assert cli.main(["methods"]) == 0
    out = capsys.readouterr().out
    assert "fake-ok" in out and "--alpha-iters" in out and "[input units]" in out
    assert cli.main(["certify", "--method", "fake-ok", "--help"]) == 0
    out = capsys.readouterr().out
    assert "--alpha-iters ALPHA_ITERS" in out and "slope optimisation steps" in out
    assert "--bab, --no-bab" in out and "{inf,2}" in out
    assert cli.main(["certify", "--help"]) == 0  # no method: the union of all flags
    assert "--alpha-iters" in capsys.readouterr().out


def test_demo_mechanics(files, capsys, monkeypatch):
    monkeypatch.setitem(registry._registry, "crown",
                        Method("crown", "CROWN", cli.CERTIFY_FAMILY, FakeParams, _ok))
    assert cli.main(["--workspace", files["ws"], "demo"]) == 0
    out = capsys.readouterr().out
    assert "moons_relu_mlp" in out and "INDEX" in out and "1 verified" in out
    job = JOBS[0]
    assert (job.dataset, job.samples, job.params.eps) == ("moons", "0:20", 0.05)
    assert Path(job.model).exists()


def test_progress_bar_tty_throttled():
    now = [0.0]
    stream = io.StringIO()
    bar = ProgressBar(stream, label="crown", tty=True, clock=lambda: now[0])
    for i in range(100):  # 100 reports within 0.5 s: at most ~6 redraws
        now[0] = i * 0.005
        bar(i / 100, "working")
    now[0] = 1.0
    bar(1.0, "almost")
    bar.close("done")
    text = stream.getvalue()
    assert 2 <= text.count("\r") <= 8
    assert text.endswith("\n") and "100.0%" in text and "done" in text and "00:01" in text


def test_progress_bar_plain_lines():
    now = [0.0]
    stream = io.StringIO()
    bar = ProgressBar(stream, tty=False, clock=lambda: now[0])
    for i in range(1000):
        now[0] += 0.2
        bar(i / 1000, "same message")
    lines = stream.getvalue().splitlines()
    assert 9 <= len(lines) <= 11  # one per tenth of the work, not one per report
    assert all("%" in line for line in lines)


def test_format_table():
    text = format_table(["A", "BB"], [("x", None), ("long" * 20, 1)], max_width=10)
    lines = text.splitlines()
    assert lines[0].startswith("A") and lines[1].split() == ["x", "-"]
    assert "longlon..." in lines[2]


def test_python_m_workbench_help():
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.run([sys.executable, "-m", "workbench", "--help"], capture_output=True,
                          text=True, env=env, cwd=REPO, timeout=60)
    assert proc.returncode == 0, proc.stderr
    for command in ("certify", "runs", "demo", "methods", "--workspace"):
        assert command in proc.stdout
