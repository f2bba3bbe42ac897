"""The background job runner: every long computation of the GUI runs here, never on the main thread.

A job is a plain function ``fn(progress, cancelled) -> value`` (the protocol of
``workbench.runtime``). The runner wraps it in a ``QRunnable`` whose ``JobSignals`` carry
progress, result, error, cancelled and finished back to the GUI thread (queued connections,
because the signals object lives in the GUI thread while ``emit`` happens in a pool thread).

Rules kept here so that no caller has to remember them:
- GPU jobs share one pool with a single thread (one GPU slot); other jobs use a second pool.
- Any exception, whatever its type, arrives as ``error`` with the traceback text; a ``Cancelled``
  arrives as ``cancelled``; ``finished`` always follows, emitted in ``finally``.
- Progress is throttled in the worker (at most ~15 signals per second) so a job that reports
  thousands of times per second cannot flood the event loop.
- The runner holds a reference to every live job until its ``finished`` has been delivered, and
  on ``aboutToQuit`` cancels everything and waits, so no worker outlives the objects it signals.
"""
from __future__ import annotations

import itertools
import math
import threading
import time
import traceback
from dataclasses import dataclass
from typing import Any, Callable

from PySide6.QtCore import QCoreApplication, QObject, QRunnable, QThread, QThreadPool, Signal

from workbench.runtime import Cancelled, CancelledFn, ProgressFn

JobFn = Callable[[ProgressFn, CancelledFn], Any]
PROGRESS_INTERVAL_S = 1 / 15
DETAIL_INTERVAL_S = 1 / 100


@dataclass
class JobError:
    """What the GUI shows of a failed job: one line, and the traceback on demand."""
    job_id: str
    message: str
    details: str
    exc_type: str
    exception: BaseException | None = None

    @classmethod
    def from_exception(cls, job_id: str, err: BaseException) -> "JobError":
        text = str(err).strip().splitlines()
        line = text[0] if text else type(err).__name__
        # User mistakes (bad files, bad values) read better without the class name.
        message = line if isinstance(err, (ValueError, OSError)) else f"{type(err).__name__}: {line}"
        details = "".join(traceback.format_exception(type(err), err, err.__traceback__))
        return cls(job_id, message, details, type(err).__name__, err)


class JobSignals(QObject):
    progress = Signal(float, str, object)  # fraction, message, detail (dict or None)
    result = Signal(object)
    error = Signal(object)  # a JobError
    cancelled = Signal()
    finished = Signal()


class Job(QRunnable):
    """One unit of background work; create it through ``JobRunner.submit``."""

    def __init__(self, job_id: str, fn: JobFn, *, gpu: bool = False,
                 interval: float = PROGRESS_INTERVAL_S):
        super().__init__()
        # Python owns the runnable (the runner's dict keeps it alive); with auto-delete the C++
        # side would also delete it and the two owners could double-free it.
        self.setAutoDelete(False)
        self.job_id = job_id
        self.gpu = gpu
        self.signals = JobSignals()
        self._fn = fn
        self._interval = interval
        self._cancel = threading.Event()
        self._last_emit = -math.inf
        self.done = False
        self.callbacks: dict[str, Callable[..., None] | None] = {}

    def cancel(self) -> None:
        self._cancel.set()

    def is_cancelled(self) -> bool:
        return self._cancel.is_set()

    def _progress(self, fraction: float, message: str = "", detail: dict | None = None) -> None:
        now = time.monotonic()
        # Always let the first and the final report through; drop the rest inside the interval.
        # Reports with a `detail` (live plot points) get a shorter interval: dropping them
        # would leave holes in a live curve, and jobs send them once per round, not per item.
        interval = self._interval if detail is None else min(self._interval, DETAIL_INTERVAL_S)
        if fraction < 1.0 and now - self._last_emit < interval:
            return
        self._last_emit = now
        self.signals.progress.emit(float(fraction), str(message), detail)

    def run(self) -> None:  # runs in a pool thread
        try:
            if self._cancel.is_set():  # cancelled while it waited in the queue
                raise Cancelled("cancelled before it started")
            value = self._fn(self._progress, self._cancel.is_set)
        except Cancelled:
            self.signals.cancelled.emit()
        except BaseException as err:  # noqa: BLE001 - every failure must reach the GUI as `error`
            self.signals.error.emit(JobError.from_exception(self.job_id, err))
        else:
            self.signals.result.emit(value)
        finally:
            self.done = True
            self.signals.finished.emit()


