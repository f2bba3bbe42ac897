"""The run store: one SQLite database per workspace, result files beside it.

Layout::

    WORKSPACE/runs.sqlite              every run's row (spec, status, timings, environment, summary)
    WORKSPACE/runs/<run_id>/result.json
    WORKSPACE/runs/<run_id>/arrays.npz

Durability rules: result files are written to temporary names, fsynced and ``os.replace``d, and
only then does one transaction flip the row to ``done`` -- so a kill at any moment leaves either
a finished run with its files or an unfinished row. Rows left ``queued``/``running`` by a process
that no longer exists are marked ``interrupted`` whenever a store is opened.
"""
from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import socket
import sqlite3
import threading
import time
import zipfile
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from workbench.jobs.environment import process_alive, process_token
from workbench.jobs.jsonio import dumps, fsync_dir, json_safe, write_json_atomic, write_npz_atomic
from workbench.jobs.schema import (ACTIVE, COLUMNS, DB_NAME, MIGRATIONS, STATUSES, CorruptRunError,
                                   RunRecord, RunStoreError, UnknownRunError, record_from_row)

# Re-exported: callers import these from here.
__all__ = ["ACTIVE", "DB_NAME", "MIGRATIONS", "STATUSES", "CorruptRunError", "RunRecord", "RunStore",
           "RunStoreError", "UnknownRunError", "dumps", "json_safe", "write_json_atomic"]


