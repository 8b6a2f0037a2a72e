import ctypes
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import types
from contextlib import closing
from pathlib import Path

import pytest

from tests.bench.exits import INTERRUPTED
from tests.bench.toy_experiment import ToyExperiment
from theoropt import cli
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
        ["run", "toy", "--jobs", "0"],
        ["run", "toy", "--timeout", "0"],
        ["run", "toy", "--timeout", "soon"],
        ["run", "toy", "--only", "method"],
        ["run", "toy", "--only", "method="],
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
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "TOY_DELAY": "0.2", "TOY_LOG": str(log), "PYTHONPATH": path}
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
    while len(saved_keys(db)) < 3 and time.monotonic() < deadline and first.poll() is None:
        time.sleep(0.05)
    assert first.poll() is None, f"the run ended before it was interrupted: {first.stderr.read()}"
    first.send_signal(sig)
    _, err = first.communicate(timeout=60)
    saved_at_kill = saved_keys(db)
    assert 3 <= len(saved_at_kill) < 8
    if sig != signal.SIGKILL:
        assert first.returncode in INTERRUPTED
        assert "interrupted; every finished run is saved" in err and "Traceback" not in err
    finished_before = log.read_text().split()

    second = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert second.returncode == 0, second.stderr
    finished_after = log.read_text().split()[len(finished_before) :]
    assert not set(finished_after) & saved_at_kill
    assert saved_keys(db) == saved_at_kill | set(finished_after)
    assert len(saved_keys(db)) == 8


def test_only_runs_a_subset_and_says_what_it_left_out(tmp_path, capsys):
    argv = ["run", "toy", "--quick", "--out", str(tmp_path), "--no-progress"]
    code, out, _ = run_cli(capsys, *argv, "--only", "method=slow")
    assert code == 0
    assert "2 runs done now, 0 already saved, 0 failed, 2 left out by --only method=slow" in out
    code, out, err = run_cli(capsys, *argv, "--only", "method=slow")
    assert code == 0 and "0 runs done now, 2 already saved" in out
    assert "--only method=slow selected none of the 2 runs left to do" in err
    assert "(2 selected runs are already saved)" in err and "their values: method: fast" in err


@pytest.mark.parametrize("condition", ["method=medium", "problem=quadratic"])
def test_only_matching_no_run_at_all_is_an_error(tmp_path, capsys, condition):
    """A typo in --only (a value or a key no run has) must not look like a successful run."""
    argv = ["run", "toy", "--quick", "--out", str(tmp_path), "--no-progress"]
    code, _, err = run_cli(capsys, *argv, "--only", condition)
    assert code == 2
    assert f"theoropt: error: --only {condition} matches none of the 4 runs planned so far" in err
    assert "their values: " in err


def test_dask_address_and_jobs_together_is_an_error(tmp_path, capsys):
    code, _, err = run_cli(
        capsys, "run", "toy", "--out", str(tmp_path), "--dask", "tcp://h:8786", "--jobs", "2"
    )
    assert code == 2 and "with --dask ADDRESS the cluster's workers decide" in err


def make_store(folder: Path, capsys) -> Path:
    assert run_cli(capsys, "run", "toy", "--quick", "--out", str(folder), "--no-progress")[0] == 0
    return folder / "results.sqlite"


def garbage(store: Path) -> None:
    store.write_bytes(b"this is not a database, " * 100)


