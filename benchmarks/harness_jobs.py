"""Wall time of ``theoropt run convex --quick`` with ``--jobs 2`` against ``--jobs 1``.

Each command runs from scratch in its own output folder, as a user would type it (start-up,
Dask's local cluster and all); the order is jobs 1, jobs 2, jobs 2, jobs 1 so that a drift in the
machine's load affects both alike. The target is a ratio <= 0.7 on 2 cores. The stored metrics
of the two modes are compared too (timings aside): they must be identical.
Run: ``python -m benchmarks.harness_jobs [--quick] [--out DIR]`` (``--quick``: two problems).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks._report import emit, parse_arguments
from theoropt.bench.execution import available_cores
from theoropt.bench.store import STORE_NAME, ResultsStore

TIMINGS = {"time", "time_to_1e-6"}
ORDER = (1, 2, 2, 1)


def timed_run(out: Path, jobs: int, subset: list[str]) -> float:
    command = [sys.executable, "-m", "theoropt", "run", "convex", "--quick", "--no-progress"]
    command += ["--out", str(out), "--jobs", str(jobs), *subset]
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def untimed_metrics(folder: Path) -> dict[str, dict[str, str]]:
    with ResultsStore(folder / STORE_NAME, read_only=True) as store:
        return {
            run.spec.key: {k: repr(v) for k, v in run.result.metrics.items() if k not in TIMINGS}
            for run in store.load()
        }


def main() -> None:
    arguments = parse_arguments(__doc__.splitlines()[0])
    subset = ["--only", "problem=cosh,quadratic-random"] if arguments.quick else []
    load_before = os.getloadavg()
    seconds: dict[int, list[float]] = {1: [], 2: []}
    with tempfile.TemporaryDirectory() as folder:
        for index, jobs in enumerate(ORDER):
            out = Path(folder) / f"run{index}-jobs{jobs}"
            seconds[jobs].append(timed_run(out, jobs, subset))
            print(f"--jobs {jobs}: {seconds[jobs][-1]:.1f} s", flush=True)
        identical = untimed_metrics(Path(folder) / "run0-jobs1") == untimed_metrics(
            Path(folder) / "run1-jobs2"
        )
    load_after = os.getloadavg()
    one, two = statistics.mean(seconds[1]), statistics.mean(seconds[2])
    rows = [
        ["--jobs 1", " / ".join(f"{s:.1f}" for s in seconds[1]), f"{one:.1f}", "1.00"],
        ["--jobs 2", " / ".join(f"{s:.1f}" for s in seconds[2]), f"{two:.1f}", f"{two / one:.2f}"],
    ]
    emit(
        "harness_jobs",
        "theoropt run convex --quick"
        + (" " + " ".join(subset) if subset else "")
        + f": wall time with --jobs 2 vs --jobs 1 ({available_cores()} cores)",
        ["mode", "wall s (each run)", "mean wall s", "ratio to --jobs 1 (target <= 0.7)"],
        rows,
        [
            f"Load average (1/5/15 min) before: {load_before[0]:.1f}/{load_before[1]:.1f}/"
            f"{load_before[2]:.1f}, after: {load_after[0]:.1f}/{load_after[1]:.1f}/"
            f"{load_after[2]:.1f}; a load above the core count means other processes shared them.",
            "Stored metrics of --jobs 1 and --jobs 2 (timings aside): "
            + ("identical" if identical else "DIFFERENT"),
        ],
        arguments.out,
    )


if __name__ == "__main__":
    main()
