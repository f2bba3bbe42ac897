"""What every ``workbench`` subcommand shares: the error contract and the run store to use.

Exit codes: 0 success, 2 a user error (one line on stderr, no traceback), 1 an internal
failure, 130 cancelled with Ctrl-C. A user error is a ``UsageError`` or any of ``USER_ERRORS``.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from workbench.jobs.store import RunStore

CERTIFY_FAMILY = "bounds"  # the methods `certify` runs on datasets, inputs and VNN-LIB properties
CERTIFY_FAMILIES = (CERTIFY_FAMILY, "smoothing")  # `workbench pinn certify` runs the "pinn" family
USER_ERRORS = (ValueError, FileNotFoundError, IsADirectoryError, NotADirectoryError,
               PermissionError)
DATA_KEYS = ("vnnlib", "input", "labels", "dataset", "samples", "pde")
FIXED_FLAGS = {"--model", "--method", "--out", "--help", "-h"} | {f"--{k}" for k in DATA_KEYS}


def certify_methods() -> list:
    """The registered methods ``workbench certify`` offers."""
    from workbench.jobs import registry

    return [m for m in registry.list_methods() if m.family in CERTIFY_FAMILIES]


class UsageError(ValueError):
    """A mistake in the command line; reported as one line, exit code 2."""


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        # argparse would print the whole usage block; the contract is one line.
        raise UsageError(f"{message} (see '{self.prog} --help')")


def err(message: str) -> None:
    print(f"workbench: {message}", file=sys.stderr)


def one_line(error: BaseException) -> str:
    if isinstance(error, OSError) and error.filename is not None and error.strerror:
        return f"{error.strerror}: {error.filename}"
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


def open_store(args: argparse.Namespace) -> RunStore:
    """The run store of ``--workspace``, else of the default workspace."""
    from workbench.jobs.environment import default_workspace

    return RunStore(Path(args.workspace) if args.workspace else default_workspace())