class RunStore:
    """Thread-safe handle on a workspace's runs; each thread gets its own SQLite connection."""

    def __init__(self, workspace: Path | str):
        self.workspace = Path(workspace).expanduser().resolve()
        self.workspace.mkdir(parents=True, exist_ok=True)
        self.path = self.workspace / DB_NAME
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._host = socket.gethostname()
        self._migrate()
        self.recover()

    # ------------------------------------------------------------------ plumbing
    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            # Autocommit mode; multi-statement writes use explicit BEGIN IMMEDIATE (see _tx).
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None,
                                   check_same_thread=False)
            conn.execute("PRAGMA busy_timeout = 30000")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = FULL")  # a finished run survives power loss too
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    @contextlib.contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def _migrate(self) -> None:
        with self._tx() as conn:
            conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            row = conn.execute("SELECT version FROM schema_version").fetchone()
            version = row[0] if row else 0
            if version > len(MIGRATIONS):
                raise RunStoreError(f"{self.path} has schema version {version}, newer than this "
                                    f"workbench understands ({len(MIGRATIONS)}); upgrade it")
            for script in MIGRATIONS[version:]:
                for statement in filter(str.strip, script.split(";")):
                    conn.execute(statement)
            conn.execute("DELETE FROM schema_version")
            conn.execute("INSERT INTO schema_version VALUES (?)", (len(MIGRATIONS),))

    def close(self) -> None:
        with self._lock:
            conns, self._all = self._all, []
        for conn in conns:
            conn.close()
        self._local = threading.local()

    def __enter__(self) -> "RunStore":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def run_dir(self, run_id: str) -> Path:
        return self.workspace / "runs" / run_id

    def _missing(self, run_id: str) -> UnknownRunError:
        return UnknownRunError(f"no run {run_id!r} in {self.workspace}")

    def _update(self, run_id: str, sql: str, args: tuple, guard: str = "") -> None:
        with self._tx() as conn:
            if conn.execute("SELECT 1 FROM runs WHERE id = ?", (run_id,)).fetchone() is None:
                raise self._missing(run_id)
            conn.execute(f"UPDATE runs SET {sql} WHERE id = ?{guard}", (*args, run_id))

    # ------------------------------------------------------------------ lifecycle
    def create(self, method: str, family: str, spec: dict, command: str | None = None, *,
               title: str = "", environment: dict | None = None) -> str:
        """A new ``queued`` run owned by this process; returns its id."""
        now = time.time()
        pid = os.getpid()
        for _ in range(20):  # the random suffix makes collisions rare; retry the odd one
            run_id = f"{time.strftime('%Y%m%d-%H%M%S', time.localtime(now))}-{secrets.token_hex(2)}"
            try:
                with self._tx() as conn:
                    conn.execute(
                        "INSERT INTO runs (id, method, family, title, status, spec, created, "
                        "environment, pid, host, proc_token, command) "
                        "VALUES (?, ?, ?, ?, 'queued', ?, ?, ?, ?, ?, ?, ?)",
                        (run_id, method, family, title or method, dumps(spec), now,
                         dumps(environment or {}), pid, self._host, process_token(pid), command))
                return run_id
            except sqlite3.IntegrityError:
                continue
        raise RunStoreError("could not allocate a unique run id")

    def start(self, run_id: str) -> None:
        pid = os.getpid()
        self._update(run_id, "status = 'running', started = ?, pid = ?, host = ?, proc_token = ?",
                     (time.time(), pid, self._host, process_token(pid)))

    def progress(self, run_id: str, fraction: float, message: str = "") -> None:
        """Cheap: one single-row UPDATE (callers throttle to a few per second)."""
        fraction = min(1.0, max(0.0, float(fraction))) if fraction == fraction else 0.0
        self._conn().execute("UPDATE runs SET progress = ?, message = ? WHERE id = ?",
                             (fraction, str(message), run_id))

    def finish(self, run_id: str, result_json: dict, arrays: dict[str, np.ndarray] | None,
               summary: dict) -> None:
        """Write the result files atomically, then mark the run done in one transaction."""
        self.get(run_id)  # an unknown id must not leave files behind
        folder = self.run_dir(run_id)
        folder.mkdir(parents=True, exist_ok=True)
        write_json_atomic(folder / "result.json", result_json)
        write_npz_atomic(folder / "arrays.npz", arrays or {})
        fsync_dir(folder)
        now = time.time()
        self._update(run_id, "status = 'done', finished = ?, duration = ? - started, "
                     "progress = 1, message = '', summary = ?, error = NULL",
                     (now, now, dumps(summary)))

    # A finished run stays finished: a late failure or Ctrl-C must not hide its result.
    def fail(self, run_id: str, message: str, details: str | None = None) -> None:
        now = time.time()
        self._update(run_id, "status = 'failed', finished = ?, duration = ? - started, "
                     "message = ?, error = ?", (now, now, str(message), details),
                     guard=" AND status != 'done'")

    def cancel(self, run_id: str) -> None:
        now = time.time()
        self._update(run_id, "status = 'cancelled', finished = ?, duration = ? - started, "
                     "message = 'cancelled by the user'", (now, now),
                     guard=" AND status != 'done'")

    def recover(self) -> list[str]:
        """Mark active runs of dead processes on this host ``interrupted``; returns their ids."""
        rows = self._conn().execute(
            "SELECT id, pid, proc_token FROM runs WHERE status IN ('queued', 'running') "
            "AND host = ?", (self._host,)).fetchall()
        dead = [rid for rid, pid, tok in rows if not process_alive(pid, tok)]
        for rid in dead:
            with self._tx() as conn:  # re-check the status: the run may have ended meanwhile
                conn.execute("UPDATE runs SET status = 'interrupted', message = ? WHERE id = ? "
                             "AND status IN ('queued', 'running')",
                             ("interrupted: its process ended without finishing it", rid))
        return dead

    # ------------------------------------------------------------------ queries
    def get(self, run_id: str) -> RunRecord:
        row = self._conn().execute(f"SELECT {COLUMNS} FROM runs WHERE id = ?",
                                   (run_id,)).fetchone()
        if row is None:
            raise self._missing(run_id)
        return record_from_row(row)

    def find(self, prefix: str) -> str:
        """The id of the one run whose id starts with ``prefix`` (ids are long to type)."""
        rows = self._conn().execute("SELECT id FROM runs WHERE id = ? OR substr(id, 1, ?) = ? "
                                    "ORDER BY id", (prefix, len(prefix), prefix)).fetchall()
        ids = [r[0] for r in rows]
        if prefix in ids:
            return prefix
        if len(ids) != 1:
            what = "no run" if not ids else f"{len(ids)} runs"
            raise UnknownRunError(f"{what} matching {prefix!r} in {self.workspace}")
        return ids[0]

    def list(self, status: str | None = None, method: str | None = None,
             limit: int | None = None) -> list[RunRecord]:
        """Runs, newest first."""
        if status is not None and status not in STATUSES:
            raise ValueError(f"unknown status {status!r} (one of {', '.join(STATUSES)})")
        where, args = [], []
        if status is not None:
            where.append("status = ?")
            args.append(status)
        if method is not None:
            where.append("method = ?")
            args.append(method)
        sql = f"SELECT {COLUMNS} FROM runs"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY created DESC, id DESC"
        if limit is not None:
            sql += " LIMIT ?"
            args.append(int(limit))
        return [record_from_row(r) for r in self._conn().execute(sql, args).fetchall()]

    def result(self, run_id: str) -> tuple[dict, dict[str, np.ndarray]]:
        """The stored result JSON and arrays of a finished run."""
        record = self.get(run_id)
        if record.status != "done":
            raise RunStoreError(f"run {run_id} has no result (status: {record.status})")
        folder = self.run_dir(run_id)
        try:
            payload = json.loads((folder / "result.json").read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise CorruptRunError(f"run {run_id}: result file {folder / 'result.json'} "
                                  f"is missing") from None
        except (ValueError, OSError) as err:
            raise CorruptRunError(f"run {run_id}: result file {folder / 'result.json'} is "
                                  f"damaged ({err})") from None
        path = folder / "arrays.npz"
        try:
            with np.load(path, allow_pickle=False) as npz:
                arrays = {k: npz[k] for k in npz.files}
        except FileNotFoundError:
            raise CorruptRunError(f"run {run_id}: array file {path} is missing") from None
        except (ValueError, OSError, EOFError, zipfile.BadZipFile, KeyError) as err:
            raise CorruptRunError(f"run {run_id}: array file {path} is damaged "
                                  f"({type(err).__name__}: {err})") from None
        return payload, arrays

    def delete(self, run_id: str) -> None:
        """Remove the row, then the files (a crash in between leaves only an orphan folder)."""
        with self._tx() as conn:
            row = conn.execute("SELECT status, pid, proc_token FROM runs WHERE id = ?",
                               (run_id,)).fetchone()
            if row is None:
                raise self._missing(run_id)
            if row[0] in ACTIVE and process_alive(row[1], row[2]):
                raise RunStoreError(f"run {run_id} is {row[0]}; cancel it before deleting it")
            conn.execute("DELETE FROM runs WHERE id = ?", (run_id,))
        shutil.rmtree(self.run_dir(run_id), ignore_errors=True)
