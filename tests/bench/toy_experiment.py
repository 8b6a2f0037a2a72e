"""A small two-stage experiment (sweep, then final over seeds) for the harness tests."""

from __future__ import annotations

import math
import os
import time
from collections.abc import Sequence
from pathlib import Path

from theoropt.bench.experiment import Experiment, RunResult, RunSpec, StoredRun, select
from theoropt.bench.plots import plot_band, save_figure, subplots
from theoropt.bench.tables import metric_table

METHODS = ("slow", "fast")
RATES = (0.1, 0.3)


class ToyExperiment(Experiment):
    """Geometric decay exp(-rate * k); the sweep picks the rate with the lower final value."""

    name = "toy"
    summary = "exponential decay, a sweep then a final comparison"
    default_seeds = 2

    def __init__(
        self,
        delay: float = 0.0,
        log_path: Path | None = None,
        started_path: Path | None = None,
        hang_method: str = "",
    ) -> None:
        self.delay = delay
        self.log_path = log_path
        self.started_path = started_path
        self.hang_method = hang_method
        self.executed: list[str] = []

    def plan(self, mode: str, seeds: int, done: Sequence[StoredRun]) -> list[RunSpec]:
        sweep = [
            RunSpec(
                self.name,
                mode,
                method,
                {"rate": rate, "scale": 1 + METHODS.index(method)},
                0,
                "sweep",
            )
            for method in METHODS
            for rate in RATES
        ]
        finished = {run.spec.key for run in done}
        if not all(spec.key in finished for spec in sweep):
            return sweep
        final = []
        for method in METHODS:
            best = min(
                select(done, stage="sweep", method=method),
                key=lambda run: run.result.metrics["final"],
            )
            for seed in range(seeds):
                final.append(
                    RunSpec(self.name, mode, method, dict(best.spec.config), seed, "final")
                )
        return sweep + final

    def execute(self, spec: RunSpec) -> RunResult:
        if self.started_path is not None:
            with self.started_path.open("a") as handle:
                handle.write(f"{spec.key} {os.getpid()}\n")
        time.sleep(600 if spec.method == self.hang_method else self.delay)
        steps = list(range(20))
        values = [
            spec.config["scale"] * (1 + 0.1 * spec.seed) * math.exp(-spec.config["rate"] * k)
            for k in steps
        ]
        self.executed.append(spec.key)
        if self.log_path is not None:
            with self.log_path.open("a") as handle:
                handle.write(spec.key + "\n")
        return RunResult({"final": values[-1]}, {"step": steps, "value": values})

    def report(self, runs: Sequence[StoredRun], figures: Path) -> str:
        final = select(runs, stage="final")
        fig, (ax,) = subplots(1)
        plot_band(ax, {m: select(final, method=m) for m in METHODS}, "step", "value", log_y=True)
        save_figure(fig, figures / "toy.png")
        return metric_table(final, ["final"]) + "\n\n![toy](figures/toy.png)\n"
