"""Crash-safe results store: one SQLite row per finished run, committed the moment it ends.

SQLite's journal makes each commit atomic, so killing the process (Ctrl-C, ``kill``, even
``kill -9``) loses at most the run in progress, never a saved one.
"""

from __future__ import annotations

import json
import math
import sqlite3
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from theoropt.bench.experiment import RunResult, RunSpec, StoredRun, canonical_json

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
"""


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
    """The SQLite file of one output folder (``results.sqlite``)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._connection = sqlite3.connect(self.path, timeout=30.0)
        self._connection.execute("PRAGMA journal_mode=WAL")
        self._connection.execute("PRAGMA synchronous=FULL")
        self._connection.executescript(SCHEMA)
        self._connection.commit()

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
        with self._connection:
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

    def record_invocation(self, command: Sequence[str]) -> None:
        """Remember a command that wrote into this store (the report repeats it)."""
        with self._connection:
            self._connection.execute(
                "INSERT INTO invocations (command, started_at) VALUES (?, ?)",
                (" ".join(command), _now()),
            )

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
