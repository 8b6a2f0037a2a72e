"""Runs an experiment's plan, skipping what the store already holds, saving each run at once."""

from __future__ import annotations

import logging
import time
import traceback
from dataclasses import dataclass, field

from tqdm.auto import tqdm

from theoropt.bench.environment import library_versions
from theoropt.bench.experiment import MODES, Experiment, RunSpec
from theoropt.bench.store import ResultsStore
from theoropt.errors import ExperimentError

logger = logging.getLogger(__name__)


@dataclass
class RunSummary:
    """What one call of :func:`run_experiment` did."""

    executed: list[RunSpec] = field(default_factory=list)
    skipped: int = 0
    failed: list[tuple[RunSpec, str]] = field(default_factory=list)


def pending_runs(
    experiment: Experiment, mode: str, seeds: int, store: ResultsStore, exclude: set[str]
) -> list[RunSpec]:
    """Planned runs that are neither stored nor in ``exclude`` (runs that failed this session)."""
    done = store.load(experiment.name, mode)
    stored = {run.spec.key for run in done}
    planned = experiment.plan(mode, seeds, done)
    for spec in planned:
        if spec.experiment != experiment.name or spec.mode != mode:
            raise ExperimentError(
                f"experiment {experiment.name!r} planned a run of "
                f"{spec.experiment!r} in mode {spec.mode!r}"
            )
    unique = {spec.key: spec for spec in planned}
    return [spec for key, spec in unique.items() if key not in stored and key not in exclude]


def run_experiment(
    experiment: Experiment,
    mode: str,
    seeds: int,
    store: ResultsStore,
    *,
    progress: bool = True,
) -> RunSummary:
    """Execute every planned run not yet in ``store``, stage after stage.

    The plan is asked again after each stage, so later stages can depend on earlier results.
    A run that raises is reported and left unsaved (a later call retries it); the others go on.
    """
    if mode not in MODES:
        raise ExperimentError(f"unknown mode {mode!r}; modes: {', '.join(MODES)}")
    if seeds < 1:
        raise ExperimentError(f"seeds must be at least 1, got {seeds}")
    summary = RunSummary()
    summary.skipped = len(store.keys(experiment.name, mode))
    failed_keys: set[str] = set()
    stage_number = 0
    while todo := pending_runs(experiment, mode, seeds, store, failed_keys):
        stage_number += 1
        bar = tqdm(
            todo, desc=f"{experiment.name} [{mode}] stage {stage_number}", disable=not progress
        )
        for spec in bar:
            bar.set_postfix_str(f"{spec.stage}/{spec.method} seed={spec.seed}", refresh=True)
            started = time.perf_counter()
            try:
                result = experiment.execute(spec)
            except Exception as error:  # a failing run must not take the suite down with it
                failed_keys.add(spec.key)
                message = f"{type(error).__name__}: {error}"
                summary.failed.append((spec, message))
                logger.error("run %s failed: %s\n%s", spec.label(), message, traceback.format_exc())
                continue
            store.save(spec, result, time.perf_counter() - started, library_versions())
            summary.executed.append(spec)
        bar.close()
    return summary
