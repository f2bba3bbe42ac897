"""The SQLite run store: lifecycle, atomicity, crash recovery, concurrency, JSON safety."""
from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import numpy as np
import pytest

from workbench.jobs import environment as env_mod
from workbench.jobs.environment import (default_workspace, environment, process_alive,
                                        process_token)
from workbench.jobs.store import (CorruptRunError, RunStore, RunStoreError, UnknownRunError,
                                  json_safe, write_json_atomic)

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def store(tmp_path):
    with RunStore(tmp_path / "ws") as s:
        yield s


def _finished(store, method="crown", n=3):
    run_id = store.create(method, "bounds", {"model": "m.onnx", "params": {"eps": 0.1}},
                          command="workbench certify ...")
    store.start(run_id)
    store.finish(run_id, {"samples": [{"index": i} for i in range(n)]},
                 {"lower": np.arange(n, dtype=np.float32)}, {"verified": n})
    return run_id


def test_lifecycle_and_layout(store):
    run_id = store.create("crown", "bounds", {"model": "m.onnx"}, command="workbench x",
                          title="CROWN · m", environment={"torch": "2"})
    assert len(run_id.split("-")) == 3 and len(run_id) == len("20261126-154233-ab12")
    r = store.get(run_id)
    assert (r.status, r.method, r.family, r.title) == ("queued", "crown", "bounds", "CROWN · m")
    assert r.pid == os.getpid() and r.command == "workbench x" and r.environment == {"torch": "2"}
    store.start(run_id)
    store.progress(run_id, 0.5, "half")
    r = store.get(run_id)
    assert (r.status, r.progress, r.message) == ("running", 0.5, "half") and r.started
    store.finish(run_id, {"a": 1}, {"x": np.eye(2)}, {"verified": 2})
    r = store.get(run_id)
    assert r.status == "done" and r.progress == 1 and r.summary == {"verified": 2}
    assert r.duration is not None and r.duration >= 0 and r.finished >= r.started
    payload, arrays = store.result(run_id)
    assert payload == {"a": 1} and np.array_equal(arrays["x"], np.eye(2))
    assert (store.workspace / "runs.sqlite").is_file()
    assert sorted(p.name for p in store.run_dir(run_id).iterdir()) == ["arrays.npz",
                                                                        "result.json"]
    # the database is a plain SQLite file with a schema version, usable by other tools
    with sqlite3.connect(store.workspace / "runs.sqlite") as conn:
        assert conn.execute("SELECT version FROM schema_version").fetchone()[0] >= 1
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_fail_cancel_list_find_delete(store):
    a = _finished(store, "ibp")
    b = store.create("crown", "bounds", {})
    store.start(b)
    store.fail(b, "boom", "Traceback ...")
    c = store.create("crown", "bounds", {})
    store.cancel(c)
    assert store.get(b).status == "failed" and store.get(b).error == "Traceback ..."
    assert store.get(b).message == "boom" and store.get(c).status == "cancelled"
    assert store.get(c).duration is None  # never started
    store.cancel(a)  # a late Ctrl-C or failure never hides a finished run
    store.fail(a, "late")
    assert store.get(a).status == "done" and store.result(a)[0]["samples"]
    assert [r.id for r in store.list()] == [c, b, a]  # newest first
    assert [r.id for r in store.list(status="done")] == [a]
    assert [r.id for r in store.list(method="crown", limit=1)] == [c]
    with pytest.raises(ValueError):
        store.list(status="bogus")
    with pytest.raises(RunStoreError, match="no result"):
        store.result(b)
    assert store.find(a) == a
    with pytest.raises(UnknownRunError, match="3 runs matching"):
        store.find(a[:8])  # ambiguous prefix
    with pytest.raises(UnknownRunError, match="no run matching"):
        store.find("1999")
    store.delete(a)
    assert not store.run_dir(a).exists()
    with pytest.raises(UnknownRunError, match="no run"):
        store.get(a)
    with pytest.raises(UnknownRunError):
        store.delete(a)
    live = store.create("crown", "bounds", {})
    store.start(live)
    with pytest.raises(RunStoreError, match="cancel it"):
        store.delete(live)  # owned by this (live) process


