"""The character GPT, its training loop and the char-lm experiment's plan and report."""

import math
import re
from dataclasses import replace

import numpy as np
import pytest
import torch

from theoropt.bench.experiment import RunResult, RunSpec, StoredRun
from theoropt.bench.experiments.char_lm import (
    EXPERIMENT,
    FULL_BUDGET_SWEEP,
    LEARNING_RATES,
    SETTINGS,
    SOFT_METHODS,
    _at_chosen_rates,
)
from theoropt.bench.registry import get_experiment
from theoropt.errors import ExperimentError
from theoropt.optim.models import CharGPT, GPTConfig
from theoropt.optim.training import (
    ALL_METHODS,
    METHODS,
    MUON_ABLATIONS,
    TrainConfig,
    make_optimizer,
    warmup_cosine,
)

TINY = dict(
    steps=10, batch_size=2, context=8, n_layer=1, n_head=2, d_model=8, eval_every=5, eval_batches=1
)


def test_gpt_is_causal_and_checks_its_input():
    torch.manual_seed(0)
    model = CharGPT(GPTConfig(vocab_size=11, context=8, n_layer=2, n_head=2, d_model=16))
    ids = torch.randint(0, 11, (2, 8))
    changed = ids.clone()
    changed[:, 5:] = (changed[:, 5:] + 1) % 11
    out, out_changed = model(ids), model(changed)
    assert out.shape == (2, 8, 11)
    torch.testing.assert_close(out[:, :5], out_changed[:, :5])
    assert not torch.allclose(out[:, 5:], out_changed[:, 5:])
    with pytest.raises(ValueError, match="context"):
        model(torch.zeros(1, 9, dtype=torch.long))
    with pytest.raises(ValueError, match="divisible"):
        GPTConfig(vocab_size=5, n_head=3, d_model=8)


def test_warmup_cosine_schedule():
    factor = warmup_cosine(100, 0.1, 0.1)
    assert factor(0) == pytest.approx(0.1) and factor(9) == pytest.approx(1.0)
    assert factor(99) == pytest.approx(0.1, abs=1e-3)
    assert all(factor(k) >= factor(k + 1) for k in range(10, 99))


@pytest.mark.parametrize("method", list(METHODS))
def test_every_method_trains_reproducibly(method):
    lr = LEARNING_RATES["quick"][method][1]
    config = dict(method=method, lr=lr, threads=1, corpus="tinyshakespeare", **TINY)
    spec = RunSpec("char-lm", "quick", method, config, 0)
    first, second = EXPERIMENT.execute(spec), EXPERIMENT.execute(spec)
    assert first.metrics == {
        **second.metrics,
        "tokens_per_s": first.metrics["tokens_per_s"],
        "optimizer_ms": first.metrics["optimizer_ms"],
    }
    assert first.curves["val_loss"] == second.curves["val_loss"]
    assert len(first.curves["tokens"]) == len(first.curves["val_loss"]) == 3
    assert math.isfinite(first.metrics["final_val_loss"])
    assert ("temperature" in first.curves) == METHODS[method].soft


def test_unknown_method_is_an_error():
    with pytest.raises(ValueError, match="unknown method"):
        TrainConfig(method="sgd", lr=0.1, steps=1)
    with pytest.raises(ValueError, match="unknown method"):
        make_optimizer("sgd", CharGPT(GPTConfig(vocab_size=3)), 0.1, 1, 1e-3)
    with pytest.raises(ValueError, match="precision"):
        TrainConfig(method="adamw", lr=0.1, steps=1, precision="float16")


def stored(spec: RunSpec, loss: float, temperatures=()) -> StoredRun:
    curves = {"tokens": [0.0, 10.0], "val_loss": [4.0, loss]}
    if temperatures:
        curves["temperature_step"] = [float(i) for i in range(len(temperatures))]
        curves["temperature"] = list(temperatures)
    metrics = dict(
        final_val_loss=loss,
        best_val_loss=loss,
        tokens_per_s=1e3,
        optimizer_ms=1.0,
        diverged=float(not math.isfinite(loss)),
    )
    return StoredRun(spec, RunResult(metrics, curves), 1.0, {}, "")


