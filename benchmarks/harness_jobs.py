"""Wall time of ``theoropt run convex --quick`` with ``--jobs 2`` against ``--jobs 1``.

Each command runs from scratch in its own output folder, as a user would type it (start-up,
Dask's local cluster and all); the order is jobs 1, jobs 2, jobs 2, jobs 1 so that a drift in the
machine's load affects both alike. The target is a ratio <= 0.7 on 2 cores. Besides the wall
time it reports the CPU seconds of the whole process tree (driver, worker server, workers) and
how many cores the machine actually gave: two spinning processes against one, measured before
each command. Under Linux's autogroup scheduling a busy machine gives each session an equal
share, so with other sessions running a second process may add nothing. The stored metrics of
the two modes are compared (timings aside): they must be identical.
Run: ``python -m benchmarks.harness_jobs [--quick] [--out DIR]`` (``--quick``: two problems).
"""

from __future__ import annotations

import multiprocessing
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

from benchmarks._report import emit, parse_arguments
from theoropt.bench.execution import available_cores
from theoropt.bench.store import STORE_NAME, ResultsStore

TIMINGS = {"time", "time_to_1e-6"}
ORDER = (1, 2, 2, 1)
SPIN_SECONDS = 3.0


def _spin(seconds: float) -> int:
    """Count loop iterations for ``seconds`` of wall time (the CPU this process was given)."""
    count, end = 0, time.perf_counter() + seconds
    while time.perf_counter() < end:
        count += 1
    return count


def cores_given() -> float:
    """Work done by two spinning processes over the work of one, in the same wall time."""
    with multiprocessing.Pool(2) as pool:
        one = pool.apply(_spin, (SPIN_SECONDS,))
        two = sum(pool.map(_spin, [SPIN_SECONDS] * 2))
    return two / one


def timed_run(out: Path, jobs: int, subset: list[str]) -> tuple[float, float]:
    """Wall seconds and CPU seconds of the command and every process it started."""
    command = [sys.executable, "-m", "theoropt", "run", "convex", "--quick", "--no-progress"]
    command += ["--out", str(out), "--jobs", str(jobs), *subset]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    process = psutil.Popen(command, stdout=subprocess.DEVNULL)
    descendants: dict[int, float] = {}
    while process.poll() is None:
        for child in process.children(recursive=True):
            try:
                times = child.cpu_times()
                descendants[child.pid] = times.user + times.system
            except psutil.NoSuchProcess:
                pass
        time.sleep(0.2)
    wall = time.perf_counter() - started
    if process.returncode:
        raise SystemExit(f"{' '.join(command)} failed with status {process.returncode}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    driver = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return wall, driver + sum(descendants.values())


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
    wall: dict[int, list[float]] = {1: [], 2: []}
    cpu: dict[int, list[float]] = {1: [], 2: []}
    given: list[float] = []
    with tempfile.TemporaryDirectory() as folder:
        for index, jobs in enumerate(ORDER):
            given.append(cores_given())
            seconds, cpu_seconds = timed_run(Path(folder) / f"run{index}", jobs, subset)
            wall[jobs].append(seconds)
            cpu[jobs].append(cpu_seconds)
            print(
                f"--jobs {jobs}: {seconds:.1f} s wall, {cpu_seconds:.1f} s CPU "
                f"(cores given just before: {given[-1]:.2f})",
                flush=True,
            )
        identical = untimed_metrics(Path(folder) / "run0") == untimed_metrics(Path(folder) / "run1")
    load_after = os.getloadavg()
    one = statistics.mean(wall[1])
    rows = [
        [
            f"--jobs {jobs}",
            " / ".join(f"{s:.1f}" for s in wall[jobs]),
            f"{statistics.mean(wall[jobs]):.1f}",
            f"{statistics.mean(wall[jobs]) / one:.2f}",
            " / ".join(f"{s:.1f}" for s in cpu[jobs]),
        ]
        for jobs in (1, 2)
    ]
    title = "theoropt run convex --quick" + (" " + " ".join(subset) if subset else "")
    emit(
        "harness_jobs",
        f"{title}: wall time with --jobs 2 vs --jobs 1 ({available_cores()} cores)",
        [
            "mode",
            "wall s (each run)",
            "mean wall s",
            "ratio to --jobs 1 (target <= 0.7)",
            "CPU s of the process tree",
        ],
        rows,
        [
            f"Load average (1/5/15 min) before: {load_before[0]:.1f}/{load_before[1]:.1f}/"
            f"{load_before[2]:.1f}, after: {load_after[0]:.1f}/{load_after[1]:.1f}/"
            f"{load_after[2]:.1f}.",
            "Cores the machine gave this session just before each command (work of two "
            "spinning processes / work of one; 2.00 on an idle 2-core machine): "
            + " / ".join(f"{g:.2f}" for g in given),
            "Stored metrics of --jobs 1 and --jobs 2 (timings aside): "
            + ("identical" if identical else "DIFFERENT"),
        ],
        arguments.out,
    )


if __name__ == "__main__":
    main()
