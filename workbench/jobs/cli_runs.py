"""``workbench runs list|show|delete`` and ``workbench methods``: reading what is stored."""
from __future__ import annotations

import argparse
from typing import Any

from workbench.jobs import registry
from workbench.jobs.cli_certify import metavar, param_help
from workbench.jobs.cli_common import open_store
from workbench.jobs.progressbar import format_duration, format_table, format_time
from workbench.jobs.registry import param_specs
from workbench.jobs.store import STATUSES, dumps


def add_runs_parser(sub: Any) -> None:
    """The ``runs`` subcommand and its actions, on the top-level subparsers ``sub``."""
    runs = sub.add_parser("runs", allow_abbrev=False, help="list, show or delete stored runs")
    runs_sub = runs.add_subparsers(dest="runs_command", required=True, metavar="ACTION")
    p = runs_sub.add_parser("list", allow_abbrev=False, help="stored runs, newest first")
    p.add_argument("--status", choices=STATUSES)
    p.add_argument("--method")
    p.add_argument("--limit", type=int, metavar="N")
    p.set_defaults(handler=cmd_runs_list)
    p = runs_sub.add_parser("show", allow_abbrev=False, help="everything about one run")
    p.add_argument("run_id", metavar="RUN_ID", help="a run id (or a unique prefix)")
    p.add_argument("--rows", type=int, default=20, metavar="N", help="sample rows to print")
    p.set_defaults(handler=cmd_runs_show)
    p = runs_sub.add_parser("delete", allow_abbrev=False, help="delete a run and its files")
    p.add_argument("run_id", metavar="RUN_ID")
    p.set_defaults(handler=cmd_runs_delete)


def headline(summary: dict, limit: int = 4) -> str:
    items = [(k, v) for k, v in summary.items() if isinstance(v, (int, float, str))][:limit]
    return " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in items)


def cmd_runs_list(args: argparse.Namespace) -> int:
    store = open_store(args)
    records = store.list(status=args.status, method=args.method, limit=args.limit)
    if not records:
        print(f"no runs in {store.workspace}")
        return 0
    print(format_table(["ID", "METHOD", "STATUS", "CREATED", "DURATION", "SUMMARY"],
                       [(r.id, r.method, r.status, format_time(r.created),
                         format_duration(r.duration), headline(r.summary)) for r in records]))
    return 0


def numbers(values: Any, n: int = 4) -> str:
    if not isinstance(values, list):
        return "-" if values is None else str(values)
    shown = ", ".join(f"{v:.4g}" if isinstance(v, float) else str(v) for v in values[:n])
    return f"[{shown}{', ...' if len(values) > n else ''}]"


def print_samples(payload: dict, rows: int) -> None:
    samples = [s for s in payload.get("samples") or [] if isinstance(s, dict)]
    # label/prediction appear when the job knows them (datasets), not for VNN-LIB cases
    extra = [k for k in ("label", "prediction") if samples and k in samples[0]]
    table = [(s.get("index"), *(s.get(k) for k in extra), s.get("status"), s.get("radius"),
              numbers(s.get("lower")), numbers(s.get("upper"))) for s in samples[:rows]]
    if table:
        print(format_table(["INDEX", *(k.upper() for k in extra), "STATUS", "RADIUS", "LOWER",
                            "UPPER"], table))
    if len(samples) > rows:
        print(f"... {len(samples) - rows} more samples (--rows N shows more)")


def cmd_runs_show(args: argparse.Namespace) -> int:
    store = open_store(args)
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
        print_samples(payload, args.rows)
    return 0


def cmd_runs_delete(args: argparse.Namespace) -> int:
    store = open_store(args)
    run_id = store.find(args.run_id)
    store.delete(run_id)
    print(f"deleted run {run_id}")
    return 0


def cmd_methods(args: argparse.Namespace) -> int:
    methods = registry.list_methods()
    if not methods:
        print("no methods registered")
    for m in methods:
        print(f"{m.name}  ({m.family}) {m.title}" + (f": {m.description}" if m.description else ""))
        for spec in param_specs(m.params):
            flag = (f"{spec.flag}/--no-{spec.flag[2:]}" if spec.type is bool
                    else f"{spec.flag} {metavar(spec)}")
            print(f"    {flag:<30} {param_help(spec)}")
    return 0
