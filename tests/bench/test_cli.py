import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

import pytest

from tests.bench.toy_experiment import ToyExperiment
from theoropt.cli import main

ROOT = Path(__file__).resolve().parents[2]


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv), experiments={"toy": ToyExperiment()})
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_list_names_each_experiment(capsys):
    code, out, _ = run_cli(capsys, "list")
    assert code == 0 and out.startswith("toy  exponential decay")


def test_run_then_report_writes_tables_and_a_png(tmp_path, capsys):
    out_dir = tmp_path / "out"
    code, out, _ = run_cli(capsys, "run", "toy", "--quick", "--out", str(out_dir), "--no-progress")
    assert code == 0 and "8 runs done now, 0 already saved" in out
    code, out, _ = run_cli(capsys, "report", str(out_dir))
    report = (out_dir / "report.md").read_text()
    assert code == 0 and str(out_dir / "report.md") in out
    assert "## toy (quick)" in report and "| slow" in report and " ± " in report
    assert "theoropt run toy --quick" in report
    png = (out_dir / "figures" / "toy.png").read_bytes()
    assert png.startswith(b"\x89PNG")


def test_the_same_command_again_skips_everything(tmp_path, capsys):
    run_cli(capsys, "run", "all", "--quick", "--out", str(tmp_path), "--no-progress")
    code, out, _ = run_cli(capsys, "run", "all", "--quick", "--out", str(tmp_path), "--no-progress")
    assert code == 0 and "0 runs done now, 8 already saved" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["run", "nosuch"], "unknown experiment 'nosuch'; known experiments: toy, all"),
        (["report", "/nonexistent/dir"], "no results in /nonexistent/dir"),
    ],
)
def test_bad_input_gives_one_clear_message(capsys, argv, message):
    code, _, err = run_cli(capsys, *argv)
    assert code == 2
    assert err.strip().splitlines() == [f"theoropt: error: {err.split('error: ', 1)[1].strip()}"]
    assert message in err and "Traceback" not in err


def test_unwritable_output_folder(tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    code, _, err = run_cli(capsys, "run", "toy", "--out", str(blocker / "sub"))
    assert code == 2
    assert f"cannot write to output folder {blocker / 'sub'}" in err and "Traceback" not in err


@pytest.mark.parametrize(
    "argv",
    [
        ["run", "toy", "--bogus"],
        ["run", "toy", "--seeds", "0"],
        ["run", "toy", "--quick", "--full"],
        ["frobnicate"],
    ],
)
def test_bad_flags_exit_nonzero_with_usage_error(capsys, argv):
    with pytest.raises(SystemExit) as exit_info:
        run_cli(capsys, *argv)
    err = capsys.readouterr().err
    assert exit_info.value.code == 2
    assert re.search(r"theoropt( run)?: error: ", err) and "Traceback" not in err


def saved_keys(db: Path) -> set[str]:
    if not db.exists():
        return set()
    with closing(sqlite3.connect(db)) as connection:
        try:
            return {row[0] for row in connection.execute("SELECT key FROM runs")}
        except sqlite3.OperationalError:  # the writer has not created the table yet
            return set()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL])
def test_killed_run_resumes_without_redoing_saved_runs(tmp_path, sig):
    log = tmp_path / "finished.log"
    env = {**os.environ, "TOY_DELAY": "0.2", "TOY_LOG": str(log), "PYTHONPATH": str(ROOT)}
    command = [
        sys.executable,
        "-m",
        "tests.bench.toy_cli",
        "run",
        "toy",
        "--quick",
        "--out",
        str(tmp_path),
        "--no-progress",
    ]
    db = tmp_path / "results.sqlite"
    first = subprocess.Popen(command, env=env, cwd=ROOT, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while len(saved_keys(db)) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    first.send_signal(sig)
    _, err = first.communicate(timeout=60)
    saved_at_kill = saved_keys(db)
    assert 3 <= len(saved_at_kill) < 8
    if sig != signal.SIGKILL:
        assert first.returncode == 130
        assert "interrupted; every finished run is saved" in err and "Traceback" not in err
    finished_before = log.read_text().split()

    second = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert second.returncode == 0, second.stderr
    finished_after = log.read_text().split()[len(finished_before) :]
    assert not set(finished_after) & saved_at_kill
    assert saved_keys(db) == saved_at_kill | set(finished_after)
    assert len(saved_keys(db)) == 8
