"""The Markdown report of an output folder: one section per experiment and mode."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path

from theoropt.bench.atomic import write_text_atomic
from theoropt.bench.environment import library_versions, machine_description
from theoropt.bench.experiment import MODES, Experiment, StoredRun
from theoropt.bench.store import STORE_NAME, ResultsStore, total_wall_time
from theoropt.bench.tables import markdown_table
from theoropt.errors import ExperimentError

REPORT_NAME = "report.md"
FIGURES_NAME = "figures"


def _versions_seen(runs: list[StoredRun]) -> dict[str, set[str]]:
    seen: dict[str, set[str]] = {}
    for run in runs:
        for package, version in run.versions.items():
            seen.setdefault(package, set()).add(version)
    return seen


def _header(store: ResultsStore, runs: list[StoredRun], out_dir: Path) -> str:
    now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    machine = markdown_table(["", ""], list(machine_description().items()))
    seen = _versions_seen(runs)
    versions = markdown_table(
        ["package", "version of the runs", "version now"],
        [
            [package, ", ".join(sorted(seen.get(package, {"-"}))), version]
            for package, version in library_versions().items()
        ],
    )
    commands = [*store.invocations(), f"theoropt report {out_dir}"]
    command_block = "\n".join(commands)
    return (
        "# theoropt experiment report\n\n"
        f"Written {now} from {len(runs)} stored runs "
        f"({total_wall_time(runs) / 60:.1f} min of run time) in `{out_dir / STORE_NAME}`.\n\n"
        "## Reproduce\n\n"
        "From a fresh clone, `make reproduce` runs the default suite and writes this report. "
        "The commands that produced these results were:\n\n"
        f"```\n{command_block}\n```\n\n"
        "## Machine\n\n"
        "The report was written on (the runs may have been measured on this machine or "
        f"another one of the same setup):\n\n{machine}\n\n"
        f"## Versions\n\n{versions}\n"
    )


def _section(experiment: Experiment, mode: str, runs: list[StoredRun], target: Path) -> str:
    body = experiment.report(runs, target / FIGURES_NAME)
    return (
        f"## {experiment.name} ({mode})\n\n"
        f"{experiment.summary}\n\n"
        f"{len(runs)} runs, {total_wall_time(runs) / 60:.1f} min of run time.\n\n"
        f"{body.strip()}\n"
    )


def write_report(
    out_dir: Path, experiments: Mapping[str, Experiment], target: Path | None = None
) -> Path:
    """Write ``target/report.md`` and its figures (``target`` defaults to ``out_dir``) from
    ``out_dir/results.sqlite``, which is only read (``out_dir`` may be read-only)."""
    target = out_dir if target is None else target
    store_path = out_dir / STORE_NAME
    if not store_path.exists():
        raise ExperimentError(
            f"no results in {out_dir}: {store_path} does not exist; run `theoropt run NAME "
            f"--out {out_dir}` first"
        )
    with ResultsStore(store_path, read_only=True) as store:
        runs = store.load()
        parts = [_header(store, runs, out_dir)]
    for name, experiment in experiments.items():
        for mode in MODES:
            selected = [r for r in runs if r.spec.experiment == name and r.spec.mode == mode]
            if selected:
                parts.append(_section(experiment, mode, selected, target))
    unknown = sorted({r.spec.experiment for r in runs} - set(experiments))
    if unknown:
        parts.append(
            "## Not reported\n\nRuns of experiments this version does not know: "
            + ", ".join(unknown)
            + "\n"
        )
    return write_text_atomic(target / REPORT_NAME, "\n".join(parts))
