"""Crash-safe results store: one SQLite row per finished run, committed the moment it ends.

SQLite's journal makes each commit atomic, so killing the process (Ctrl-C, ``kill``, even
``kill -9``) loses at most the runs in progress, never a saved one. Only the driver process
writes it; ``theoropt report`` opens it read-only, leaving no file next to it. A file that
SQLite cannot open, read or write (damaged, truncated, a folder, read-only, or next to
read-only ``-wal``/``-shm`` files) raises :class:`StoreError` with the reason.
"""

from __future__ import annotations

import json
import math
import os
import sqlite3
import urllib.parse
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

from theoropt.bench.experiment import RunResult, RunSpec, StoredRun, canonical_json
from theoropt.errors import ExperimentError

STORE_NAME = "results.sqlite"
"""The store's file name in an output folder."""

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    key TEXT PRIMARY KEY,
    experiment TEXT NOT NULL,
    mode TEXT NOT NULL,
    stage TEXT NOT NULL,
    method TEXT NOT NULL,
    seed INTEGER NOT NULL,
    config TEXT NOT NULL,
    metrics TEXT NOT NULL,
    curves TEXT NOT NULL,
    wall_time REAL NOT NULL,
    versions TEXT NOT NULL,
    finished_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS invocations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    command TEXT NOT NULL,
    started_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS failures (
    key TEXT PRIMARY KEY,
    experiment TEXT NOT NULL,
    mode TEXT NOT NULL,
    stage TEXT NOT NULL,
    method TEXT NOT NULL,
    seed INTEGER NOT NULL,
    config TEXT NOT NULL,
    reason TEXT NOT NULL,
    wall_time REAL NOT NULL,
    failed_at TEXT NOT NULL
);
"""
RUN_COLUMNS = (
    "key",
    "experiment",
    "mode",
    "stage",
    "method",
    "seed",
    "config",
    "metrics",
    "curves",
    "wall_time",
    "versions",
    "finished_at",
)


class StoreError(ExperimentError):
    """The results file cannot be opened, read or written; the message says why."""


def _explain(path: Path, error: Exception) -> str:
    text = str(error)
    if "readonly" in text or "read-only" in text:
        return f"cannot write to {path}: the file or its folder is read-only ({text})"
    if isinstance(error, sqlite3.OperationalError) and "unable to open" in text:
        return f"cannot open {path}: {text}"
    return (
        f"{path} is not a readable theoropt results file ({text}): it is damaged, truncated or "
        "another kind of file; move it aside to start a new one"
    )


@contextmanager
def _store_errors(path: Path) -> Iterator[None]:
    """Turn SQLite's (and bad rows') exceptions into one :class:`StoreError` naming the file."""
    try:
        yield
    except (sqlite3.Error, ValueError) as error:
        raise StoreError(_explain(path, error)) from None


Method = TypeVar("Method", bound=Callable[..., Any])


def _guarded(method: Method) -> Method:
    @wraps(method)
    def guarded(self: ResultsStore, *args: Any, **kwargs: Any) -> Any:
        with _store_errors(self.path):
            return method(self, *args, **kwargs)

    return guarded  # type: ignore[return-value]


def _companions(path: Path) -> tuple[Path, Path]:
    """SQLite's WAL journal and shared-memory index next to the store (``-wal``, ``-shm``)."""
    return path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")


def _connect_read_only(path: Path) -> sqlite3.Connection:
    """A read-only connection, also in a read-only folder, that leaves no file behind.

    SQLite's WAL mode needs a ``-shm`` file next to the database even to read. Opening a store
    this process cannot write, SQLite would create ``-shm`` and ``-wal`` with the store's
    read-only mode and leave them there, where they block every later writer (even once the
    store itself is made writable). So such a store, and one in a folder where ``-shm`` cannot
    be created, is opened as immutable when no ``-wal`` file exists (no writer has it open).
    """
    uri = f"file:{urllib.parse.quote(str(path.resolve()))}?mode=ro"
    journal, _ = _companions(path)
    if not journal.exists() and path.exists() and not os.access(path, os.W_OK):
        return sqlite3.connect(uri + "&immutable=1", uri=True)
    connection = sqlite3.connect(uri, uri=True)
    try:
        connection.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return connection
    except sqlite3.OperationalError:
        connection.close()
        if journal.exists() and journal.stat().st_size > 0:
            raise StoreError(
                f"cannot read {path}: its folder is read-only and {journal.name} holds runs not "
                "yet merged into it; copy the folder somewhere writable and report from there"
            ) from None
        return sqlite3.connect(uri + "&immutable=1", uri=True)


def _check_writable(path: Path) -> None:
    """Before SQLite opens the store for writing, name the file that would refuse the write:
    the store itself or a read-only ``-wal``/``-shm`` left next to it (by another user or an
    older theoropt reading the store) — SQLite's own message blames "a readonly database"."""
    if path.exists() and not os.access(path, os.W_OK):
        raise StoreError(f"cannot write to {path}: the file is read-only")
    blocking = [p for p in _companions(path) if p.exists() and not os.access(p, os.W_OK)]
    if blocking:
        names = " ".join(str(p) for p in blocking)
        raise StoreError(
            f"cannot write to {path}: SQLite's journal file(s) next to it are read-only "
            f"(left by a process that could only read the store); make them writable: "
            f"chmod u+w {names}"
        )


