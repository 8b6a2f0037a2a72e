import pytest

from tests.bench.toy_experiment import METHODS, ToyExperiment
from theoropt.bench.execution import available_cores
from theoropt.bench.executor import InProcessExecutor
from theoropt.bench.experiment import RunResult, RunSpec
from theoropt.bench.runner import run_experiment
from theoropt.bench.selection import RunFilter
from theoropt.bench.store import ResultsStore
from theoropt.errors import ExperimentError


@pytest.fixture
def store(tmp_path):
    with ResultsStore(tmp_path / "results.sqlite") as opened:
        yield opened


def test_runs_sweep_then_final_with_the_best_rate(store):
    toy = ToyExperiment()
    summary = run_experiment(toy, "quick", 3, store, progress=False)
    assert len(summary.executed) == 4 + 2 * 3
    final = [run for run in store.load("toy", "quick") if run.spec.stage == "final"]
    assert {run.spec.config["rate"] for run in final} == {0.3}  # faster decay wins the sweep
    assert sorted(run.spec.seed for run in final) == [0, 0, 1, 1, 2, 2]
    assert len(final) == len(METHODS) * 3


def test_second_call_redoes_nothing(store):
    run_experiment(ToyExperiment(), "quick", 2, store, progress=False)
    again = ToyExperiment()
    summary = run_experiment(again, "quick", 2, store, progress=False)
    assert again.executed == []
    assert summary.skipped == 8


def test_more_seeds_adds_only_the_new_runs(store):
    run_experiment(ToyExperiment(), "quick", 2, store, progress=False)
    more = ToyExperiment()
    run_experiment(more, "quick", 3, store, progress=False)
    assert len(more.executed) == len(METHODS)
    assert {run.spec.seed for run in store.load() if run.spec.key in more.executed} == {2}


class InterruptedToy(ToyExperiment):
    def __init__(self, interrupt_at: int) -> None:
        super().__init__()
        self.interrupt_at = interrupt_at

    def execute(self, spec: RunSpec) -> RunResult:
        if len(self.executed) == self.interrupt_at:
            raise KeyboardInterrupt
        return super().execute(spec)


def test_interrupt_keeps_finished_runs_and_resume_redoes_none(store):
    first = InterruptedToy(interrupt_at=5)
    with pytest.raises(KeyboardInterrupt):
        run_experiment(first, "quick", 2, store, progress=False)
    saved = store.keys()
    assert saved == set(first.executed) and len(saved) == 5
    second = ToyExperiment()
    run_experiment(second, "quick", 2, store, progress=False)
    assert not saved & set(second.executed)
    assert len(second.executed) == 8 - 5
    assert len(store.keys()) == 8


class FailingToy(ToyExperiment):
    def execute(self, spec: RunSpec) -> RunResult:
        if spec.method == "slow" and spec.config["rate"] == 0.1:
            raise RuntimeError("diverged")
        return super().execute(spec)


def test_a_failing_run_is_reported_not_saved_and_others_go_on(store):
    summary = run_experiment(FailingToy(), "quick", 1, store, progress=False)
    assert [message for _, message in summary.failed] == ["RuntimeError: diverged"]
    stages = [run.spec.stage for run in store.load()]
    # the other sweep runs are saved; the final stage waits for the whole sweep
    assert stages == ["sweep"] * 3


def test_rejects_unknown_mode_and_bad_seeds(store):
    with pytest.raises(ExperimentError, match="unknown mode 'huge'"):
        run_experiment(ToyExperiment(), "huge", 1, store)
    with pytest.raises(ExperimentError, match="seeds must be at least 1"):
        run_experiment(ToyExperiment(), "quick", 0, store)


def test_a_failure_is_recorded_with_its_reason_until_a_retry_succeeds(store):
    run_experiment(FailingToy(), "quick", 1, store, progress=False)
    failures = store._connection.execute("SELECT method, reason FROM failures").fetchall()
    assert failures == [("slow", "RuntimeError: diverged")]
    summary = run_experiment(ToyExperiment(), "quick", 1, store, progress=False)
    assert len(summary.executed) == 1 + 2  # the retried sweep run, then the final stage
    assert store._connection.execute("SELECT count(*) FROM failures").fetchone() == (0,)


class PlanSpy(ToyExperiment):
    """Checks that every run handed to ``plan`` is already saved in the store."""

    def __init__(self, store: ResultsStore) -> None:
        super().__init__()
        self.store = store
        self.plans = 0

    def plan(self, mode, seeds, done):
        assert {run.spec.key for run in done} <= self.store.keys()
        self.plans += 1
        return super().plan(mode, seeds, done)


def test_later_stages_are_planned_only_from_saved_runs(store):
    spy = PlanSpy(store)
    summary = run_experiment(spy, "quick", 2, store, progress=False)
    assert len(summary.executed) == 8 and spy.plans >= 2


def test_only_runs_the_selected_part_of_the_plan(store):
    only = RunFilter.from_texts(["method=slow"])
    summary = run_experiment(ToyExperiment(), "quick", 2, store, progress=False, only=only)
    # the final stage needs the whole sweep, so only the two slow sweep runs can run
    assert [(r.spec.stage, r.spec.method) for r in store.load()] == [("sweep", "slow")] * 2
    assert summary.left_out == 2
    rest = run_experiment(ToyExperiment(), "quick", 2, store, progress=False)
    assert rest.skipped == 2 and len(rest.executed) == 2 + 4


class CrowdedExecutor(InProcessExecutor):
    """Pretends to run one run more at once than this machine has cores."""

    runs_at_once = available_cores() + 1


def test_more_runs_at_once_than_cores_is_warned_about(store, caplog):
    run_experiment(ToyExperiment(), "quick", 1, store, progress=False, executor=CrowdedExecutor())
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert warnings == [
        f"{available_cores() + 1} runs at once with up to 1 threads each exceed the "
        f"{available_cores()} cores of this machine: they share them (same results, slower); "
        f"use --jobs {available_cores()}"
    ]
    caplog.clear()
    run_experiment(ToyExperiment(), "quick", 2, store, progress=False)
    assert not [r for r in caplog.records if r.levelname == "WARNING"]
