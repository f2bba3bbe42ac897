"""``workbench certify``: the method flags, the data selection, and running one stored job.

The method flags (``--eps``, ``--alpha-iters``, ...) are generated from the chosen method's
parameter dataclass, so the CLI and the GUI validate parameters the same way
(``params_from_dict``).
"""
from __future__ import annotations

import argparse
import contextlib
import shlex
import signal
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any, Callable, Iterator

from workbench.jobs import registry
from workbench.jobs.cli_common import (DATA_KEYS, FIXED_FLAGS, USER_ERRORS,
                                       UsageError, certify_methods, err, one_line,
                                       open_store)
from workbench.jobs.progressbar import ProgressBar, format_duration
from workbench.jobs.registry import ParamError, ParamSpec, param_specs, params_from_dict
from workbench.jobs.store import RunStore, write_json_atomic

STORE_PROGRESS_INTERVAL = 0.5  # seconds between progress writes to the database


# ---------------------------------------------------------------- flags

def param_help(spec: ParamSpec) -> str:
    """One line of help from a parameter's metadata (units, range, default)."""
    bits = [spec.help.rstrip(".")]
    if spec.unit:
        bits.append(f"[{spec.unit}]")
    if spec.min is not None or spec.max is not None:
        lo = "" if spec.min is None else f"{spec.min} <= "
        hi = "" if spec.max is None else f" <= {spec.max}"
        bits.append(f"({lo}value{hi})")
    if not spec.required:
        bits.append(f"(default: {spec.default})")
    return " ".join(b for b in bits if b)


def metavar(spec: ParamSpec) -> str:
    if spec.choices:
        return "{" + ",".join(map(str, spec.choices)) + "}"
    return spec.name.upper()


def add_param_flags(parser: argparse.ArgumentParser, specs: list[ParamSpec]) -> list[tuple]:
    group = parser.add_argument_group("method parameters")
    dests = []
    for spec in specs:
        if spec.flag in FIXED_FLAGS:
            raise RuntimeError(f"parameter {spec.name!r} uses the reserved flag {spec.flag}")
        dest = "param_" + spec.name
        helptext = param_help(spec).replace("%", "%%")
        if spec.type is bool:
            group.add_argument(spec.flag, dest=dest, action=argparse.BooleanOptionalAction,
                               default=None, help=helptext)
        else:
            group.add_argument(spec.flag, dest=dest, default=None, metavar=metavar(spec),
                               help=helptext)
        dests.append((dest, spec))
    return dests


def certify_specs(method_name: str | None) -> list[ParamSpec]:
    methods = certify_methods()
    chosen = [m for m in methods if m.name == method_name]
    if chosen:
        return param_specs(chosen[0].params)
    # No (valid) method yet: offer the union, so `certify --help` still documents the flags.
    seen: dict[str, ParamSpec] = {}
    for m in methods:
        for spec in param_specs(m.params):
            seen.setdefault(spec.flag, spec)
    return list(seen.values())


def add_certify_arguments(cert: argparse.ArgumentParser, method_name: str | None) -> None:
    """The ``certify`` subcommand's arguments (loads the registry, and with it torch)."""
    names = [m.name for m in certify_methods()]
    cert.add_argument("--model", required=True, metavar="PATH",
                      help="ONNX, .pt2, TorchScript or state dict + architecture")
    cert.add_argument("--method", required=True, choices=names, help="bound method")
    data = cert.add_mutually_exclusive_group(required=True)
    data.add_argument("--vnnlib", metavar="PATH", help="VNN-LIB property")
    data.add_argument("--input", metavar="X.npy", help="inputs to certify")
    data.add_argument("--dataset", metavar="NAME_OR_PATH", help="built-in name or file")
    cert.add_argument("--labels", metavar="Y.npy", help="labels for --input")
    cert.add_argument("--samples", metavar="START:STOP", help="rows to certify, e.g. 0:100")
    cert.add_argument("--out", metavar="RESULT.json", help="also write the result here")
    cert.set_defaults(param_dests=add_param_flags(cert, certify_specs(method_name)))