def test_unknown_run_errors_are_value_errors(store):
    for call in (lambda: store.start("x"), lambda: store.fail("x", "m"),
                 lambda: store.finish("x", {}, {}, {}), lambda: store.get("x")):
        with pytest.raises(UnknownRunError):
            call()
    assert issubclass(UnknownRunError, ValueError)


def test_json_round_trip_numpy_nan_inf(store):
    payload = {"f32": np.float32(0.5), "i64": np.int64(7), "b": np.bool_(True),
               "nan": float("nan"), "inf": np.inf, "ninf": -np.inf,
               "arr": np.array([1.0, np.nan, np.inf]), "t": (1, 2), "p": Path("/x")}
    run_id = store.create("crown", "bounds", {"eps": np.float64(0.1), "bad": np.nan})
    store.start(run_id)
    store.finish(run_id, payload, {}, {"mean": np.float32(0.25), "nan": np.nan})
    text = (store.run_dir(run_id) / "result.json").read_text()

    def strict(c):
        raise ValueError(f"invalid JSON constant {c}")

    loaded = json.loads(text, parse_constant=strict)  # NaN/Infinity literals would fail here
    assert loaded == {"f32": 0.5, "i64": 7, "b": True, "nan": None, "inf": "inf",
                      "ninf": "-inf", "arr": [1.0, None, "inf"], "t": [1, 2], "p": "/x"}
    assert store.result(run_id)[0] == loaded
    r = store.get(run_id)
    assert r.spec == {"eps": 0.1, "bad": None} and r.summary == {"mean": 0.25, "nan": None}
    with pytest.raises(TypeError):
        json_safe(object())


def test_missing_or_corrupt_files_give_clear_errors(store):
    a, b, c = _finished(store), _finished(store), _finished(store)
    (store.run_dir(a) / "arrays.npz").unlink()
    with pytest.raises(CorruptRunError, match=f"run {a}: array file .*arrays.npz is missing"):
        store.result(a)
    (store.run_dir(b) / "arrays.npz").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(CorruptRunError, match=f"run {b}: array file .* is damaged"):
        store.result(b)
    (store.run_dir(c) / "result.json").write_text('{"samples": [')
    with pytest.raises(CorruptRunError, match=f"run {c}: result file .* is damaged"):
        store.result(c)


def test_atomic_json_write_leaves_no_temp_files(tmp_path):
    target = tmp_path / "out.json"
    write_json_atomic(target, {"a": [1, 2]})
    write_json_atomic(target, {"a": np.float32(3)})
    assert json.loads(target.read_text()) == {"a": 3.0}
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]


def test_concurrent_threads_and_stores(tmp_path):
    ws = tmp_path / "ws"
    shared = RunStore(ws)
    errors = []

    def worker(k):
        try:
            s = shared if k % 2 else RunStore(ws)  # one shared handle and private ones
            for i in range(6):
                rid = s.create("crown", "bounds", {"k": k, "i": i})
                s.start(rid)
                for f in (0.25, 0.5, 0.75):
                    s.progress(rid, f, f"{k}/{i}")
                s.finish(rid, {"k": k, "i": i}, {"x": np.full(3, k * 10 + i)}, {"n": i})
                s.list(limit=5)
        except Exception as err:  # noqa: BLE001 - reported by the main thread
            errors.append(err)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    runs = shared.list()
    assert len(runs) == 48 and len({r.id for r in runs}) == 48
    assert all(r.status == "done" for r in runs)
    for r in runs:
        payload, arrays = shared.result(r.id)
        assert payload == {"k": r.spec["k"], "i": r.spec["i"]}
        assert arrays["x"][0] == r.spec["k"] * 10 + r.spec["i"]
    shared.close()


