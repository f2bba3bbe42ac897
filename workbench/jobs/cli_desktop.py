"""The commands that need Qt: the window (``workbench``, ``workbench gui``) and PDF reports
(``workbench report``). Qt is imported only when one of them runs, so the rest of the CLI works
without PySide6."""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from workbench.jobs.cli_common import UsageError, err, one_line, open_store


def add_desktop_parsers(sub: Any) -> None:
    """The ``gui`` and ``report`` subcommands, on the top-level subparsers ``sub``."""
    sub.add_parser("gui", allow_abbrev=False,
                   help="open the window (the same as 'workbench' without a command)"
                   ).set_defaults(handler=cmd_gui)
    p = sub.add_parser("report", allow_abbrev=False, help="write a PDF report of stored runs")
    p.add_argument("run_ids", nargs="+", metavar="RUN_ID", help="run ids (or unique prefixes)")
    p.add_argument("-o", "--out", required=True, metavar="FILE.pdf", help="the PDF to write")
    p.set_defaults(handler=cmd_report)


def _needs_qt(what: str, error: ImportError) -> int:
    err(f"error: {what} needs PySide6 ({one_line(error)})")
    return 2


def cmd_gui(args: argparse.Namespace) -> int:
    """Open the window on ``--workspace`` (or the default workspace); returns its exit code."""
    try:
        from workbench.gui import app
    except ImportError as error:
        return _needs_qt("the window", error)
    if _no_display():  # Qt would abort the process with a page of plugin messages
        err("error: the window needs a display (neither DISPLAY nor WAYLAND_DISPLAY is set); "
            "the other commands work without one: workbench --help")
        return 2
    return int(app.main(["--workspace", args.workspace] if args.workspace else []) or 0)


def _no_display() -> bool:
    """On Linux, no X11 or Wayland display and no Qt platform chosen (e.g. offscreen)."""
    if not sys.platform.startswith("linux") or os.environ.get("QT_QPA_PLATFORM"):
        return False
    return not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def cmd_report(args: argparse.Namespace) -> int:
    """One PDF for the given runs; an unknown or ambiguous id is a user error (exit 2)."""
    out = Path(args.out).expanduser()
    if out.is_dir():
        raise UsageError(f"--out: {args.out} is a folder; give a file name such as report.pdf")
    if not out.parent.is_dir():
        raise UsageError(f"--out: folder {out.parent} does not exist")
    store = open_store(args)
    run_ids = list(dict.fromkeys(store.find(prefix) for prefix in args.run_ids))
    try:
        import workbench.report.pdf  # noqa: F401 - Qt: without it, one line here, not a traceback
    except ImportError as error:
        return _needs_qt("a report", error)
    from workbench.report import write_report

    path = write_report(store, run_ids, out)
    print(path)
    return 0