class JobRunner(QObject):
    """Owns the thread pools and every live job."""

    job_started = Signal(str)
    job_finished = Signal(str)
    busy_changed = Signal(int)  # number of live jobs

    def __init__(self, parent: QObject | None = None, cpu_threads: int | None = None):
        super().__init__(parent)
        self._gpu_pool = QThreadPool(self)
        self._gpu_pool.setMaxThreadCount(1)  # the one GPU slot: GPU jobs run one at a time
        self._cpu_pool = QThreadPool(self)
        self._cpu_pool.setMaxThreadCount(cpu_threads or max(2, QThread.idealThreadCount() - 1))
        self._live: dict[str, Job] = {}
        self._ids = itertools.count(1)
        self._closed = False
        app = QCoreApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.shutdown)

    def submit(self, fn: JobFn, *, job_id: str | None = None, gpu: bool = False,
               on_result: Callable[[Any], None] | None = None,
               on_error: Callable[[JobError], None] | None = None,
               on_progress: Callable[[float, str, Any], None] | None = None,
               on_cancelled: Callable[[], None] | None = None,
               on_finished: Callable[[], None] | None = None) -> Job:
        """Queue ``fn``; the callbacks run in the GUI thread.

        The job's signals are connected to this runner's own slots, which call the callbacks:
        when the runner (a child of the window) is destroyed Qt drops those connections, so a
        late signal can never reach a deleted window. They are connected before the job starts,
        so no signal of a fast job is missed.
        """
        if self._closed:
            raise RuntimeError("the job runner has shut down")
        job_id = job_id or f"job-{next(self._ids)}"
        if job_id in self._live:
            raise ValueError(f"a job {job_id!r} is already running")
        job = Job(job_id, fn, gpu=gpu)
        job.callbacks = {"result": on_result, "error": on_error, "progress": on_progress,
                         "cancelled": on_cancelled, "finished": on_finished}
        s = job.signals
        s.setObjectName(job_id)  # how the slots find the job of a signal (self.sender())
        s.progress.connect(self._on_progress)
        s.result.connect(self._on_result)
        s.error.connect(self._on_error)
        s.cancelled.connect(self._on_cancelled)
        s.finished.connect(self._on_finished)
        self._live[job_id] = job
        (self._gpu_pool if gpu else self._cpu_pool).start(job)
        self.job_started.emit(job_id)
        self.busy_changed.emit(len(self._live))
        return job

    def _callback(self, name: str) -> Callable[..., None] | None:
        sender = self.sender()
        job = self._live.get(sender.objectName()) if sender is not None else None
        return None if job is None else job.callbacks.get(name)

    def _on_progress(self, fraction: float, message: str, detail: object = None) -> None:
        if (cb := self._callback("progress")) is not None:
            cb(fraction, message, detail)

    def _on_result(self, value: object) -> None:
        if (cb := self._callback("result")) is not None:
            cb(value)

    def _on_error(self, error: object) -> None:
        if (cb := self._callback("error")) is not None:
            cb(error)

    def _on_cancelled(self) -> None:
        if (cb := self._callback("cancelled")) is not None:
            cb()

    def _on_finished(self) -> None:
        job_id = self.sender().objectName()
        try:
            if (cb := self._callback("finished")) is not None:
                cb()
        finally:
            self._forget(job_id)

    def _forget(self, job_id: str) -> None:
        if self._live.pop(job_id, None) is not None:
            self.job_finished.emit(job_id)
            self.busy_changed.emit(len(self._live))

    def job(self, job_id: str) -> Job | None:
        return self._live.get(job_id)

    def active(self) -> list[str]:
        return list(self._live)

    def cancel(self, job_id: str) -> bool:
        job = self._live.get(job_id)
        if job is None:
            return False
        job.cancel()
        return True

    def cancel_all(self) -> None:
        for job in list(self._live.values()):
            job.cancel()

    def wait(self, timeout_ms: int = -1) -> bool:
        """Block until both pools are idle (tests and shutdown); True if they are."""
        deadline = None if timeout_ms < 0 else time.monotonic() + timeout_ms / 1000
        ok = True
        for pool in (self._gpu_pool, self._cpu_pool):
            left = -1 if deadline is None else max(0, int((deadline - time.monotonic()) * 1000))
            ok = pool.waitForDone(left) and ok
        return ok

    def shutdown(self, timeout_ms: int = 30000) -> bool:
        """Cancel every job and wait for the workers (called on quit): jobs check ``cancelled``
        between batches, so they stop within one batch."""
        self._closed = True
        self.cancel_all()
        return self.wait(timeout_ms)