CHILD = textwrap.dedent("""
    import sys, time
    import numpy as np
    from workbench.jobs.store import RunStore
    store = RunStore(sys.argv[1])
    done = store.create("crown", "bounds", {"n": 1})
    store.start(done)
    store.finish(done, {"ok": True}, {"x": np.arange(4)}, {"verified": 4})
    queued = store.create("ibp", "bounds", {})
    running = store.create("crown", "bounds", {"n": 2})
    store.start(running)
    store.progress(running, 0.3, "working")
    print(done, running, queued, flush=True)
    time.sleep(60)
""")


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
def test_killed_process_leaves_interrupted_run_and_keeps_finished(tmp_path):
    ws = tmp_path / "ws"
    envs = dict(os.environ, PYTHONPATH=str(REPO))
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(ws)], stdout=subprocess.PIPE,
                             text=True, env=envs)
    try:
        done, running, queued = child.stdout.readline().split()
        with RunStore(ws) as s:  # the child still lives: its runs stay as they are
            assert s.get(running).status == "running" and s.get(queued).status == "queued"
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.kill()
        child.wait()
        child.stdout.close()
    with RunStore(ws) as s:
        assert s.get(running).status == "interrupted"
        assert s.get(queued).status == "interrupted"
        assert "interrupted" in s.get(running).message
        assert s.get(running).progress == pytest.approx(0.3)
        assert s.get(done).status == "done"
        payload, arrays = s.result(done)
        assert payload == {"ok": True} and list(arrays["x"]) == [0, 1, 2, 3]


def test_recover_uses_pid_and_token(store):
    mine = store.create("crown", "bounds", {})
    store.start(mine)
    reused = store.create("crown", "bounds", {})
    store.start(reused)
    with sqlite3.connect(store.path) as conn:  # a pid that was reused by another process
        conn.execute("UPDATE runs SET proc_token = 'other' WHERE id = ?", (reused,))
    expect_reuse = process_token(os.getpid()) is not None  # tokens exist on Linux only
    assert store.recover() == ([reused] if expect_reuse else [])
    assert store.get(mine).status == "running"


def test_newer_schema_is_refused(tmp_path):
    RunStore(tmp_path).close()
    with sqlite3.connect(tmp_path / "runs.sqlite") as conn:
        conn.execute("UPDATE schema_version SET version = 999")
    with pytest.raises(RunStoreError, match="newer"):
        RunStore(tmp_path)


def test_reopen_keeps_runs_and_finds_prefix(tmp_path):
    with RunStore(tmp_path) as s:
        rid = _finished(s)
    with RunStore(tmp_path) as s:
        assert s.get(rid).status == "done" and s.result(rid)[0]["samples"][2] == {"index": 2}
        assert s.find(rid[:10]) == rid  # a unique prefix is enough


def test_process_alive():
    assert process_alive(os.getpid(), process_token(os.getpid()))
    assert not process_alive(None) and not process_alive(0)
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    assert not process_alive(p.pid)


def test_environment_and_default_workspace(monkeypatch, tmp_path):
    e = environment("cpu")
    for key in ("python", "torch", "numpy", "device", "device_name", "platform", "hostname",
                "time"):
        assert e[key], key
    json.dumps(e)
    assert environment("cuda:0")["device"] == "cuda:0"  # never raises, GPU or not
    monkeypatch.setenv("WORKBENCH_WORKSPACE", str(tmp_path / "w"))
    assert default_workspace() == tmp_path / "w"
    monkeypatch.delenv("WORKBENCH_WORKSPACE")
    if sys.platform.startswith("linux"):
        monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
        assert default_workspace() == tmp_path / "xdg" / env_mod.APP_DIR
        monkeypatch.setenv("XDG_DATA_HOME", "relative/path")
        assert default_workspace() == Path.home() / ".local" / "share" / env_mod.APP_DIR
