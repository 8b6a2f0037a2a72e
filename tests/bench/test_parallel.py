"""Runs in worker processes (``--jobs``, ``--dask local``): same results as in-process runs,
nothing lost or duplicated when a worker or the driver is killed, ``--timeout``, and one
invocation at a time per output folder."""

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from contextlib import closing
from pathlib import Path

import pytest

from tests.bench.exits import INTERRUPTED
from tests.bench.test_cli import ROOT, saved_keys
from theoropt.bench import dask_executor
from theoropt.bench.experiments.convex import EXPERIMENT as CONVEX
from theoropt.bench.experiments.convex import PARAMETER_FREE
from theoropt.bench.store import ResultsStore
from theoropt.cli import main
from theoropt.convex.study import LBFGS

pytestmark = pytest.mark.slow

TIMINGS = {"time", "time_to_1e-6"}
"""The convex experiment's wall-clock metrics and curves (everything else is deterministic)."""


def comparable(values: dict) -> dict:
    """Everything but timings, as text (so that NaN equals NaN)."""
    return {name: repr(value) for name, value in values.items() if name not in TIMINGS}


def test_results_do_not_depend_on_the_execution_mode(tmp_path, capsys):
    # cosh is where adaptive stepsizes amplify rounding: with one thread more, GRAAL needs
    # 1071 instead of 1032 evaluations to 1e-6, so this compares more than the last digits
    args = ["run", "convex", "--quick", "--seeds", "1", "--no-progress"]
    args += ["--only", "problem=cosh", "--only", "stage=main"]
    modes = {"jobs1": [], "jobs2": ["--jobs", "2"], "dask-local": ["--dask", "local"]}
    stored = {}
    for name, extra in modes.items():
        assert main([*args, "--out", str(tmp_path / name), *extra], {"convex": CONVEX}) == 0
        with ResultsStore(tmp_path / name / "results.sqlite", read_only=True) as store:
            stored[name] = {run.spec.key: run for run in store.load()}
    reference = stored.pop("jobs1")
    methods = {run.spec.method for run in reference.values()}
    assert methods == {*PARAMETER_FREE, LBFGS}  # cosh has no global L: GD and Nesterov sit out
    for runs in stored.values():
        assert runs.keys() == reference.keys()
        for key, run in runs.items():
            assert comparable(run.result.metrics) == comparable(reference[key].result.metrics)
            assert comparable(run.result.curves) == comparable(reference[key].result.curves)


def toy_env(tmp_path: Path, delay: float, **extra: str) -> dict[str, str]:
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    return {
        **os.environ,
        "PYTHONPATH": path,
        "TOY_DELAY": str(delay),
        "TOY_LOG": str(tmp_path / "finished.log"),
        "TOY_STARTED": str(tmp_path / "started.log"),
        **extra,
    }


def toy_command(out: Path, *extra: str) -> list[str]:
    command = [sys.executable, "-m", "tests.bench.toy_cli", "run", "toy", "--quick"]
    return [*command, "--out", str(out), "--no-progress", *extra]


def lines(path: Path) -> list[list[str]]:
    return [line.split() for line in path.read_text().splitlines()] if path.exists() else []


def wait_for(condition, process: subprocess.Popen, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert process.poll() is None, f"ended early: {process.communicate()[1]}"
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.05)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_a_killed_worker_loses_only_its_run(tmp_path):
    env = toy_env(tmp_path, 1.0)
    out = tmp_path / "out"
    first = subprocess.Popen(
        toy_command(out, "--jobs", "2"), env=env, cwd=ROOT, stderr=subprocess.PIPE, text=True
    )

    def a_run_is_in_flight_after_one_saved() -> bool:
        finished = {key for key, *_ in lines(tmp_path / "finished.log")}
        return len(saved_keys(out / "results.sqlite")) >= 1 and any(
            key not in finished for key, _ in lines(tmp_path / "started.log")
        )

    wait_for(a_run_is_in_flight_after_one_saved, first)
    finished = {key for key, *_ in lines(tmp_path / "finished.log")}
    victim, pid = next((k, int(p)) for k, p in lines(tmp_path / "started.log") if k not in finished)
    assert pid != first.pid
    os.kill(pid, signal.SIGKILL)
    _, err = first.communicate(timeout=180)
    assert first.returncode == 0, err
    assert len(saved_keys(out / "results.sqlite")) == 8
    starts = Counter(key for key, _ in lines(tmp_path / "started.log"))
    assert starts[victim] == 2  # Dask ran it again on the restarted worker
    assert set(Counter(key for (key,) in lines(tmp_path / "finished.log")).values()) == {1}


