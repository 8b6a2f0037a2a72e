"""The two Swiss-roll benchmarks of the ``ebieot`` experiment (their runs and report sections).

* ``rotation`` — the EBiEOT authors' benchmark (:func:`theoropt.ot.toy.rotation_swiss_roll`):
  x ~ N(0, I_2) coupled to the Swiss roll by the entropic plan for the rotation cost at reg
  0.05. The quadratic cost is wrong here, so LightSB is misspecified and learning the cost from
  pairs is what the method is for.
* ``swissroll`` — the same marginals coupled by entropic OT for ``||x - y||^2 / 2`` at eps 0.1
  (:func:`theoropt.ot.toy.entropic_swiss_roll`): exactly LightSB's model, so it is
  well-specified for LightSB.

Methods: EBiEOT with the authors' training (``paper``: their defaults, eps 1, 25,001 steps) and
ours (``block``), each also on the pairs alone (``*_paired``); the block model on the pairs
alone with its default options (``block_paired_default``); LightSB on the unpaired data only;
kernel-ridge regression and a small conditional normalising flow on the pairs.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from theoropt.bench.experiment import RunResult, RunSpec, StoredRun, select
from theoropt.bench.plots import save_figure, subplots
from theoropt.bench.tables import markdown_table, mean_std
from theoropt.ot.baselines import ConditionalFlow, MeanRegression
from theoropt.ot.ebieot import EBiEOT, LightSB
from theoropt.ot.metrics import energy_distance, median_bandwidths, mmd, sinkhorn_divergence
from theoropt.ot.toy import EntropicSwissRoll, entropic_swiss_roll, rotation_swiss_roll

METHODS = (
    "paper",
    "paper_paired",
    "block",
    "block_paired",
    "block_paired_default",
    "lightsb",
    "regression",
    "flow",
)
#: our block scheme's options on both Swiss rolls (chosen on the quadratic one: docs/ot.md)
BLOCK_OPTIONS: dict[str, Any] = {
    "eps": 0.1,
    "n_costs": 5,
    "hidden": 16,
    "warmup_steps": 200,
    "batch_size": 128,
}
BLOCK_DEFAULT_OPTIONS: dict[str, Any] = {"eps": 0.1, "batch_size": 128}
LIGHTSB_OPTIONS: dict[str, Any] = {"eps": 0.1, "batch_size": 128}
#: the authors' three conditional test points (their Swiss-roll notebooks)
AUTHORS_PROBES = np.array([[-2.0, 0.0], [2.0, 2.0], [0.0, 0.0]])
PROBE_SAMPLES = 128
BENCHMARKS = {
    "rotation": "The authors' benchmark: rotation cost, reg 0.05 (LightSB misspecified)",
    "swissroll": "Quadratic cost, eps 0.1: well-specified for LightSB",
}


def truth_of(stage: str) -> EntropicSwissRoll:
    return rotation_swiss_roll(0.05) if stage == "rotation" else entropic_swiss_roll(0.1)


@cache
def bandwidths_of(stage: str) -> tuple[float, ...]:
    """The authors' MMD kernel widths: median heuristic on 256 true pairs (x and y together)."""
    x, y = truth_of(stage).sample_pairs(256, np.random.default_rng(0))
    return tuple(median_bandwidths(np.vstack([x, y])))


def make_model(method: str, config: dict[str, Any], seed: int) -> Any:
    common: dict[str, Any] = {"seed": seed, "progress": False}
    if method.startswith("paper"):
        return EBiEOT(scheme="paper", steps=config["paper_steps"], **common)
    if method == "lightsb":
        return LightSB(scheme="block", steps=config["steps"], **LIGHTSB_OPTIONS, **common)
    if method == "regression":
        return MeanRegression()
    if method == "flow":
        return ConditionalFlow(steps=config["flow_steps"], seed=seed)
    options = BLOCK_DEFAULT_OPTIONS if method == "block_paired_default" else BLOCK_OPTIONS
    return EBiEOT(scheme="block", steps=config["steps"], **options, **common)


def fit(method: str, model: Any, data: dict[str, np.ndarray], seed: int) -> Any:
    """Fit as the method allows: unpaired only (LightSB), pairs only, or both."""
    if method == "lightsb":
        return model.fit(data["xu"], data["yu"])
    if method == "regression":
        return model.fit(data["xp"], data["yp"], seed=seed)
    if method in ("paper", "block"):
        return model.fit(data["xp"], data["yp"], data["xu"], data["yu"])
    return model.fit(data["xp"], data["yp"])


