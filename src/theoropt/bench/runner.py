"""Runs an experiment's plan, skipping what the store already holds, saving each run at once.

The runner is the driver: it plans, hands the runs to an executor (this process, or Dask
workers) and saves each outcome in the store the moment it arrives. When the executor's queue
runs low it asks the experiment's ``plan`` again with the saved runs, so a later stage starts
as soon as the results it depends on are saved, and only from saved results.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from tqdm.auto import tqdm

from theoropt.bench.execution import Outcome, available_cores, run_threads
from theoropt.bench.executor import Executor, InProcessExecutor
from theoropt.bench.experiment import MODES, Experiment, RunSpec, StoredRun
from theoropt.bench.selection import RunFilter
from theoropt.bench.store import ResultsStore
from theoropt.errors import ExperimentError

logger = logging.getLogger(__name__)


@dataclass
class RunSummary:
    """What one call of :func:`run_experiment` did."""

    executed: list[RunSpec] = field(default_factory=list)
    skipped: int = 0
    failed: list[tuple[RunSpec, str]] = field(default_factory=list)
    left_out: int = 0
    """Planned runs not saved that ``--only`` did not select."""
    saved_selected: int = 0
    """Saved runs that ``--only`` selects (nothing left to do for them)."""


def planned_runs(
    experiment: Experiment, mode: str, seeds: int, done: Sequence[StoredRun]
) -> list[RunSpec]:
    """The experiment's plan given the saved runs ``done``, one spec per key."""
    planned = experiment.plan(mode, seeds, done)
    for spec in planned:
        if spec.experiment != experiment.name or spec.mode != mode:
            raise ExperimentError(
                f"experiment {experiment.name!r} planned a run of "
                f"{spec.experiment!r} in mode {spec.mode!r}"
            )
    return list({spec.key: spec for spec in planned}.values())


class _Progress:
    """One bar over the runs submitted so far (it grows as stages are planned), with ETA."""

    def __init__(self, experiment: Experiment, mode: str, enabled: bool) -> None:
        self._bar = tqdm(total=0, desc=f"{experiment.name} [{mode}]", disable=not enabled)
        self._failed = 0

    def submitted(self, count: int) -> None:
        if count:
            self._bar.total += count
            self._bar.refresh()

    def finished(self, outcome: Outcome) -> None:
        self._failed += outcome.error is not None
        spec = outcome.spec
        postfix = f"last {spec.stage}/{spec.method} seed={spec.seed}"
        if self._failed:
            postfix += f", {self._failed} failed"
        self._bar.set_postfix_str(postfix, refresh=False)
        self._bar.update(1)

    def close(self) -> None:
        self._bar.close()


def _warn_if_oversubscribed(executor: Executor, specs: Sequence[RunSpec]) -> bool:
    """Warn when the runs at once times their threads exceed this machine's cores."""
    threads = max((run_threads(spec) for spec in specs), default=1)
    at_once = executor.runs_at_once
    if at_once is None or at_once * threads <= available_cores():
        return False
    logger.warning(
        "%d runs at once with up to %d threads each exceed the %d cores of this machine: "
        "they share them (same results, slower); use --jobs %d",
        at_once,
        threads,
        available_cores(),
        max(1, available_cores() // threads),
    )
    return True


def run_experiment(
    experiment: Experiment,
    mode: str,
    seeds: int,
    store: ResultsStore,
    *,
    progress: bool = True,
    executor: Executor | None = None,
    only: RunFilter | None = None,
) -> RunSummary:
    """Execute every planned run not yet in ``store`` (and selected by ``only``).

    Each outcome is saved as it arrives. The plan is asked again, with every saved run, as
    soon as the executor has no more runs queued than it runs at once (after each arrival on
    a remote cluster, whose size may change), so a later stage starts while the last runs of
    the one before are still running, and only from saved results. A run that fails is
    reported, recorded as a failure and not retried in this call (the next call retries it);
    the others go on.
    """
    if mode not in MODES:
        raise ExperimentError(f"unknown mode {mode!r}; modes: {', '.join(MODES)}")
    if seeds < 1:
        raise ExperimentError(f"seeds must be at least 1, got {seeds}")
    in_use: Executor = executor or InProcessExecutor()
    summary = RunSummary()
    done = store.load(experiment.name, mode)
    summary.skipped = len(done)
    summary.saved_selected = sum(1 for run in done if only and only.selects(run.spec))
    seen = {run.spec.key for run in done}  # saved, submitted or left out by --only
    bar = _Progress(experiment, mode, progress)
    warned = False
    try:
        while True:
            new = [
                spec for spec in planned_runs(experiment, mode, seeds, done) if spec.key not in seen
            ]
            seen.update(spec.key for spec in new)
            selected = [spec for spec in new if not only or only.matches(spec)]
            summary.left_out += len(new) - len(selected)
            warned = warned or _warn_if_oversubscribed(in_use, selected)
            for spec in selected:
                in_use.submit(experiment, spec)
            bar.submitted(len(selected))
            if not in_use.in_flight():
                return summary
            while True:
                for outcome in in_use.next_outcomes():
                    _record(outcome, store, done, summary)
                    bar.finished(outcome)
                at_once = in_use.runs_at_once
                if at_once is None or in_use.in_flight() <= at_once:
                    break  # nothing queued beyond what runs now: ask the plan for more
    finally:
        bar.close()


def _record(
    outcome: Outcome, store: ResultsStore, done: list[StoredRun], summary: RunSummary
) -> None:
    spec = outcome.spec
    if outcome.result is not None:
        done.append(store.save(spec, outcome.result, outcome.wall_time, outcome.versions))
        summary.executed.append(spec)
        return
    reason = outcome.error or "no result"
    store.save_failure(spec, reason, outcome.wall_time)
    summary.failed.append((spec, reason))
    logger.error("run %s failed: %s\n%s", spec.label(), reason, outcome.details)