def truncated(store: Path) -> None:
    data = store.read_bytes()
    store.write_bytes(data[: len(data) // 3])


def folder(store: Path) -> None:
    store.unlink()
    store.mkdir()


def foreign(store: Path) -> None:
    store.unlink()
    with closing(sqlite3.connect(store)) as connection:
        connection.execute("CREATE TABLE runs (name TEXT)")


@pytest.mark.parametrize("damage", [garbage, truncated, folder, foreign])
@pytest.mark.parametrize("command", ["run", "report"])
def test_a_damaged_store_gives_one_clear_message(tmp_path, capsys, damage, command):
    store = make_store(tmp_path, capsys)
    damage(store)
    argv = ["run", "toy", "--quick", "--out"] if command == "run" else ["report"]
    code, _, err = run_cli(capsys, *argv, str(tmp_path))
    assert code == 2 and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1 and str(store) in err, err
    expected = {
        garbage: "is not a readable theoropt results file (file is not a database)",
        truncated: "is not a readable theoropt results file (database disk image is malformed)",
        folder: "is a folder, not a theoropt results file",
        foreign: "is an SQLite file but not a theoropt results store",
    }
    assert expected[damage] in err


PR_CAPBSET_DROP = 24
ROOT_FILE_POWERS = (1, 2)  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH: root ignores permissions


def drop_root_file_powers() -> None:
    """In the child before exec: without these capabilities root obeys file permissions."""
    libc = ctypes.CDLL(None, use_errno=True)
    for capability in ROOT_FILE_POWERS:
        if libc.prctl(PR_CAPBSET_DROP, capability, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


@pytest.fixture
def read_only_works(tmp_path):
    """Subprocess options under which a read-only file cannot be written, as for a user."""
    options = {"preexec_fn": drop_root_file_powers} if os.geteuid() == 0 else {}
    probe = tmp_path / "probe"
    probe.write_text("")
    probe.chmod(0o444)
    check = [sys.executable, "-c", f"open({str(probe)!r}, 'a')"]
    if subprocess.run(check, capture_output=True, **options).returncode == 0:
        pytest.skip("this machine lets the test user write read-only files")
    return options


def cli_subprocess(options: dict, *argv: str) -> subprocess.CompletedProcess:
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PYTHONPATH": path, "TOY_DELAY": "0", "TOY_LOG": os.devnull}
    command = [sys.executable, "-m", "tests.bench.toy_cli", *argv]
    return subprocess.run(
        command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=120, **options
    )


def test_report_reads_a_read_only_folder_and_writes_elsewhere(tmp_path, capsys, read_only_works):
    results = tmp_path / "results"
    make_store(results, capsys)
    for path in results.iterdir():
        path.chmod(0o444)
    results.chmod(0o555)
    elsewhere = tmp_path / "elsewhere"

    refused = cli_subprocess(read_only_works, "report", str(results))
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert f"cannot write to output folder {results}" in refused.stderr
    assert "use --out to write the report elsewhere" in refused.stderr

    done = cli_subprocess(read_only_works, "report", str(results), "--out", str(elsewhere))
    assert done.returncode == 0, done.stderr
    report = (elsewhere / "report.md").read_text()
    assert "from 8 stored runs" in report and "## toy (quick)" in report
    assert (elsewhere / "figures" / "toy.png").is_file()
    assert sorted(p.name for p in results.iterdir()) == [".theoropt-run.lock", "results.sqlite"]
    results.chmod(0o755)


def test_run_into_a_read_only_store_is_one_clear_message(tmp_path, capsys, read_only_works):
    results = tmp_path / "results"
    store = make_store(results, capsys)
    store.chmod(0o444)
    done = cli_subprocess(read_only_works, "run", "toy", "--quick", "--out", str(results))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert f"theoropt: error: cannot write to {store}: the file is read-only" in done.stderr
    assert sorted(p.name for p in results.iterdir()) == [".theoropt-run.lock", "results.sqlite"]


def test_reading_a_read_only_store_leaves_nothing_that_blocks_writers(
    tmp_path, capsys, read_only_works
):
    """SQLite opening a store it cannot write (in a writable folder) creates -wal/-shm with the
    store's read-only mode and leaves them: once the store was made writable again, every run
    failed with "attempt to write a readonly database". The report must leave nothing."""
    results = tmp_path / "results"
    store = make_store(results, capsys)
    store.chmod(0o444)
    done = cli_subprocess(read_only_works, "report", str(results), "--out", str(tmp_path / "r"))
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in results.iterdir()) == [".theoropt-run.lock", "results.sqlite"]
    store.chmod(0o644)
    again = cli_subprocess(read_only_works, "run", "toy", "--quick", "--out", str(results))
    assert again.returncode == 0, again.stderr


def test_read_only_journal_files_are_named(tmp_path, capsys, read_only_works):
    """-wal/-shm left read-only next to a writable store (by another user's reader, or an older
    theoropt) block writing: the message names them and the fix, not a "readonly database"."""
    results = tmp_path / "results"
    store = make_store(results, capsys)
    for suffix in ("-wal", "-shm"):
        companion = store.with_name(store.name + suffix)
        companion.write_bytes(b"")
        companion.chmod(0o444)
    done = cli_subprocess(read_only_works, "run", "toy", "--quick", "--out", str(results))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.count("theoropt: error:") == 1
    assert f"cannot write to {store}: SQLite's journal file(s) next to it are read-only" in (
        done.stderr
    )
    assert f"chmod u+w {store}-wal {store}-shm" in done.stderr


def test_an_interrupt_python_could_only_ignore_is_raised_later(capsys):
    """A Ctrl-C raised in a callback (CPython prints "Exception ignored in" with a traceback
    and runs on; seen once in CI, in the import system's lock cleanup) is held and raised by
    main() after the imports; other unraisable exceptions go to the previous hook, and main()
    puts the previous hook back."""
    passed_on = []
    hook = cli._DeferredInterrupt(passed_on.append)
    other = types.SimpleNamespace(exc_value=ValueError("x"))
    hook(other)
    hook.raise_pending()  # nothing pending
    assert passed_on == [other]
    hook(types.SimpleNamespace(exc_value=KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        hook.raise_pending()
    before = sys.unraisablehook
    assert run_cli(capsys, "list")[0] == 0
    assert sys.unraisablehook is before


@pytest.mark.parametrize("delay", [0.0, 0.5, 1.5])
def test_ctrl_c_during_start_up_exits_cleanly(delay):
    # -X importtime reports each import on stderr as it completes: theoropt.bench.experiment is
    # the first module main() imports, so the interrupt comes while main() loads the
    # experiments (torch & co., seconds), not in the instants before main() starts
    process = subprocess.Popen(
        [sys.executable, "-X", "importtime", "-m", "theoropt", "list"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    err: list[str] = []
    in_main = threading.Event()

    def read_stderr() -> None:
        for line in process.stderr:
            err.append(line)
            if line.split("|")[-1].strip() == "theoropt.bench.experiment":
                in_main.set()

    reader = threading.Thread(target=read_stderr)
    reader.start()
    assert in_main.wait(60)
    time.sleep(delay)
    os.killpg(process.pid, signal.SIGINT)
    out = process.stdout.read()
    process.wait(60)
    reader.join(60)
    messages = [line for line in err if not line.startswith("import time:")]
    assert "Traceback" not in "".join(messages)
    if out:  # it had finished (an interrupt during the interpreter's exit ends it with -SIGINT)
        assert out.startswith("char-lm") and process.returncode in (0, -signal.SIGINT)
    else:
        assert process.returncode in INTERRUPTED
        assert messages[-1] == "theoropt: interrupted\n"
