"""The contract between an experiment and the runner, the results store and the report.

An experiment is planned as :class:`RunSpec` s (one method, one configuration, one seed), each
executed into a :class:`RunResult` and stored at once as a :class:`StoredRun`. Multi-stage
experiments (a learning-rate sweep, then a final comparison with the chosen rates) return the
later stages from :meth:`Experiment.plan` once the earlier stages' runs are stored: the runner
calls ``plan`` again after each stage until it returns nothing new.
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MODES = ("quick", "default", "full")


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no whitespace: equal configurations give equal text."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


@dataclass(frozen=True)
class RunSpec:
    """One unit of work. ``config`` must be JSON-serialisable; ``stage`` names a phase."""

    experiment: str
    mode: str
    method: str
    config: Mapping[str, Any]
    seed: int
    stage: str = "main"

    @property
    def key(self) -> str:
        """Stable identity of the run: the same spec always maps to the same key."""
        text = canonical_json(
            [self.experiment, self.mode, self.stage, self.method, dict(self.config), self.seed]
        )
        return hashlib.sha256(text.encode()).hexdigest()[:24]

    def label(self) -> str:
        """Short human-readable description for progress bars."""
        return f"{self.experiment}/{self.stage}/{self.method} seed={self.seed}"


@dataclass
class RunResult:
    """What a run measured: final scalar ``metrics`` and named ``curves`` (equal-length lists)."""

    metrics: dict[str, float]
    curves: dict[str, list[float]] = field(default_factory=dict)


@dataclass(frozen=True)
class StoredRun:
    """A finished run as read back from the store."""

    spec: RunSpec
    result: RunResult
    wall_time: float
    versions: Mapping[str, str]
    finished_at: str


class Experiment(ABC):
    """Base class of every experiment; subclasses live in :mod:`theoropt.bench.experiments`."""

    name: str = ""
    summary: str = ""
    default_seeds: int = 3

    @abstractmethod
    def plan(self, mode: str, seeds: int, done: Sequence[StoredRun]) -> list[RunSpec]:
        """All runs the experiment needs given the finished runs ``done`` of this mode.

        Runs already stored are skipped by the runner, so returning them again is fine.
        """

    @abstractmethod
    def execute(self, spec: RunSpec) -> RunResult:
        """Run one spec and return what it measured (must be deterministic given the seed)."""

    @abstractmethod
    def report(self, runs: Sequence[StoredRun], figures: Path) -> str:
        """Markdown body of this experiment's report section; PNGs go into ``figures``."""


def spec_value(run: StoredRun, key: str) -> Any:
    """A spec attribute (``method``, ``stage``, ``seed``, ...) or else a config entry of a run."""
    return getattr(run.spec, key) if hasattr(run.spec, key) else run.spec.config.get(key)


def select(runs: Sequence[StoredRun], **where: Any) -> list[StoredRun]:
    """Runs whose spec attributes (``method``, ``stage``, ``seed``, ...) or config entries match."""

    def matches(run: StoredRun) -> bool:
        for key, want in where.items():
            if spec_value(run, key) != want:
                return False
        return True

    return [run for run in runs if matches(run)]


def group_by(runs: Sequence[StoredRun], key: str) -> dict[Any, list[StoredRun]]:
    """Runs grouped by a spec attribute or config entry, in first-seen order."""
    groups: dict[Any, list[StoredRun]] = {}
    for run in runs:
        groups.setdefault(spec_value(run, key), []).append(run)
    return groups