# ---------------------------------------------------------------- the job spec

def existing(path: str, flag: str) -> str:
    p = Path(path).expanduser()
    if not p.exists():
        raise UsageError(f"{flag}: no such file: {path}")
    return str(p.resolve())


def data_args(args: argparse.Namespace) -> dict[str, str]:
    """The data selection, validated, with absolute paths (the stored spec must re-run anywhere)."""
    data: dict[str, str] = {}
    for key in ("vnnlib", "input"):
        if getattr(args, key):
            data[key] = existing(getattr(args, key), f"--{key}")
    if args.labels:
        if not args.input:
            raise UsageError("--labels goes with --input (datasets carry their own labels)")
        data["labels"] = existing(args.labels, "--labels")
    if args.dataset:
        ds = args.dataset
        # A name like "moons" is built in; anything that looks like a path must exist.
        looks_like_path = any(s in ds for s in "/\\") or Path(ds).suffix or Path(ds).exists()
        data["dataset"] = existing(ds, "--dataset") if looks_like_path else ds
    if args.samples is not None:
        if args.vnnlib:
            raise UsageError("--samples selects rows of --input or --dataset, not of --vnnlib")
        from workbench.data.datasets import parse_samples  # the loader's own syntax check

        try:
            parse_samples(args.samples)
        except ValueError as error:
            raise UsageError(f"--samples: {one_line(error)}") from None
        data["samples"] = args.samples.strip()
    return data


def model_label(model: str) -> str:
    """``net.onnx``, or ``moons_relu_mlp/model.pt`` when the file name alone says nothing."""
    p = Path(model)
    return f"{p.parent.name}/{p.name}" if p.stem == "model" else p.name


def method_params(method: registry.Method, args: argparse.Namespace) -> Any:
    given = {spec.name: getattr(args, dest) for dest, spec in args.param_dests
             if getattr(args, dest) is not None}
    flags = {spec.name: spec.flag for _, spec in args.param_dests}
    try:
        return params_from_dict(method.params, given)
    except ParamError as error:  # name the flag the user typed, not the field
        raise UsageError(f"{flags.get(error.param, error.param)}: {error.reason}") from None


def command_line(method: registry.Method, model: str, data: dict, params: Any) -> str:
    """The command that re-runs this exact run: every parameter spelled out, so a later change
    of a default does not change what the stored command means."""
    command = ["pinn", "certify"] if method.family == "pinn" else ["certify"]
    parts = ["workbench", *command, "--model", model, "--method", method.name]
    for key in DATA_KEYS:
        if key in data:
            parts += [f"--{key}", data[key]]
    for spec in param_specs(method.params):
        value = getattr(params, spec.name)
        if isinstance(value, bool):
            parts.append(spec.flag if value else "--no-" + spec.flag[2:])
        elif value is not None or spec.default is not None:
            text = ",".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)
            parts += [spec.flag, "none" if value is None else text]
    return shlex.join(parts)


# ---------------------------------------------------------------- running it

@contextlib.contextmanager
def ctrl_c_cancels(event: threading.Event) -> Iterator[None]:
    """First Ctrl-C asks the job to stop at its next check; a second one stops at once."""
    def handler(signum: int, frame: Any) -> None:
        if event.is_set():
            raise KeyboardInterrupt
        event.set()
        print("\nworkbench: cancelling (Ctrl-C again to stop at once)", file=sys.stderr)

    try:
        previous = signal.signal(signal.SIGINT, handler)
    except ValueError:  # not the main thread: KeyboardInterrupt cannot reach us anyway
        previous = None
    try:
        yield
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)


def reporter(bar: ProgressBar, store: RunStore, run_id: str) -> Any:
    last = [-float("inf")]

    def progress(fraction: float, message: str = "", detail: dict | None = None) -> None:
        bar(fraction, message)
        now = time.monotonic()
        if now - last[0] >= STORE_PROGRESS_INTERVAL:
            last[0] = now
            try:
                store.progress(run_id, fraction, message)
            except Exception:  # noqa: BLE001 - a busy database must not kill the run
                pass
    return progress


