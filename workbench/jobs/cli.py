"""The ``workbench`` command: certify, runs list/show/delete, demo, methods.

Exit codes: 0 the run completed (whatever the verdicts), 2 a user error (one line on stderr, no
traceback), 1 an internal failure, 130 cancelled with Ctrl-C. The method flags of ``certify``
(``--eps``, ``--alpha-iters``, ...) are generated from the chosen method's parameter dataclass,
so the CLI and the GUI validate parameters the same way (``params_from_dict``).
"""
from __future__ import annotations

import argparse
import contextlib
import os
import shlex
import signal
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any, Iterator, Sequence

from workbench.jobs import registry
from workbench.jobs.progressbar import ProgressBar, format_duration, format_table, format_time
from workbench.jobs.registry import ParamError, ParamSpec, param_specs, params_from_dict
from workbench.jobs.store import STATUSES, RunStore, RunStoreError, dumps, write_json_atomic

CERTIFY_FAMILY = "bounds"  # the methods `certify` runs; other families take other job specs
USER_ERRORS = (ValueError, FileNotFoundError, IsADirectoryError, NotADirectoryError,
               PermissionError)
DATA_KEYS = ("vnnlib", "input", "labels", "dataset", "samples")
FIXED_FLAGS = {"--model", "--method", "--out", "--help", "-h"} | {f"--{k}" for k in DATA_KEYS}
DEMO_MODEL = "moons_relu_mlp"
STORE_PROGRESS_INTERVAL = 0.5  # seconds between progress writes to the database


