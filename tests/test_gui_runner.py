"""The job runner: results, throttled progress in the GUI thread, errors, cancellation, shutdown."""
from __future__ import annotations

import threading
import time

import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from workbench.gui.runner import JobError, JobRunner  # noqa: E402
from workbench.runtime import check_cancelled  # noqa: E402


@pytest.fixture
def runner(qtbot):
    r = JobRunner()
    yield r
    r.shutdown(5000)


def test_result_arrives_in_the_gui_thread(qtbot, runner):
    main = threading.get_ident()
    threads = []
    # Signals of a fast job may fire before the caller could connect: the callbacks of submit()
    # are connected before the job starts, so tests wait on them, not on the signals.
    finished = []
    runner.submit(lambda progress, cancelled: threading.get_ident(),
                  on_result=lambda v: threads.append(threading.get_ident()),
                  on_finished=lambda: finished.append(1))
    qtbot.waitUntil(lambda: finished == [1], timeout=5000)
    assert threads == [main]
    assert runner.active() == []  # the runner let go of the finished job


def test_progress_is_throttled_and_delivered_in_the_gui_thread(qtbot, runner):
    main = threading.get_ident()
    seen = []

    def spam(progress, cancelled):
        for i in range(200_000):  # far more reports than an event loop could draw
            progress(i / 200_000, "spam")
        time.sleep(0.2)
        progress(1.0, "done")
        return "ok"

    results = []
    runner.submit(spam, on_progress=lambda f, m, d: seen.append((f, threading.get_ident())),
                  on_result=results.append)
    qtbot.waitUntil(lambda: runner.active() == [], timeout=10000)
    assert results == ["ok"]
    assert 1 <= len(seen) <= 40  # ~15 per second at most
    assert seen[-1][0] == 1.0  # the final report is never dropped
    assert all(t == main for _, t in seen)


def test_every_exception_arrives_as_error_with_the_traceback(qtbot, runner):
    def boom(progress, cancelled):
        raise KeyError("missing piece")

    order = []
    runner.submit(boom, on_error=lambda e: order.append(e), on_finished=lambda: order.append("finished"),
                  on_result=lambda v: order.append("result"))
    qtbot.waitUntil(lambda: "finished" in order, timeout=5000)
    err = order[0]
    assert order[1:] == ["finished"]
    assert isinstance(err, JobError)
    assert err.exc_type == "KeyError" and "missing piece" in err.message
    assert "Traceback" in err.details and "boom" in err.details


def test_cancel_is_cooperative_and_emits_no_result(qtbot, runner):
    started = threading.Event()

    def slow(progress, cancelled):
        started.set()
        for _ in range(1000):
            check_cancelled(cancelled)
            time.sleep(0.01)
        return "finished anyway"

    events = []
    job = runner.submit(slow, on_result=lambda v: events.append("result"),
                        on_cancelled=lambda: events.append("cancelled"))
    assert started.wait(5)
    runner.cancel(job.job_id)
    qtbot.waitUntil(lambda: runner.active() == [], timeout=5000)
    qtbot.wait(50)
    assert events == ["cancelled"]


def test_gpu_jobs_run_one_at_a_time(qtbot, runner):
    running, peak, lock = [0], [0], threading.Lock()

    def gpu_job(progress, cancelled):
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(0.05)
        with lock:
            running[0] -= 1

    jobs = [runner.submit(gpu_job, gpu=True) for _ in range(4)]
    qtbot.waitUntil(lambda: all(j.done for j in jobs), timeout=5000)
    assert peak[0] == 1


def test_shutdown_cancels_and_waits(qtbot):
    r = JobRunner()
    stopped = threading.Event()

    def forever(progress, cancelled):
        try:
            while True:
                check_cancelled(cancelled)
                time.sleep(0.005)
        finally:
            stopped.set()

    r.submit(forever)
    time.sleep(0.05)
    assert r.shutdown(5000)
    assert stopped.is_set()
    with pytest.raises(RuntimeError):
        r.submit(forever)


def test_a_job_cancelled_while_queued_never_runs(qtbot, runner):
    gate = threading.Event()
    ran = []
    cancelled = []
    first = runner.submit(lambda p, c: gate.wait(5), gpu=True)
    second = runner.submit(lambda p, c: ran.append(1), gpu=True,  # waits for the one GPU slot
                           on_cancelled=lambda: cancelled.append(1))
    runner.cancel(second.job_id)
    gate.set()
    qtbot.waitUntil(lambda: cancelled == [1], timeout=5000)
    assert first.done and ran == []


def test_no_callback_reaches_a_destroyed_owner(qtbot):
    """A window closed while its job runs: the job's late signals must go nowhere."""
    import shiboken6
    from PySide6.QtCore import QObject

    owner = QObject()
    r = JobRunner(owner)
    called, started = [], threading.Event()

    def job(progress, cancelled):
        started.set()
        time.sleep(0.2)
        return 1

    r.submit(job, on_result=called.append, on_finished=lambda: called.append("finished"))
    assert started.wait(5)
    r.shutdown(5000)  # the job is done; its result and finished signals are still queued
    shiboken6.delete(owner)  # the window (and its runner) destroyed before they are delivered
    qtbot.wait(100)
    assert called == []
