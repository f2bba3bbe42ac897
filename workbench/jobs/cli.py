"""The ``workbench`` command: the window, certify, runs list/show/delete, report, demo, methods.

``workbench`` without a subcommand opens the window (as ``workbench gui`` does). Exit codes:
0 the run completed (whatever the verdicts), 2 a user error (one line on stderr, no traceback),
1 an internal failure, 130 cancelled with Ctrl-C. The subcommands live beside this module:
``cli_certify`` (certify and its method flags), ``cli_runs`` (runs, methods), ``cli_desktop``
(gui, report); ``cli_common`` holds what they share.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import shlex
import sys
import traceback
from typing import Any, Sequence

from workbench.allocator import keep_freed_memory
from workbench.jobs import cli_certify
from workbench.jobs.cli_certify import command_line as _command_line  # the GUI's names
from workbench.jobs.cli_certify import model_label as _model_label
from workbench.jobs.cli_certify import STORE_PROGRESS_INTERVAL, param_help
from workbench.jobs.cli_common import (CERTIFY_FAMILIES, CERTIFY_FAMILY, DATA_KEYS, FIXED_FLAGS, USER_ERRORS,
                                       Parser, UsageError, err, one_line, open_store)
from workbench.jobs.cli_desktop import add_desktop_parsers, cmd_gui
from workbench.jobs.cli_pinn import add_pinn_parser, cmd_pinn_certify
from workbench.jobs.cli_runs import add_runs_parser, cmd_methods, print_samples
from workbench.jobs.store import RunStoreError

DEMO_MODEL = "moons_relu_mlp"

__all__ = ["CERTIFY_FAMILIES", "CERTIFY_FAMILY", "DATA_KEYS", "DEMO_MODEL", "FIXED_FLAGS", "STORE_PROGRESS_INTERVAL",
           "USER_ERRORS", "UsageError", "build_parser", "certify_job", "main", "param_help",
           "_command_line", "_model_label"]


def certify_job(**fields: Any) -> Any:
    """The job object a certify method runs (tests replace this with a stand-in)."""
    from workbench.jobs.certify import CertifyJob

    return CertifyJob(**fields)


def _cmd_certify(args: argparse.Namespace) -> int:
    # `certify_job` is looked up when the command runs, so replacing it here takes effect.
    return cli_certify.cmd_certify(args, certify_job)


def _cmd_pinn_certify(args: argparse.Namespace) -> int:
    return cmd_pinn_certify(args, certify_job)


# ---------------------------------------------------------------- parser

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


def build_parser(argv: Sequence[str] = ()) -> argparse.ArgumentParser:
    parser = Parser(prog="workbench", allow_abbrev=False,
                    description="Certification workbench: sound bounds, verdicts and stored runs. "
                                "Without a command, opens the window.")
    parser.add_argument("--workspace", metavar="DIR",
                        help="run store folder (default: $WORKBENCH_WORKSPACE or the user data "
                             "directory)")
    parser.add_argument("--debug", action="store_true", help="print tracebacks of failures")
    parser.set_defaults(handler=cmd_gui)  # no command: the window
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    command, method_name = _scan(argv)

    cert = sub.add_parser("certify", allow_abbrev=False, help="certify a network")
    cert.set_defaults(handler=_cmd_certify)
    if command == "certify":  # the registry (and torch) is loaded only when needed
        cli_certify.add_certify_arguments(cert, method_name)
    add_runs_parser(sub)
    sub.add_parser("demo", allow_abbrev=False, help="certify a bundled sample model (CROWN)"
                   ).set_defaults(handler=_cmd_demo)
    sub.add_parser("methods", allow_abbrev=False, help="registered methods and parameters"
                   ).set_defaults(handler=cmd_methods)
    add_pinn_parser(sub, command, method_name, _cmd_pinn_certify)
    add_desktop_parsers(sub)
    return parser


# ---------------------------------------------------------------- demo

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
        payload, _ = open_store(args).result(cert_args.run_id)
        print_samples(payload, rows=20)
    return code


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    keep_freed_memory()
    try:
        args = build_parser(argv).parse_args(argv)
        return int(args.handler(args) or 0)
    except SystemExit as exc:  # --help and --version exit through argparse
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    except KeyboardInterrupt:
        err("interrupted")
        return 130
    except BrokenPipeError:  # `workbench runs list | head`: the reader left, nothing to report
        with contextlib.suppress(Exception):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except USER_ERRORS as error:
        err(f"error: {one_line(error)}")
        return 2
    except RunStoreError as error:
        err(f"error: {one_line(error)}")
        return 1
    except Exception as error:  # noqa: BLE001
        err(f"internal error: {type(error).__name__}: {one_line(error)}"
            + ("" if debug else " (run with --debug for the traceback)"))
        if debug:
            traceback.print_exc()
        return 1
