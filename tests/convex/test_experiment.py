"""The convex experiment through its contract: plan, execute (deterministic), report."""

from __future__ import annotations

import json
import math

from theoropt.bench.experiment import RunSpec, StoredRun
from theoropt.bench.experiments.convex import EXPERIMENT
from theoropt.bench.registry import get_experiment


def test_registered_and_planned():
    assert get_experiment("convex") is EXPERIMENT
    specs = EXPERIMENT.plan("quick", 2, [])
    assert len({spec.key for spec in specs}) == len(specs)
    for spec in specs:
        json.dumps(dict(spec.config))
    main = [s for s in specs if s.stage == "main"]
    mushrooms = {s.method for s in main if s.config["problem"] == "logreg-mushrooms"}
    assert {"gd", "nesterov", "acc-graal", "adanag", "adgd2", "lbfgs"} <= mushrooms
    robust = {(s.method, json.dumps(s.config["options"])) for s in specs if s.stage == "robust"}
    assert ("adgd2", "{}") in robust and ("ac-fgm", "{}") in robust
    assert ("adanag", '{"eta0": 10000.0}') in robust
    assert not [s for s in main if s.config["problem"] == "cosh" and s.method in ("gd", "nesterov")]
    assert {s.seed for s in specs} == {0, 1}
    for mode in ("default", "full"):
        assert EXPERIMENT.plan(mode, 3, [])


def small(method, problem, seed, stage="main", options=None):
    if options is None:
        options = {"eta0": 1e-10} if method not in ("gd", "nesterov", "lbfgs") else {}
    config = {"problem": problem, "budget": 300, "options": options}
    return RunSpec("convex", "quick", method, config, seed, stage=stage)


def test_execute_is_deterministic_and_report_renders(tmp_path):
    specs = [
        small(method, problem, seed)
        for problem in ("quadratic-random", "cosh")
        for method in ("nesterov", "adgd", "adanag", "acc-graal", "lbfgs")
        for seed in (0, 1)
        if not (problem == "cosh" and method == "nesterov")
    ]
    specs += [small("acc-graal", "cosh", 0, "robust", {"eta0": 1e4})]
    specs += [small("adgd2", "cosh", 0, "robust", {})]
    specs += [small("acc-graal", "cosh", 0, "tuning", {"theta": 0.5, "gamma": 1.0})]
    runs = []
    for spec in specs:
        result = EXPERIMENT.execute(spec)
        lengths = {len(curve) for curve in result.curves.values()}
        assert len(lengths) == 1
        runs.append(StoredRun(spec, result, 0.0, {}, ""))
    again = EXPERIMENT.execute(specs[2])
    first = runs[2].result
    assert again.curves["subopt"] == first.curves["subopt"]
    assert again.metrics["njev"] == first.metrics["njev"]
    robust = runs[-3].result.metrics
    assert robust["diverged"] == 0 and math.isfinite(robust["final_subopt"])

    text = EXPERIMENT.report(runs, tmp_path)
    figures = ("subopt_evals", "subopt_time", "rates", "stepsizes", "stepsize_growth")
    for figure in (f"convex_{name}" for name in figures):
        assert (tmp_path / f"{figure}.png").stat().st_size > 1000
        assert f"figures/{figure}.png" in text
    assert "Where accelerated GRAAL wins and loses" in text and "ratio vs adanag" in text
    assert "geometric against polynomial" in text
    quadratic = [r for r in runs if r.spec.config["problem"] == "quadratic-random"]
    assert all(
        math.isfinite(r.result.metrics["iterations_to_step_0.1/L"])
        for r in quadratic
        if r.spec.method in ("adanag", "acc-graal")
    )
    assert "Robustness" in text and "(theta, gamma) sweep" in text
    partial = EXPERIMENT.report(runs[:3], tmp_path / "partial")  # an interrupted store
    assert "convex_subopt_evals.png" in partial
