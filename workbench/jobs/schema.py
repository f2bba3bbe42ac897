"""The runs table: its schema migrations, a row as a `RunRecord`, and the run store's errors."""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass

STATUSES = ("queued", "running", "done", "failed", "cancelled", "interrupted")
ACTIVE = ("queued", "running")
DB_NAME = "runs.sqlite"

# Each entry upgrades the schema by one version; never edit one that has shipped, append.
MIGRATIONS = [
    """
    CREATE TABLE runs (
        id TEXT PRIMARY KEY, method TEXT NOT NULL, family TEXT NOT NULL,
        title TEXT NOT NULL DEFAULT '', status TEXT NOT NULL, spec TEXT NOT NULL,
        created REAL NOT NULL, started REAL, finished REAL, duration REAL,
        progress REAL NOT NULL DEFAULT 0, message TEXT NOT NULL DEFAULT '',
        summary TEXT, error TEXT, environment TEXT,
        pid INTEGER, host TEXT, proc_token TEXT, command TEXT);
    CREATE INDEX runs_created ON runs(created DESC);
    CREATE INDEX runs_status ON runs(status);
    """,
]


class RunStoreError(Exception):
    """A run store problem with a one-line explanation."""


class UnknownRunError(RunStoreError, ValueError):
    """No run with that id (a user mistake, hence also a ValueError)."""


class CorruptRunError(RunStoreError):
    """A finished run whose result files are missing or damaged."""


@dataclass
class RunRecord:
    id: str
    method: str
    family: str
    title: str
    status: str
    spec: dict
    created: float  # Unix time, like started and finished
    started: float | None
    finished: float | None
    duration: float | None  # seconds
    progress: float
    message: str
    summary: dict
    error: str | None  # traceback text of a failed run
    environment: dict
    pid: int | None
    host: str | None
    command: str | None  # the command line that re-runs it


FIELDS = [f.name for f in dataclasses.fields(RunRecord)]
COLUMNS = ", ".join(FIELDS)


def record_from_row(row: tuple) -> RunRecord:
    """A ``SELECT {COLUMNS}`` row as a RunRecord (JSON columns decoded)."""
    values = dict(zip(FIELDS, row))
    for key in ("spec", "summary", "environment"):
        values[key] = json.loads(values[key] or "{}")
    return RunRecord(**values)