def test_plan_sweeps_first_then_runs_the_best_rates_over_seeds_and_fractions(tmp_path):
    assert get_experiment("char-lm") is EXPERIMENT
    sweep = EXPERIMENT.plan("quick", 3, [])
    assert {s.stage for s in sweep} == {"sweep"}
    assert len(sweep) == sum(len(LEARNING_RATES["quick"][m]) for m in METHODS)
    for spec in sweep:  # the normalized methods are swept on the final budget
        assert spec.config["steps"] == (200 if spec.method in FULL_BUDGET_SWEEP else 80)
    rng = np.random.default_rng(0)
    done = []
    for spec in sweep:
        loss = (
            math.nan
            if spec.config["lr"] == max(LEARNING_RATES["quick"][spec.method])
            else 2 + rng.random()
        )
        done.append(stored(spec, loss))
    plan = EXPERIMENT.plan("quick", 3, done)
    final = [s for s in plan if s.stage == "final"]
    fraction = [s for s in plan if s.stage == "fraction"]
    assert len(final) == 3 * len(METHODS)
    assert len(fraction) == 3 * len(SOFT_METHODS) * len(SETTINGS["quick"]["fractions"])
    assert {s.config["sign_fraction"] for s in fraction} == set(SETTINGS["quick"]["fractions"])
    for method in METHODS:
        candidates = [
            r
            for r in done
            if r.spec.method == method and math.isfinite(r.result.metrics["final_val_loss"])
        ]
        best = min(candidates, key=lambda r: r.result.metrics["final_val_loss"]).spec.config["lr"]
        chosen = {s.config["lr"] for s in final + fraction if s.method == method}
        assert chosen == {best}
        assert {s.config["steps"] for s in final if s.method == method} == {200}
        assert ("sign_fraction" in final[[s.method for s in final].index(method)].config) == (
            method in SOFT_METHODS
        )

    names = list(METHODS)
    runs = done + [
        stored(
            s,
            2.0 + 0.01 * s.seed + 0.1 * names.index(s.method) + 0.05 * (s.stage == "fraction"),
            (20.0, 10.0) if s.method in SOFT_METHODS else (),
        )
        for s in final + fraction
    ]
    stale = replace(sweep[0], config={**sweep[0].config, "steps": 7})  # an earlier budget
    text = EXPERIMENT.report([*runs, stored(stale, 0.5)], tmp_path)
    assert EXPERIMENT.plan("quick", 3, [*done, stored(stale, 0.5)]) == plan
    assert "0.5000" not in text
    assert (tmp_path / "char_lm_val_loss.png").stat().st_size > 0
    assert (tmp_path / "char_lm_temperature.png").stat().st_size > 0
    assert "(chosen)" in text and "### Verdict" in text and "### Share of sign steps" in text
    # softsignum (index 2) is worse than signum (index 1) by 0.1 with seed noise 0.01
    assert "SoftSignum − Signum: +0.1000 ± 0 (paired by seed)" in text
    assert "SoftMuon+AdamW (paper) − Muon+AdamW (paper): +0.1000 ± " in text
    assert re.search(r"\| SoftSignum +\| 0.5 +\| 2.2600 ± 0.0100 +\| \+0.1500 ± ", text)
    assert "does not hold" in text


def test_verdict_compares_each_soft_variant_with_its_own_hard_counterpart():
    final = []
    for method in METHODS:
        for seed in range(3):
            spec = RunSpec("char-lm", "quick", method, {"lr": 0.1}, seed, "final")
            soft = METHODS[method].soft
            final.append(stored(spec, 2.0 + 0.05 * seed - 0.001 * soft))
    text = EXPERIMENT._verdict(final)
    for soft in SOFT_METHODS:
        hard = METHODS[METHODS[soft].hard].label
        line = f"{METHODS[soft].label} − {hard}: -0.0010 ± 0 (paired by seed): practically equal"
        assert line in text
    assert text.count(" − AdamW: ") == len(SOFT_METHODS)