def _as_float(value: Any, where: str) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{where} must be a number, got {type(value).__name__}") from None


def _check_result(result: RunResult) -> tuple[dict[str, float], dict[str, list[float]]]:
    """Plain-float copies of the metrics and curves; curves must be 1-D sequences of numbers."""
    metrics = {str(k): _as_float(v, f"metric {k!r}") for k, v in result.metrics.items()}
    curves: dict[str, list[float]] = {}
    for name, values in result.curves.items():
        curves[str(name)] = [_as_float(v, f"curve {name!r} entry") for v in values]
    return metrics, curves


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class ResultsStore:
    """The SQLite file of one output folder (``results.sqlite``); ``read_only`` for reports."""

    def __init__(self, path: Path, *, read_only: bool = False) -> None:
        self.path = Path(path)
        if self.path.is_dir():
            raise StoreError(f"{self.path} is a folder, not a theoropt results file")
        with _store_errors(self.path):
            if read_only:
                self._connection = _connect_read_only(self.path)
            else:
                _check_writable(self.path)
                self._connection = sqlite3.connect(self.path, timeout=30.0)
                self._connection.execute("PRAGMA journal_mode=WAL")
                self._connection.execute("PRAGMA synchronous=FULL")
                self._connection.executescript(SCHEMA)
                self._connection.commit()
            columns = tuple(row[1] for row in self._connection.execute("PRAGMA table_info(runs)"))
        if columns != RUN_COLUMNS:
            self._connection.close()
            raise StoreError(f"{self.path} is an SQLite file but not a theoropt results store")

    def close(self) -> None:
        self._connection.close()

    def __enter__(self) -> ResultsStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def save(
        self, spec: RunSpec, result: RunResult, wall_time: float, versions: Mapping[str, str]
    ) -> StoredRun:
        """Store a finished run and commit at once; a run with the same key is replaced."""
        metrics, curves = _check_result(result)
        finished_at = _now()
        with _store_errors(self.path), self._connection:
            self._connection.execute("DELETE FROM failures WHERE key = ?", (spec.key,))
            self._connection.execute(
                "INSERT OR REPLACE INTO runs VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    spec.key,
                    spec.experiment,
                    spec.mode,
                    spec.stage,
                    spec.method,
                    spec.seed,
                    canonical_json(dict(spec.config)),
                    json.dumps(metrics),
                    json.dumps(curves),
                    wall_time,
                    json.dumps(dict(versions)),
                    finished_at,
                ),
            )
        return StoredRun(spec, RunResult(metrics, curves), wall_time, dict(versions), finished_at)

    @_guarded
    def save_failure(self, spec: RunSpec, reason: str, wall_time: float) -> None:
        """Record that a run failed (replaced by its result if a later attempt succeeds)."""
        with self._connection:
            self._connection.execute(
                "INSERT OR REPLACE INTO failures VALUES (?,?,?,?,?,?,?,?,?,?)",
                (
                    spec.key,
                    spec.experiment,
                    spec.mode,
                    spec.stage,
                    spec.method,
                    spec.seed,
                    canonical_json(dict(spec.config)),
                    reason,
                    wall_time,
                    _now(),
                ),
            )

    @_guarded
    def load(self, experiment: str | None = None, mode: str | None = None) -> list[StoredRun]:
        """Finished runs, optionally of one experiment and mode, in the order they finished."""
        query = "SELECT * FROM runs WHERE (? IS NULL OR experiment = ?) AND (? IS NULL OR mode = ?)"
        rows = self._connection.execute(
            query + " ORDER BY finished_at, rowid", (experiment, experiment, mode, mode)
        ).fetchall()
        return [self._row_to_run(row) for row in rows]

    def keys(self, experiment: str | None = None, mode: str | None = None) -> set[str]:
        """Keys of the finished runs (what the runner skips)."""
        return {run.spec.key for run in self.load(experiment, mode)}

    @_guarded
    def record_invocation(self, command: Sequence[str]) -> None:
        """Remember a command that wrote into this store (the report repeats it)."""
        with self._connection:
            self._connection.execute(
                "INSERT INTO invocations (command, started_at) VALUES (?, ?)",
                (" ".join(command), _now()),
            )

    @_guarded
    def invocations(self) -> list[str]:
        """Distinct recorded commands in first-use order."""
        rows = self._connection.execute("SELECT command FROM invocations ORDER BY id").fetchall()
        return list(dict.fromkeys(row[0] for row in rows))

    @staticmethod
    def _row_to_run(row: tuple[Any, ...]) -> StoredRun:
        (key, experiment, mode, stage, method, seed, config, metrics, curves) = row[:9]
        wall_time, versions, finished_at = row[9:]
        spec = RunSpec(experiment, mode, method, json.loads(config), int(seed), stage)
        result = RunResult(json.loads(metrics), json.loads(curves))
        if spec.key != key:
            raise ValueError(f"stored run {key} does not match its own configuration")
        return StoredRun(spec, result, float(wall_time), json.loads(versions), finished_at)


def total_wall_time(runs: Sequence[StoredRun]) -> float:
    """Sum of the runs' wall times in seconds (NaN-free)."""
    return math.fsum(run.wall_time for run in runs)