def test_killed_driver_takes_its_workers_along_and_nothing_is_redone(tmp_path):
    env = toy_env(tmp_path, 0.5)
    out = tmp_path / "out"
    db = out / "results.sqlite"
    first = subprocess.Popen(
        toy_command(out, "--jobs", "2"), env=env, cwd=ROOT, stderr=subprocess.PIPE, text=True
    )
    wait_for(lambda: len(saved_keys(db)) >= 3, first)
    first.kill()
    first.communicate(timeout=60)
    saved_at_kill = saved_keys(db)
    assert 3 <= len(saved_at_kill) < 8
    workers = {int(pid) for _, pid in lines(tmp_path / "started.log")}
    deadline = time.monotonic() + 30
    while any(alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(alive(pid) for pid in workers), "worker processes outlived the driver"

    finished_before = len(lines(tmp_path / "finished.log"))
    second = subprocess.run(toy_command(out), env=env, cwd=ROOT, capture_output=True, text=True)
    assert second.returncode == 0, second.stderr
    redone = {key for (key,) in lines(tmp_path / "finished.log")[finished_before:]}
    assert not redone & saved_at_kill
    assert saved_keys(db) == saved_at_kill | redone and len(saved_at_kill | redone) == 8


def test_a_run_past_the_timeout_fails_and_the_suite_goes_on(tmp_path):
    env = toy_env(tmp_path, 0.1, TOY_HANG="fast")
    out = tmp_path / "out"
    started = time.monotonic()
    done = subprocess.run(
        toy_command(out, "--timeout", "2", "--jobs", "2"),
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert time.monotonic() - started < 200  # the hanging runs sleep 600 s
    assert done.returncode == 1, done.stderr
    reason = "timed out: still running after 2 s (--timeout)"
    assert done.stderr.count(f"FAILED toy/sweep/fast seed=0: {reason}") == 2
    with closing(sqlite3.connect(out / "results.sqlite")) as connection:
        failures = connection.execute("SELECT method, reason FROM failures").fetchall()
        saved = connection.execute("SELECT stage, method FROM runs").fetchall()
    assert failures == [("fast", reason)] * 2
    assert saved == [("sweep", "slow")] * 2  # the final stage waits for the whole sweep


def test_a_second_invocation_on_the_same_folder_is_refused(tmp_path):
    env = toy_env(tmp_path, 0.1, TOY_HANG="slow")  # the first run hangs: the folder stays held
    out = tmp_path / "out"
    first = subprocess.Popen(toy_command(out), env=env, cwd=ROOT, stderr=subprocess.PIPE)
    try:
        wait_for(lambda: bool(lines(tmp_path / "started.log")), first)
        second = subprocess.run(
            toy_command(out), env=env, cwd=ROOT, capture_output=True, text=True, timeout=120
        )
        assert second.returncode == 2
        assert f"is in use by another theoropt run (process {first.pid} on " in second.stderr
        assert "theoropt run toy --quick" in second.stderr and "Traceback" not in second.stderr
    finally:
        first.terminate()
        first.communicate(timeout=60)


def test_unreachable_scheduler_is_one_clear_message(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(dask_executor, "CONNECT_SECONDS", 2)
    code = main(["run", "convex", "--out", str(tmp_path), "--dask", "tcp://127.0.0.1:9"])
    err = capsys.readouterr().err
    assert code == 2 and "cannot reach the Dask scheduler at tcp://127.0.0.1:9" in err
    assert "Traceback" not in err


def test_ctrl_c_while_the_cluster_starts_exits_cleanly(tmp_path):
    # a terminal's Ctrl-C reaches the whole process group, worker processes included
    process = subprocess.Popen(
        toy_command(tmp_path / "out", "--jobs", "2"),
        env=toy_env(tmp_path, 0.5),
        cwd=ROOT,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert process.stderr.readline() == "toy_cli: ready\n"
    time.sleep(1.0)
    os.killpg(process.pid, signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert process.returncode in INTERRUPTED, err
    assert "Traceback" not in err and "theoropt: interrupted; every finished run is saved" in err
