"""Executing one run, wherever it happens: in the driver or in a worker process.

:func:`execute_timed` runs a spec with its own thread count and times it; :func:`execute_run`
is what a Dask worker calls for each run. Both return an :class:`Outcome` and never write to
the store: only the driver does. :func:`running_for` tells the driver how long each task of a
worker has been running, which is how ``--timeout`` finds the runs to stop.

A run's thread count is part of the run: ``config["threads"]``, 1 if absent, in every
execution mode. Floating-point sums split over threads depend on the thread count (measured:
the convex solvers reach 1e-6 after 1071 or 1032 evaluations on ``cosh`` with 2 or 1 threads),
so a count chosen by the execution mode would make the stored results depend on it.
"""

from __future__ import annotations

import os
import time
import traceback
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from threadpoolctl import threadpool_limits

from theoropt.bench.environment import library_versions
from theoropt.bench.experiment import Experiment, RunResult, RunSpec
from theoropt.errors import ExperimentError

if TYPE_CHECKING:
    from dask.typing import Key

_STARTED: dict[Key, float] = {}
"""Dask task key -> ``time.monotonic()`` at its start, for the runs executing in this worker."""


@dataclass(frozen=True)
class Outcome:
    """What came back from one run: a result, or the reason it failed (and a traceback)."""

    spec: RunSpec
    result: RunResult | None
    wall_time: float
    versions: Mapping[str, str]
    error: str | None = None
    details: str = ""


def available_cores() -> int:
    """Cores this process may use (its CPU affinity where the system reports one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def run_threads(spec: RunSpec) -> int:
    """Intra-op threads (torch and the BLAS libraries) of a run: ``config["threads"]`` or 1."""
    threads = spec.config.get("threads", 1)
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ExperimentError(
            f"{spec.label()}: threads must be a positive integer, got {threads!r}"
        )
    return threads


def execute_timed(experiment: Experiment, spec: RunSpec) -> Outcome:
    """Run ``spec`` in this process with its thread count (restored afterwards) and time it;
    an exception becomes a failed outcome (Ctrl-C does not)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(run_threads(spec))
    started = time.perf_counter()
    try:
        with threadpool_limits(limits=run_threads(spec)):
            result = experiment.execute(spec)
    except Exception as error:  # a failing run must not take the suite down with it
        return Outcome(
            spec,
            None,
            time.perf_counter() - started,
            library_versions(),
            f"{type(error).__name__}: {error}",
            traceback.format_exc(),
        )
    finally:
        torch.set_num_threads(previous)
    return Outcome(spec, result, time.perf_counter() - started, library_versions())


def execute_run(experiment: Experiment, spec: RunSpec) -> Outcome:
    """The task a Dask worker runs: :func:`execute_timed`, registered in :func:`running_for`."""
    from distributed import get_worker

    task = get_worker().get_current_task()
    _STARTED[task] = time.monotonic()
    try:
        return execute_timed(experiment, spec)
    finally:
        del _STARTED[task]


def running_for() -> dict[Key, float]:
    """Seconds each run executing in this worker has been running, by Dask task key."""
    now = time.monotonic()
    return {key: now - started for key, started in list(_STARTED.items())}
