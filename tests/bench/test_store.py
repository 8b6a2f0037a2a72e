import math

import pytest

from theoropt.bench.experiment import RunResult, RunSpec
from theoropt.bench.store import ResultsStore, StoreError


def spec(seed: int = 0, **config: float) -> RunSpec:
    return RunSpec("exp", "quick", "method", config or {"lr": 0.1}, seed)


def test_saved_runs_survive_reopening(tmp_path):
    path = tmp_path / "results.sqlite"
    with ResultsStore(path) as store:
        store.save(spec(0), RunResult({"loss": 1.5}, {"x": [0, 1], "y": [2.0, 1.0]}), 0.25, {})
        store.save(spec(1), RunResult({"loss": math.nan}), 0.5, {"torch": "2.13.0"})
    with ResultsStore(path) as store:
        runs = store.load("exp", "quick")
    assert [run.spec.seed for run in runs] == [0, 1]
    assert runs[0].result.curves == {"x": [0.0, 1.0], "y": [2.0, 1.0]}
    assert runs[0].result.metrics == {"loss": 1.5}
    assert math.isnan(runs[1].result.metrics["loss"])
    assert runs[1].versions == {"torch": "2.13.0"}
    assert runs[1].wall_time == 0.5


def test_key_depends_on_every_part_of_the_spec():
    base = spec(0, lr=0.1)
    variants = [
        spec(1, lr=0.1),
        spec(0, lr=0.2),
        RunSpec("exp", "full", "method", {"lr": 0.1}, 0),
        RunSpec("exp", "quick", "other", {"lr": 0.1}, 0),
        RunSpec("exp", "quick", "method", {"lr": 0.1}, 0, "sweep"),
    ]
    assert len({base.key, *(v.key for v in variants)}) == 1 + len(variants)
    assert (
        RunSpec("exp", "quick", "method", {"b": 1, "a": 2}, 0).key
        == RunSpec("exp", "quick", "method", {"a": 2, "b": 1}, 0).key
    )


def test_filters_by_experiment_and_mode(tmp_path):
    with ResultsStore(tmp_path / "r.sqlite") as store:
        store.save(spec(0), RunResult({"m": 1.0}), 0.1, {})
        store.save(RunSpec("other", "quick", "m", {}, 0), RunResult({"m": 2.0}), 0.1, {})
        store.save(RunSpec("exp", "full", "m", {}, 0), RunResult({"m": 3.0}), 0.1, {})
        assert len(store.load()) == 3
        assert [r.result.metrics["m"] for r in store.load("exp", "quick")] == [1.0]
        assert [r.result.metrics["m"] for r in store.load("exp", "full")] == [3.0]


def test_rejects_non_numeric_metrics(tmp_path):
    with ResultsStore(tmp_path / "r.sqlite") as store:
        with pytest.raises(TypeError, match="metric 'loss'"):
            store.save(spec(), RunResult({"loss": "low"}), 0.1, {})
        assert store.load() == []


def test_records_invocations_once_each(tmp_path):
    with ResultsStore(tmp_path / "r.sqlite") as store:
        store.record_invocation(["theoropt", "run", "a"])
        store.record_invocation(["theoropt", "run", "b"])
        store.record_invocation(["theoropt", "run", "a"])
        assert store.invocations() == ["theoropt run a", "theoropt run b"]


def test_read_only_store_reads_and_refuses_writes(tmp_path):
    path = tmp_path / "results.sqlite"
    with ResultsStore(path) as store:
        store.save(spec(0), RunResult({"loss": 1.5}), 0.25, {})
        store.record_invocation(["theoropt", "run", "exp"])
    with ResultsStore(path, read_only=True) as store:
        assert [run.result.metrics for run in store.load()] == [{"loss": 1.5}]
        assert store.invocations() == ["theoropt run exp"]
        with pytest.raises(StoreError, match=f"cannot write to {path}: .*read-only"):
            store.save(spec(1), RunResult({"loss": 2.0}), 0.25, {})


def test_a_row_that_does_not_match_its_key_is_reported(tmp_path):
    path = tmp_path / "results.sqlite"
    with ResultsStore(path) as store:
        store.save(spec(0), RunResult({"loss": 1.5}), 0.25, {})
        store._connection.execute("UPDATE runs SET seed = 7")
        store._connection.commit()
        with pytest.raises(StoreError, match="does not match its own configuration"):
            store.load()