BOUND_VERDICTS = ("verified", "falsified", "unknown")
SMOOTHING_VERDICTS = ("certified", "abstain")  # the statuses of the smoothing family's samples


def verdicts(payload: dict, statuses: tuple[str, ...] = BOUND_VERDICTS) -> dict[str, int]:
    counts = dict.fromkeys(statuses, 0)
    for sample in payload.get("samples") or []:
        status = sample.get("status", statuses[-1]) if isinstance(sample, dict) else statuses[-1]
        counts[status] = counts.get(status, 0) + 1
    return counts


def cmd_certify(args: argparse.Namespace, make_job: Callable[..., Any]) -> int:
    """Run one certify job as a stored run; ``make_job(**fields)`` builds the job object."""
    method = registry.get_method(args.method)
    params = method_params(method, args)
    model = existing(args.model, "--model")
    data = data_args(args)
    code, payload = run_stored(args, method, params, model, data, make_job)
    if payload is None:
        return code
    counts = verdicts(payload, SMOOTHING_VERDICTS if method.family == "smoothing" else BOUND_VERDICTS)
    total_s = (payload.get("timing") or {}).get("total_s") or 0.0
    print(f"{method.title} on {model_label(model)}: {sum(counts.values())} samples -- "
          + ", ".join(f"{n} {k}" for k, n in counts.items()) + f"  ({format_duration(total_s)})")
    print(f"run {payload['run_id']}" + (f", result written to {args.out}" if args.out else ""))
    return 0


def run_stored(args: argparse.Namespace, method: registry.Method, params: Any, model: str, data: dict,
               make_job: Callable[..., Any]) -> tuple[int, dict | None]:
    """Create the run in the store, execute it with a progress bar and Ctrl-C cancelling, record
    the outcome and write ``--out``. Returns (exit code, payload or None when it did not finish)."""
    from workbench.jobs.environment import environment
    from workbench.runtime import Cancelled

    out = Path(args.out).expanduser() if args.out else None
    if out is not None and not out.parent.is_dir():
        raise UsageError(f"--out: folder {out.parent} does not exist")
    store = open_store(args)
    spec = {"method": method.name, "model": model, "data": data,
            "params": registry.params_to_dict(params)}
    run_id = store.create(method.name, method.family, spec,
                          command_line(method, model, data, params),
                          title=f"{method.title} · {model_label(model)}",
                          environment=environment(str(getattr(params, "device", "cpu"))))
    args.run_id = run_id
    job = make_job(model=model, method=method.name, params=params, **data)
    cancel = threading.Event()
    bar = ProgressBar(label=method.name)
    store.start(run_id)
    try:
        with ctrl_c_cancels(cancel):
            result = method.run(job, progress=reporter(bar, store, run_id),
                                cancelled=cancel.is_set)
        payload = {**result.payload, "run_id": run_id}
        bar.close("done")
        store.finish(run_id, payload, result.arrays, result.summary)
    except (Cancelled, KeyboardInterrupt):
        bar.close("cancelled")
        store.cancel(run_id)
        err(f"cancelled (run {run_id})")
        return 130, None
    except USER_ERRORS as error:
        bar.close()
        store.fail(run_id, one_line(error), traceback.format_exc())
        err(f"error: {one_line(error)}")
        return 2, None
    except Exception as error:  # noqa: BLE001 - any bug ends as a failed run, not a lost one
        bar.close()
        store.fail(run_id, f"{type(error).__name__}: {one_line(error)}", traceback.format_exc())
        err(f"internal error: {type(error).__name__}: {one_line(error)}")
        err(f"the traceback is stored with the run: workbench runs show {run_id}")
        if args.debug:
            traceback.print_exc()
        return 1, None
    if out is not None:
        write_json_atomic(out, payload)
    return 0, payload