def test_muon_ablations_differ_from_exact_muon_in_one_setting_each():
    model = CharGPT(GPTConfig(vocab_size=5))
    make = {name: ALL_METHODS[name].make for name in ("muon", "muon-paper", *MUON_ABLATIONS)}
    optimizers = {name: m(model, 0.02, 10, 3e-3, 0.9) for name, m in make.items()}

    def settings(optimizer):
        groups = optimizer.param_groups
        return dict(
            variant=groups[0]["variant"],
            ns_dtype=groups[0]["ns_dtype"],
            eps=next(g["eps"] for g in groups if not g["use_muon"]),
        )

    exact = settings(optimizers["muon"])
    assert exact == dict(variant="exact", ns_dtype="auto", eps=1e-8)
    assert settings(optimizers["muon-paper"]) == dict(variant="paper", ns_dtype="auto", eps=1e-10)
    assert settings(optimizers["muon-exact+zero-start"]) == dict(
        variant="paper", ns_dtype="float32", eps=1e-8
    )
    assert settings(optimizers["muon-exact+bf16"]) == {**exact, "ns_dtype": "bfloat16"}
    assert settings(optimizers["muon-exact+eps1e-10"]) == {**exact, "eps": 1e-10}
    assert settings(optimizers["muon-paper+gradient-start"]) == dict(
        variant="exact", ns_dtype="bfloat16", eps=1e-10
    )


def test_gpu_mode_plans_the_python_corpus_and_trains_on_it_in_bfloat16_autocast():
    """The full (GPU) mode's path on tiny settings on the CPU: corpus built from this Python's
    sources (recorded by checksum in every run's configuration), bfloat16 autocast."""
    sweep = EXPERIMENT.plan("full", 1, [])
    config = sweep[0].config
    assert config["corpus"] == "python-stdlib" and len(config["corpus_sha256"]) == 64
    assert config["precision"] == "bfloat16-autocast" and config["d_model"] == 512
    assert SETTINGS["full"]["fractions"] == ()
    tiny = {**config, **TINY, "steps": 2, "eval_every": 1, "method": "softmuon-paper", "lr": 0.02}
    result = EXPERIMENT.execute(RunSpec("char-lm", "full", "softmuon-paper", tiny, 0))
    assert len(result.curves["val_loss"]) == 3
    assert all(math.isfinite(v) for v in result.curves["val_loss"])
    assert result.metrics["final_val_loss"] < math.log(98) + 0.5  # 98 symbols, near uniform
    wrong = {**tiny, "corpus_sha256": "0" * 64}
    with pytest.raises(ExperimentError, match="same Python installation"):
        EXPERIMENT.execute(RunSpec("char-lm", "full", "softmuon-paper", wrong, 0))


def test_report_uses_the_runs_at_the_rate_the_sweep_chooses():
    """Runs stored under an earlier grid (another chosen rate) stay out of the comparison."""
    sweep = [
        stored(RunSpec("char-lm", "quick", m, {"lr": lr, "steps": 5}, 0, "sweep"), loss)
        for m in ("signum", "softsignum")
        for lr, loss in ((0.1, 3.0), (0.2, 2.5))
    ]
    final = [
        stored(RunSpec("char-lm", "quick", m, {"lr": lr}, seed, "final"), loss + 0.01 * seed)
        for m, offset in (("signum", 0.0), ("softsignum", 0.05))
        for lr, loss in ((0.1, 1.0 + offset), (0.2, 2.0 + offset))
        for seed in range(3)
    ]
    kept = _at_chosen_rates(final, sweep)
    assert {r.spec.config["lr"] for r in kept} == {0.2} and len(kept) == 6
    assert "SoftSignum − Signum: +0.0500 ± " in EXPERIMENT._verdict(kept)
