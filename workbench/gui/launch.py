"""Starting a certification run from the GUI, without Qt: validate, store, execute.

The GUI must make runs the CLI would make: the same stored spec, the same title and the same
reproducing command line, so that ``workbench runs list`` and the window show the same history
and a report's command really re-runs the job. That is why the spec, title and command come from
the CLI's own helpers instead of being rebuilt here.
"""
from __future__ import annotations

import time
import traceback
from dataclasses import dataclass, field
from typing import Any

from workbench.jobs import cli, registry
from workbench.jobs.registry import Method, ParamError
from workbench.jobs.store import RunStore
from workbench.runtime import Cancelled, CancelledFn, ProgressFn

DATA_KEYS = cli.DATA_KEYS  # vnnlib, input, labels, dataset, samples, pde
STORE_PROGRESS_INTERVAL_S = 0.5  # the database gets a progress row at most twice a second


@dataclass
class RunRequest:
    """What the panels selected: a network file, a method with raw parameter values, and data."""
    model: str
    method: str
    params: dict[str, Any] = field(default_factory=dict)
    data: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_spec(cls, spec: dict) -> "RunRequest":
        """The request that re-runs a stored run (its spec is what the CLI and GUI store)."""
        return cls(str(spec.get("model", "")), str(spec.get("method", "")),
                   dict(spec.get("params") or {}),
                   {k: str(v) for k, v in (spec.get("data") or {}).items() if k in DATA_KEYS})


@dataclass
class PreparedRun:
    run_id: str
    method: Method
    job: Any
    gpu: bool


def validate(request: RunRequest) -> tuple[Method, Any]:
    """The method and its validated parameters; raises ``ParamError``/``ValueError`` with one line."""
    if not request.model:
        raise ValueError("choose a network first")
    method = registry.get_method(request.method)
    params = registry.params_from_dict(method.params, request.params)
    if getattr(params, "device", "cpu") == "cuda":
        import torch  # lazy: validating a CPU run must not pay for a CUDA probe

        if not torch.cuda.is_available():
            raise ParamError("device", "no CUDA GPU is available on this machine; use cpu")
    sources = [k for k in ("vnnlib", "input", "dataset", "pde") if request.data.get(k)]
    if method.family == "pinn" and sources != ["pde"]:
        raise ValueError("a PINN method certifies a PDE: choose one in the data panel")
    if len(sources) != 1:
        raise ValueError("choose the data to certify: a dataset, an input file or a VNN-LIB property")
    return method, params


def prepare(store: RunStore, request: RunRequest) -> PreparedRun:
    """Validate and create the ``queued`` run row (fast: one INSERT), ready to execute."""
    from workbench.jobs.environment import environment

    method, params = validate(request)
    data = {k: v for k, v in request.data.items() if k in DATA_KEYS and v}
    spec = {"method": method.name, "model": request.model, "data": data,
            "params": registry.params_to_dict(params)}
    device = str(getattr(params, "device", "cpu"))
    run_id = store.create(method.name, method.family, spec,
                          cli._command_line(method, request.model, data, params),
                          title=f"{method.title} · {cli._model_label(request.model)}",
                          environment=environment(device))
    job = cli.certify_job(model=request.model, method=method.name, params=params, **data)
    return PreparedRun(run_id, method, job, gpu=device == "cuda")


def execute(store: RunStore, prepared: PreparedRun, progress: ProgressFn,
            cancelled: CancelledFn) -> str:
    """Run a prepared job in the calling (worker) thread and record its outcome in the store.

    Returns the run id when done; re-raises ``Cancelled`` and every failure after recording it,
    so the job runner reports them to the GUI.
    """
    run_id = prepared.run_id
    last = [-float("inf")]

    def report(fraction: float, message: str = "", detail: dict | None = None) -> None:
        progress(fraction, message, detail)
        now = time.monotonic()
        if now - last[0] >= STORE_PROGRESS_INTERVAL_S:
            last[0] = now
            try:
                store.progress(run_id, fraction, message)
            except Exception:  # noqa: BLE001 - a busy database must not kill the run
                pass

    store.start(run_id)
    try:
        result = prepared.method.run(prepared.job, progress=report, cancelled=cancelled)
        store.finish(run_id, {**result.payload, "run_id": run_id}, result.arrays, result.summary)
    except Cancelled:
        store.cancel(run_id)
        raise
    except BaseException as err:
        text = str(err).strip().splitlines()
        line = text[0] if text else ""
        store.fail(run_id, f"{type(err).__name__}: {line}".rstrip(": "), traceback.format_exc())
        raise
    return run_id
