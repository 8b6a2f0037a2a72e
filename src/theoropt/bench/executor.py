"""Where runs execute. The runner hands specs to an :class:`Executor` and gets
:class:`~theoropt.bench.execution.Outcome` s back as they finish; it alone saves them.

:class:`InProcessExecutor` runs them one after another in the driver (``--jobs 1``, the
default); :mod:`theoropt.bench.dask_executor` sends them to Dask workers (``--jobs N``,
``--dask``).
"""

from __future__ import annotations

from collections import deque
from typing import Protocol

from theoropt.bench.execution import Outcome, execute_timed
from theoropt.bench.experiment import Experiment, RunSpec


class Executor(Protocol):
    """Runs submitted specs and returns their outcomes in the order they finish."""

    @property
    def runs_at_once(self) -> int | None:
        """How many runs execute at the same time on this machine (``None``: not on this one)."""

    def submit(self, experiment: Experiment, spec: RunSpec) -> None:
        """Queue ``spec``; it runs as soon as the executor has room."""

    def in_flight(self) -> int:
        """Submitted runs whose outcome has not been returned yet."""

    def next_outcomes(self) -> list[Outcome]:
        """Block until at least one run has finished (or failed); return every finished one."""


class InProcessExecutor:
    """One run at a time in this process, in submission order."""

    runs_at_once = 1

    def __init__(self) -> None:
        self._queue: deque[tuple[Experiment, RunSpec]] = deque()

    def submit(self, experiment: Experiment, spec: RunSpec) -> None:
        self._queue.append((experiment, spec))

    def in_flight(self) -> int:
        return len(self._queue)

    def next_outcomes(self) -> list[Outcome]:
        experiment, spec = self._queue[0]
        outcome = execute_timed(experiment, spec)
        self._queue.popleft()
        return [outcome]