class UsageError(ValueError):
    """A mistake in the command line; reported as one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        # argparse would print the whole usage block; the contract is one line.
        raise UsageError(f"{message} (see '{self.prog} --help')")


def _err(message: str) -> None:
    print(f"workbench: {message}", file=sys.stderr)


def _one_line(err: BaseException) -> str:
    if isinstance(err, OSError) and err.filename is not None and err.strerror:
        return f"{err.strerror}: {err.filename}"
    text = str(err).strip().splitlines()
    return text[0] if text else type(err).__name__


def certify_job(**fields: Any) -> Any:
    """The job object a certify method runs (tests replace this with a stand-in)."""
    from workbench.jobs.certify import CertifyJob

    return CertifyJob(**fields)


def _store(args: argparse.Namespace) -> RunStore:
    from workbench.jobs.environment import default_workspace

    return RunStore(Path(args.workspace) if args.workspace else default_workspace())


# ---------------------------------------------------------------- parser

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


def _metavar(spec: ParamSpec) -> str:
    if spec.choices:
        return "{" + ",".join(map(str, spec.choices)) + "}"
    return spec.name.upper()


def _add_param_flags(parser: argparse.ArgumentParser, specs: list[ParamSpec]) -> list[tuple]:
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
            group.add_argument(spec.flag, dest=dest, default=None, metavar=_metavar(spec),
                               help=helptext)
        dests.append((dest, spec))
    return dests


def _scan(argv: Sequence[str]) -> tuple[str | None, str | None]:
    """The subcommand and the ``--method`` value, found before parsing: the certify flags depend
    on the method, so they must exist before argparse sees the arguments."""
    i, command = 0, None
    while i < len(argv):
        token = argv[i]
        if token == "--workspace":
            i += 2
            continue
        if not token.startswith("-"):
            command = token
            break
        i += 1
    rest = list(argv[i + 1:])
    for j, token in enumerate(rest):
        if token == "--method" and j + 1 < len(rest):
            return command, rest[j + 1]
        if token.startswith("--method="):
            return command, token.split("=", 1)[1]
    return command, None


def _certify_specs(method_name: str | None) -> list[ParamSpec]:
    methods = registry.list_methods(CERTIFY_FAMILY)
    chosen = [m for m in methods if m.name == method_name]
    if chosen:
        return param_specs(chosen[0].params)
    # No (valid) method yet: offer the union, so `certify --help` still documents the flags.
    seen: dict[str, ParamSpec] = {}
    for m in methods:
        for spec in param_specs(m.params):
            seen.setdefault(spec.flag, spec)
    return list(seen.values())


def build_parser(argv: Sequence[str] = ()) -> argparse.ArgumentParser:
    parser = _Parser(prog="workbench", allow_abbrev=False,
                     description="Certification workbench: sound bounds, verdicts and stored runs.")
    parser.add_argument("--workspace", metavar="DIR",
                        help="run store folder (default: $WORKBENCH_WORKSPACE or the user data "
                             "directory)")
    parser.add_argument("--debug", action="store_true", help="print tracebacks of failures")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    command, method_name = _scan(argv)

    cert = sub.add_parser("certify", allow_abbrev=False, help="certify a network")
    if command == "certify":  # the registry (and torch) is loaded only when needed
        names = [m.name for m in registry.list_methods(CERTIFY_FAMILY)]
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
        cert.set_defaults(handler=_cmd_certify,
                          param_dests=_add_param_flags(cert, _certify_specs(method_name)))

    runs = sub.add_parser("runs", allow_abbrev=False, help="list, show or delete stored runs")
    runs_sub = runs.add_subparsers(dest="runs_command", required=True, metavar="ACTION")
    p = runs_sub.add_parser("list", allow_abbrev=False, help="stored runs, newest first")
    p.add_argument("--status", choices=STATUSES)
    p.add_argument("--method")
    p.add_argument("--limit", type=int, metavar="N")
    p.set_defaults(handler=_cmd_runs_list)
    p = runs_sub.add_parser("show", allow_abbrev=False, help="everything about one run")
    p.add_argument("run_id", metavar="RUN_ID", help="a run id (or a unique prefix)")
    p.add_argument("--rows", type=int, default=20, metavar="N", help="sample rows to print")
    p.set_defaults(handler=_cmd_runs_show)
    p = runs_sub.add_parser("delete", allow_abbrev=False, help="delete a run and its files")
    p.add_argument("run_id", metavar="RUN_ID")
    p.set_defaults(handler=_cmd_runs_delete)

    sub.add_parser("demo", allow_abbrev=False, help="certify a bundled sample model (CROWN)"
                   ).set_defaults(handler=_cmd_demo)
    sub.add_parser("methods", allow_abbrev=False, help="registered methods and parameters"
                   ).set_defaults(handler=_cmd_methods)
    return parser


# ---------------------------------------------------------------- certify

def _existing(path: str, flag: str) -> str:
    p = Path(path).expanduser()
    if not p.exists():
        raise UsageError(f"{flag}: no such file: {path}")
    return str(p.resolve())


def _data_args(args: argparse.Namespace) -> dict[str, str]:
    """The data selection, validated, with absolute paths (the stored spec must re-run anywhere)."""
    data: dict[str, str] = {}
    for key in ("vnnlib", "input"):
        if getattr(args, key):
            data[key] = _existing(getattr(args, key), f"--{key}")
    if args.labels:
        if not args.input:
            raise UsageError("--labels goes with --input (datasets carry their own labels)")
        data["labels"] = _existing(args.labels, "--labels")
    if args.dataset:
        ds = args.dataset
        # A name like "moons" is built in; anything that looks like a path must exist.
        looks_like_path = any(s in ds for s in "/\\") or Path(ds).suffix or Path(ds).exists()
        data["dataset"] = _existing(ds, "--dataset") if looks_like_path else ds
    if args.samples is not None:
        if args.vnnlib:
            raise UsageError("--samples selects rows of --input or --dataset, not of --vnnlib")
        from workbench.data.datasets import parse_samples  # the loader's own syntax check

        try:
            parse_samples(args.samples)
        except ValueError as err:
            raise UsageError(f"--samples: {_one_line(err)}") from None
        data["samples"] = args.samples.strip()
    return data


def _model_label(model: str) -> str:
    """``net.onnx``, or ``moons_relu_mlp/model.pt`` when the file name alone says nothing."""
    p = Path(model)
    return f"{p.parent.name}/{p.name}" if p.stem == "model" else p.name


def _params(method: registry.Method, args: argparse.Namespace) -> Any:
    given = {spec.name: getattr(args, dest) for dest, spec in args.param_dests
             if getattr(args, dest) is not None}
    flags = {spec.name: spec.flag for _, spec in args.param_dests}
    try:
        return params_from_dict(method.params, given)
    except ParamError as err:  # name the flag the user typed, not the field
        raise UsageError(f"{flags.get(err.param, err.param)}: {err.reason}") from None


def _command_line(method: registry.Method, model: str, data: dict, params: Any) -> str:
    """The command that re-runs this exact run: every parameter spelled out, so a later change
    of a default does not change what the stored command means."""
    parts = ["workbench", "certify", "--model", model, "--method", method.name]
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


@contextlib.contextmanager
def _ctrl_c_cancels(event: threading.Event) -> Iterator[None]:
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


def _reporter(bar: ProgressBar, store: RunStore, run_id: str) -> Any:
    last = [-float("inf")]

    def progress(fraction: float, message: str = "") -> None:
        bar(fraction, message)
        now = time.monotonic()
        if now - last[0] >= STORE_PROGRESS_INTERVAL:
            last[0] = now
            try:
                store.progress(run_id, fraction, message)
            except Exception:  # noqa: BLE001 - a busy database must not kill the run
                pass
    return progress


def _verdicts(payload: dict) -> dict[str, int]:
    counts = {"verified": 0, "falsified": 0, "unknown": 0}
    for sample in payload.get("samples") or []:
        status = sample.get("status", "unknown") if isinstance(sample, dict) else "unknown"
        counts[status] = counts.get(status, 0) + 1
    return counts


def _cmd_certify(args: argparse.Namespace) -> int:
    from workbench.jobs.environment import environment
    from workbench.runtime import Cancelled

    method = registry.get_method(args.method)
    params = _params(method, args)
    model = _existing(args.model, "--model")
    data = _data_args(args)
    out = Path(args.out).expanduser() if args.out else None
    if out is not None and not out.parent.is_dir():
        raise UsageError(f"--out: folder {out.parent} does not exist")
    store = _store(args)
    spec = {"method": method.name, "model": model, "data": data,
            "params": registry.params_to_dict(params)}
    run_id = store.create(method.name, method.family, spec,
                          _command_line(method, model, data, params),
                          title=f"{method.title} · {_model_label(model)}",
                          environment=environment(str(getattr(params, "device", "cpu"))))
    args.run_id = run_id
    job = certify_job(model=model, method=method.name, params=params, **data)
    cancel = threading.Event()
    bar = ProgressBar(label=method.name)
    store.start(run_id)
    started = time.perf_counter()
    try:
        with _ctrl_c_cancels(cancel):
            result = method.run(job, progress=_reporter(bar, store, run_id),
                                cancelled=cancel.is_set)
        payload = {**result.payload, "run_id": run_id}
        bar.close("done")
        store.finish(run_id, payload, result.arrays, result.summary)
    except (Cancelled, KeyboardInterrupt):
        bar.close("cancelled")
        store.cancel(run_id)
        _err(f"cancelled (run {run_id})")
        return 130
    except USER_ERRORS as err:
        bar.close()
        store.fail(run_id, _one_line(err), traceback.format_exc())
        _err(f"error: {_one_line(err)}")
        return 2
    except Exception as err:  # noqa: BLE001 - any bug ends as a failed run, not a lost one
        bar.close()
        store.fail(run_id, f"{type(err).__name__}: {_one_line(err)}", traceback.format_exc())
        _err(f"internal error: {type(err).__name__}: {_one_line(err)}")
        _err(f"the traceback is stored with the run: workbench runs show {run_id}")
        if args.debug:
            traceback.print_exc()
        return 1
    if out is not None:
        write_json_atomic(out, payload)
    counts = _verdicts(payload)
    total_s = (payload.get("timing") or {}).get("total_s") or time.perf_counter() - started
    print(f"{method.title} on {_model_label(model)}: {sum(counts.values())} samples -- "
          + ", ".join(f"{n} {k}" for k, n in counts.items()) + f"  ({format_duration(total_s)})")
    print(f"run {run_id}" + (f", result written to {out}" if out else ""))
    return 0


# ---------------------------------------------------------------- runs, demo, methods

def _headline(summary: dict, limit: int = 4) -> str:
    items = [(k, v) for k, v in summary.items() if isinstance(v, (int, float, str))][:limit]
    return " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in items)


def _cmd_runs_list(args: argparse.Namespace) -> int:
    store = _store(args)
    records = store.list(status=args.status, method=args.method, limit=args.limit)
    if not records:
        print(f"no runs in {store.workspace}")
        return 0
    print(format_table(["ID", "METHOD", "STATUS", "CREATED", "DURATION", "SUMMARY"],
                       [(r.id, r.method, r.status, format_time(r.created),
                         format_duration(r.duration), _headline(r.summary)) for r in records]))
    return 0


def _numbers(values: Any, n: int = 4) -> str:
    if not isinstance(values, list):
        return "-" if values is None else str(values)
    shown = ", ".join(f"{v:.4g}" if isinstance(v, float) else str(v) for v in values[:n])
    return f"[{shown}{', ...' if len(values) > n else ''}]"


def _print_samples(payload: dict, rows: int) -> None:
    samples = [s for s in payload.get("samples") or [] if isinstance(s, dict)]
    # label/prediction appear when the job knows them (datasets), not for VNN-LIB cases
    extra = [k for k in ("label", "prediction") if samples and k in samples[0]]
    table = [(s.get("index"), *(s.get(k) for k in extra), s.get("status"), s.get("radius"),
              _numbers(s.get("lower")), _numbers(s.get("upper"))) for s in samples[:rows]]
    if table:
        print(format_table(["INDEX", *(k.upper() for k in extra), "STATUS", "RADIUS", "LOWER",
                            "UPPER"], table))
    if len(samples) > rows:
        print(f"... {len(samples) - rows} more samples (--rows N shows more)")


def _cmd_runs_show(args: argparse.Namespace) -> int:
    store = _store(args)
    r = store.get(store.find(args.run_id))
    fields = [("run", r.id), ("title", r.title), ("method", f"{r.method} ({r.family})"),
              ("status", r.status), ("progress", f"{r.progress:.0%}"), ("message", r.message),
              ("created", format_time(r.created)), ("started", format_time(r.started)),
              ("finished", format_time(r.finished)), ("duration", format_duration(r.duration)),
              ("process", f"{r.pid} on {r.host}"), ("command", r.command)]
    for name, value in fields:
        print(f"{name:<12}{'-' if value in (None, '') else value}")
    for name, mapping in (("spec", r.spec), ("summary", r.summary),
                          ("environment", r.environment)):
        print(f"{name}:" + ("" if mapping else " -"))
        for key, value in mapping.items():
            print(f"  {key:<14}{dumps(value) if isinstance(value, (dict, list)) else value}")
    if r.error:
        print("error:\n" + r.error.rstrip())
    if r.status == "done":
        payload, arrays = store.result(r.id)  # CorruptRunError: one line, exit 1
        print("arrays:  " + (", ".join(f"{k} {a.dtype}{list(a.shape)}" for k, a in arrays.items())
                             or "-"))
        _print_samples(payload, args.rows)
    return 0


def _cmd_runs_delete(args: argparse.Namespace) -> int:
    store = _store(args)
    run_id = store.find(args.run_id)
    store.delete(run_id)
    print(f"deleted run {run_id}")
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from workbench.data.samples import list_sample_models, sample_models_dir

    entry = next((m for m in list_sample_models() if m["name"] == DEMO_MODEL), None)
    if entry is None:
        raise RunStoreError(f"the sample model {DEMO_MODEL} is missing from "
                            f"{sample_models_dir()}; reinstall the workbench")
    argv = ["certify", "--model", str(entry["weights"]), "--method", "crown", "--dataset", "moons",
            "--samples", "0:20", "--eps", "0.05"]
    if args.workspace:
        argv = ["--workspace", args.workspace, *argv]
    print("demo: workbench " + shlex.join(argv))
    cert_args = build_parser(argv).parse_args(argv)
    cert_args.debug = args.debug
    code = _cmd_certify(cert_args)
    if code == 0:
        payload, _ = _store(args).result(cert_args.run_id)
        _print_samples(payload, rows=20)
    return code


def _cmd_methods(args: argparse.Namespace) -> int:
    methods = registry.list_methods()
    if not methods:
        print("no methods registered")
    for m in methods:
        print(f"{m.name}  ({m.family}) {m.title}" + (f": {m.description}" if m.description else ""))
        for spec in param_specs(m.params):
            flag = (f"{spec.flag}/--no-{spec.flag[2:]}" if spec.type is bool
                    else f"{spec.flag} {_metavar(spec)}")
            print(f"    {flag:<30}{param_help(spec)}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    try:
        args = build_parser(argv).parse_args(argv)
        return int(args.handler(args) or 0)
    except SystemExit as exc:  # --help and --version exit through argparse
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    except KeyboardInterrupt:
        _err("interrupted")
        return 130
    except BrokenPipeError:  # `workbench runs list | head`: the reader left, nothing to report
        with contextlib.suppress(Exception):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except USER_ERRORS as err:
        _err(f"error: {_one_line(err)}")
        return 2
    except RunStoreError as err:
        _err(f"error: {_one_line(err)}")
        return 1
    except Exception as err:  # noqa: BLE001
        _err(f"internal error: {type(err).__name__}: {_one_line(err)}"
             + ("" if debug else " (run with --debug for the traceback)"))
        if debug:
            traceback.print_exc()
        return 1
