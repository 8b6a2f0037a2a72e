"""Discovery of the experiments: every module in :mod:`theoropt.bench.experiments` that
defines a module-level ``EXPERIMENT`` instance is registered under ``EXPERIMENT.name``."""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache

from theoropt.bench import experiments as experiments_package
from theoropt.bench.experiment import Experiment
from theoropt.errors import ExperimentError


@cache
def all_experiments() -> dict[str, Experiment]:
    """Name -> experiment, sorted by name."""
    found: dict[str, Experiment] = {}
    for info in pkgutil.iter_modules(experiments_package.__path__):
        module = importlib.import_module(f"{experiments_package.__name__}.{info.name}")
        experiment = getattr(module, "EXPERIMENT", None)
        if isinstance(experiment, Experiment):
            found[experiment.name] = experiment
    return dict(sorted(found.items()))


def get_experiment(name: str) -> Experiment:
    """The experiment called ``name``, or an error listing the known names."""
    experiments = all_experiments()
    if name not in experiments:
        known = ", ".join(experiments) or "(none)"
        raise ExperimentError(f"unknown experiment {name!r}; known experiments: {known}")
    return experiments[name]