def training_curves(model: Any, points: int = 200) -> dict[str, list[float]]:
    """The EBiEOT loss histories, thinned to about ``points`` values each."""
    if not isinstance(model, EBiEOT):
        return {}
    history, curves = model.history_, {}
    for name in ("dual", "paired"):
        values = getattr(history, name)
        if values:
            every = max(1, len(values) // points)
            offset = len(history.dual) - len(values)  # the warm-up's dual-only steps
            curves[f"{name}_step"] = [float(offset + s) for s in range(0, len(values), every)]
            curves[f"{name}_loss"] = values[::every]
    return curves


def run(spec: RunSpec) -> RunResult:
    config, truth = dict(spec.config), truth_of(spec.stage)
    rng = np.random.default_rng((1000 if spec.stage == "swissroll" else 2000) + spec.seed)
    xp, yp = truth.sample_pairs(config["n_pairs"], rng)
    xu = truth.sample_x(config["n_unpaired"], rng)
    _, yu = truth.sample_pairs(config["n_unpaired"], rng)  # y-marginal, independent of xu
    x_test = truth.sample_x(64, rng)
    y_test = truth.sample_conditional(x_test, 256, rng)
    x_marginal = truth.sample_x(1024, rng)
    _, y_marginal = truth.sample_pairs(1024, rng)
    y_probes = truth.sample_conditional(AUTHORS_PROBES, PROBE_SAMPLES, rng)
    start = time.perf_counter()
    model = make_model(spec.method, config, spec.seed)
    model = fit(spec.method, model, {"xp": xp, "yp": yp, "xu": xu, "yu": yu}, spec.seed)
    fit_seconds = time.perf_counter() - start
    widths = list(bandwidths_of(spec.stage))
    probes = model.sample(AUTHORS_PROBES, PROBE_SAMPLES)
    y_model = model.sample(x_marginal, 1)[:, 0]
    metrics = {
        "cond_energy": float(np.mean(energy_distance(model.sample(x_test, 256), y_test))),
        "cond_mmd": float(
            np.mean([mmd(p, t, widths) for p, t in zip(probes, y_probes, strict=True)])
        ),
        "cond_sinkhorn": float(
            np.mean([sinkhorn_divergence(p, t) for p, t in zip(probes, y_probes, strict=True)])
        ),
        "marginal_energy": float(energy_distance(y_model, y_marginal)),
        "marginal_mmd": mmd(y_model, y_marginal, widths),
        "fit_seconds": fit_seconds,
    }
    curves = training_curves(model)
    curves["probe_samples"] = probes[:, :100].reshape(-1).tolist()
    return RunResult(metrics, curves)


# ------------------------------------------------------------------------------ report
def by_pairs(runs: Sequence[StoredRun], method: str) -> dict[int, dict[int, StoredRun]]:
    """``n_pairs -> seed -> run`` for one method (LightSB's runs sit at 0 pairs)."""
    groups: dict[int, dict[int, StoredRun]] = {}
    for run_ in select(runs, method=method):
        groups.setdefault(run_.spec.config["n_pairs"], {})[run_.spec.seed] = run_
    return dict(sorted(groups.items()))


def pair_grid(runs: Sequence[StoredRun]) -> list[int]:
    return sorted({r.spec.config["n_pairs"] for r in runs if r.spec.method != "lightsb"})


def runs_at(runs: Sequence[StoredRun], method: str, n_pairs: int) -> dict[int, StoredRun]:
    groups = by_pairs(runs, method)
    return groups.get(0 if method == "lightsb" else n_pairs, {})


def metric_rows(runs: Sequence[StoredRun], metric: str) -> list[list[str]]:
    rows = []
    for n_pairs in pair_grid(runs):
        row = [str(n_pairs)]
        for method in METHODS:
            group = runs_at(runs, method, n_pairs).values()
            row.append(mean_std([r.result.metrics[metric] for r in group]) if group else "-")
        rows.append(row)
    return rows


def seed_verdict(
    runs: Sequence[StoredRun], ours: str, rival: str, n_pairs: int, metric: str = "cond_energy"
) -> str:
    """``ours`` against ``rival`` seed by seed: the seeds where ours is lower, and both means."""
    a, b = runs_at(runs, ours, n_pairs), runs_at(runs, rival, n_pairs)
    seeds = sorted(set(a) & set(b))
    if not seeds:
        return f"{ours} vs {rival}: no common seeds"
    values = [(a[s].result.metrics[metric], b[s].result.metrics[metric]) for s in seeds]
    wins = [s for s, (x, y) in zip(seeds, values, strict=True) if x < y]
    per_seed = ", ".join(f"{x:.3g}/{y:.3g}" for x, y in values)
    mean_a, mean_b = np.mean([v[0] for v in values]), np.mean([v[1] for v in values])
    return (
        f"{ours} lower than {rival} in {len(wins)} of {len(seeds)} seeds "
        f"(per seed {per_seed}; means {mean_a:.3g} vs {mean_b:.3g})"
    )


def verdicts(runs: Sequence[StoredRun]) -> list[str]:
    lines = []
    for n_pairs in pair_grid(runs):
        for scheme in ("paper", "block"):
            help_ = seed_verdict(runs, scheme, f"{scheme}_paired", n_pairs)
            beat = seed_verdict(runs, scheme, "lightsb", n_pairs)
            lines.append(
                f"* {n_pairs} pairs, {scheme}: unpaired data helps? {help_}. Beats LightSB? {beat}."
            )
    return lines


def metric_vs_pairs_figure(runs: Sequence[StoredRun], path: Path) -> None:
    fig, axes = subplots(2)
    grid = pair_grid(runs)
    for ax, metric in zip(axes, ("cond_energy", "cond_mmd"), strict=True):
        lowest = np.inf
        for method in METHODS:
            found = [(n, runs_at(runs, method, n)) for n in grid]
            points = [(n, [r.result.metrics[metric] for r in g.values()]) for n, g in found if g]
            if not points:
                continue
            xs = [n for n, _ in points]
            centre = [float(np.mean(v)) for _, v in points]
            low = [c - min(v) for c, (_, v) in zip(centre, points, strict=True)]
            high = [max(v) - c for c, (_, v) in zip(centre, points, strict=True)]
            ax.errorbar(xs, centre, yerr=[low, high], marker="o", capsize=3, label=method)
            lowest = min(lowest, *(min(v) for _, v in points))
        ax.set_xscale("log")
        # The unbiased estimators can be negative near zero: a log axis only when none is.
        if lowest > 0:
            ax.set_yscale("log")
        else:
            ax.set_yscale("symlog", linthresh=1e-3)
        ax.set_xlabel("number of pairs")
        ax.set_ylabel(f"{metric} (mean, min-max over seeds)")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize="small")
    save_figure(fig, path)


