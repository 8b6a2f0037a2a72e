"""The Swiss-roll report of the ``ebieot`` experiment: seed-by-seed verdicts and tables from
stored runs (fabricated here, so the counting can be checked by hand)."""

from __future__ import annotations

from pathlib import Path

from theoropt.bench.experiment import RunResult, RunSpec, StoredRun
from theoropt.bench.experiments import ebieot_swissroll as swiss
from theoropt.ot.toy import rotation_swiss_roll

METRICS = ("cond_energy", "cond_mmd", "cond_sinkhorn", "marginal_mmd", "fit_seconds")


def stored(method: str, seed: int, n_pairs: int, value: float) -> StoredRun:
    config = {"n_pairs": n_pairs, "n_unpaired": 1024, "steps": 1, "paper_steps": 1}
    spec = RunSpec("ebieot", "quick", method, config, seed, "rotation")
    curves = {"probe_samples": [0.0] * (3 * 2 * 2)}
    return StoredRun(spec, RunResult(dict.fromkeys(METRICS, value), curves), 1.0, {}, "now")


def test_seed_verdict_counts_wins_and_report_renders(tmp_path: Path, monkeypatch) -> None:
    # paper beats paper_paired in seeds 0 and 2, loses in seed 1; lightsb sits at 0 pairs
    runs = [
        stored("paper", 0, 128, 0.5),
        stored("paper", 1, 128, 0.9),
        stored("paper", 2, 128, 0.4),
        stored("paper_paired", 0, 128, 0.6),
        stored("paper_paired", 1, 128, 0.8),
        stored("paper_paired", 2, 128, 0.7),
        stored("lightsb", 0, 0, 0.45),
        stored("lightsb", 1, 0, 0.45),
    ]
    verdict = swiss.seed_verdict(runs, "paper", "paper_paired", 128)
    assert verdict.startswith("paper lower than paper_paired in 2 of 3 seeds")
    assert "means 0.6 vs 0.7" in verdict
    assert "lightsb in 0 of 2 seeds" in swiss.seed_verdict(runs, "paper", "lightsb", 128)
    small = rotation_swiss_roll(0.05, n_support=200, n_reference=400)
    monkeypatch.setattr(swiss, "truth_of", lambda stage: small)
    text = swiss.section(runs, "rotation", tmp_path)
    assert "The authors' benchmark" in text and "| 128 " in text
    assert (tmp_path / "ebieot_rotation_metric_vs_pairs.png").exists()