def samples_figure(runs: Sequence[StoredRun], stage: str, path: Path, n_pairs: int) -> None:
    truth = truth_of(stage)
    panels = [("truth", truth.sample_conditional(AUTHORS_PROBES, 100, np.random.default_rng(0)))]
    for method in METHODS:
        chosen = runs_at(runs, method, n_pairs).get(0)
        if chosen is not None:
            flat = np.asarray(chosen.result.curves["probe_samples"])
            panels.append((method, flat.reshape(len(AUTHORS_PROBES), -1, 2)))
    fig, axes = subplots(len(panels), width=3.6, height=3.4)
    for ax, (title, samples) in zip(axes, panels, strict=True):
        ax.scatter(truth.support[:, 0], truth.support[:, 1], s=1, color="0.85")
        for k, probe in enumerate(AUTHORS_PROBES):
            ax.scatter(samples[k][:, 0], samples[k][:, 1], s=3, alpha=0.5, color=f"C{k}")
            ax.scatter(probe[0], probe[1], marker="x", s=60, color=f"C{k}")
        ax.set_title(title if title in ("truth", "lightsb") else f"{title} ({n_pairs} pairs)")
        ax.set_xlim(-3, 3)
        ax.set_ylim(-3, 3)
    save_figure(fig, path)


def section(runs: Sequence[StoredRun], stage: str, figures: Path) -> str:
    if not runs:
        return ""
    grid = pair_grid(runs)
    metric_vs_pairs_figure(runs, figures / f"ebieot_{stage}_metric_vs_pairs.png")
    probe_pairs = 128 if 128 in grid else grid[0]
    samples_figure(runs, stage, figures / f"ebieot_{stage}_samples.png", probe_pairs)
    steps = sorted({r.spec.config.get("paper_steps", 0) for r in runs})
    tables = []
    for metric, what in (
        ("cond_energy", "conditional energy distance over 64 held-out x (ours)"),
        ("cond_mmd", "conditional MMD at the authors' three test points (theirs)"),
        ("cond_sinkhorn", "conditional Sinkhorn divergence at the same points (theirs)"),
        ("marginal_mmd", "MMD of the y-marginal (their unconditional metric)"),
    ):
        tables += [f"{what}:", "", markdown_table(["pairs", *METHODS], metric_rows(runs, metric))]
        tables.append("")
    return "\n".join(
        [
            f"### {BENCHMARKS[stage]}",
            "",
            "Pairs plus 1024 unpaired x and 1024 unpaired y; mean ± std over seeds (lower is "
            "better everywhere). paper: EBiEOT as its authors train it (scheme='paper', their "
            f"defaults, eps 1, {', '.join(map(str, steps))} steps); block: ours "
            f"(scheme='block', {BLOCK_OPTIONS}); *_paired: the same on the pairs alone; "
            "block_paired_default: the block model on the pairs with its default options; "
            "lightsb: unpaired data only (the same value in every row); regression, flow: "
            "pairs only. Energy distances from 256 model and 256 true samples; MMD and Sinkhorn "
            f"divergence from {PROBE_SAMPLES} samples at x in {AUTHORS_PROBES.tolist()}.",
            "",
            *tables,
            f"![metric vs pairs](figures/ebieot_{stage}_metric_vs_pairs.png)",
            f"![samples](figures/ebieot_{stage}_samples.png)",
            "",
            fit_seconds_note(runs),
            "",
            "**Seed-by-seed verdicts** (conditional energy distance, ours/rival per seed):",
            "",
            *verdicts(runs),
        ]
    )


def fit_seconds_note(runs: Sequence[StoredRun]) -> str:
    """Mean fit time per method, to size the modes."""
    parts = []
    for method in METHODS:
        values = [r.result.metrics["fit_seconds"] for r in select(runs, method=method)]
        if values:
            parts.append(f"{method} {np.mean(values):.3g} s")
    return "Mean fit time: " + ", ".join(parts) + "." if parts else ""
