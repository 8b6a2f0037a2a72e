"""``char-lm``: SoftSignum / SoftMuon against Signum, Muon and AdamW on a character GPT.

Stage ``sweep``: each method at a few learning rates on a shorter budget (seed 0); stage
``final``: each method at its best rate on the full token budget over several seeds. The model,
data and training loop live in :mod:`theoropt.optim.models` and :mod:`theoropt.optim.training`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from theoropt.bench.experiment import Experiment, RunResult, RunSpec, StoredRun, select
from theoropt.bench.plots import plot_band, save_figure, subplots
from theoropt.bench.tables import markdown_table, mean_std, metric_table
from theoropt.data.text import char_corpus
from theoropt.errors import ExperimentError
from theoropt.optim.training import METHODS, SOFT_METHODS, TrainConfig, train_char_lm

LEARNING_RATES = {
    "quick": {
        "adamw": (1e-3, 3e-3, 1e-2),
        "signum": (3e-4, 1e-3, 3e-3),
        "softsignum": (3e-4, 1e-3, 3e-3),
        "muon": (0.01, 0.03, 0.1),
        "softmuon": (0.01, 0.03, 0.1),
    },
    "larger": {
        "adamw": (3e-4, 1e-3, 3e-3, 1e-2),
        "signum": (3e-4, 1e-3, 3e-3, 1e-2),
        "softsignum": (3e-4, 1e-3, 3e-3, 1e-2),
        "muon": (0.01, 0.03, 0.1, 0.3),
        "softmuon": (0.01, 0.03, 0.1, 0.3),
    },
}
"""Sweep grids: ``quick`` for the quick and default modes, ``larger`` for full."""

SETTINGS = {
    "quick": dict(
        model=dict(n_layer=2, n_head=4, d_model=64, context=64),
        batch_size=16,
        steps=200,
        sweep_steps=80,
        eval_every=20,
        eval_batches=8,
        threads=1,
        rates="quick",
    ),
    "default": dict(
        model=dict(n_layer=4, n_head=4, d_model=128, context=128),
        batch_size=16,
        steps=600,
        sweep_steps=200,
        eval_every=50,
        eval_batches=8,
        threads=2,
        rates="quick",
    ),
    "full": dict(
        model=dict(n_layer=4, n_head=8, d_model=256, context=256),
        batch_size=32,
        steps=3000,
        sweep_steps=600,
        eval_every=100,
        eval_batches=16,
        threads=2,
        rates="larger",
    ),
}
"""Per mode. Measured on the shared 2-core CPU (1 thread): quick ~3 min in all; default ~0.35 s
per step, about 1 h 10 min; full ~8 s per step (~125 h): meant for a GPU, which every mode uses
when one is present (the device is part of each run's configuration)."""

NEGLIGIBLE = 0.01
"""Differences of final validation loss below this (nats/char) are reported as practically equal."""

LABELS = {
    "adamw": "AdamW",
    "signum": "Signum",
    "softsignum": "SoftSignum",
    "muon": "Muon+AdamW",
    "softmuon": "SoftMuon+AdamW",
}


def _config(mode: str, method: str, lr: float, stage: str) -> dict:
    settings = SETTINGS[mode]
    steps = settings["sweep_steps"] if stage == "sweep" else settings["steps"]
    return dict(
        method=method,
        lr=lr,
        steps=steps,
        batch_size=settings["batch_size"],
        eval_every=settings["eval_every"],
        eval_batches=settings["eval_batches"],
        threads=settings["threads"],
        device="cuda" if torch.cuda.is_available() else "cpu",
        **settings["model"],
    )


def _best_rate(runs: Sequence[StoredRun]) -> float:
    """The rate with the lowest final validation loss (diverged runs never win)."""
    finite = [r for r in runs if math.isfinite(r.result.metrics["final_val_loss"])]
    if not finite:
        return min(r.spec.config["lr"] for r in runs)
    return min(finite, key=lambda r: r.result.metrics["final_val_loss"]).spec.config["lr"]


def _difference(a: Sequence[StoredRun], b: Sequence[StoredRun]) -> tuple[float, float, str]:
    """Mean difference of final validation loss ``a - b`` and its standard error.

    Paired by seed when both sides have the same seeds (same initialisation and batches: the
    sign phase of a soft method even follows its hard counterpart exactly), else Welch.
    """
    loss_a = {r.spec.seed: r.result.metrics["final_val_loss"] for r in a}
    loss_b = {r.spec.seed: r.result.metrics["final_val_loss"] for r in b}
    if loss_a.keys() == loss_b.keys():
        d = np.array([loss_a[s] - loss_b[s] for s in sorted(loss_a)])
        se = d.std(ddof=1) / math.sqrt(d.size) if d.size > 1 else math.nan
        return float(d.mean()), float(se), "paired by seed"
    x, y = np.array(list(loss_a.values())), np.array(list(loss_b.values()))
    if min(x.size, y.size) < 2:
        return float(x.mean() - y.mean()), math.nan, "unpaired"
    se = math.sqrt(x.var(ddof=1) / x.size + y.var(ddof=1) / y.size)
    return float(x.mean() - y.mean()), se, "Welch"


class CharLM(Experiment):
    name = "char-lm"
    summary = (
        "Character-level GPT on tinyshakespeare at a fixed token budget: SoftSignum and SoftMuon "
        "(Feoktistov et al., ICML 2026) against Signum, Muon+AdamW and AdamW, each at the "
        "learning rate its own sweep chose."
    )
    default_seeds = 3

    def plan(self, mode: str, seeds: int, done: Sequence[StoredRun]) -> list[RunSpec]:
        if mode not in SETTINGS:
            raise ExperimentError(f"char-lm has no mode {mode!r}")
        rates = SETTINGS[mode]["rates"]
        sweep = [
            RunSpec(self.name, mode, method, _config(mode, method, lr, "sweep"), 0, "sweep")
            for method in METHODS
            for lr in LEARNING_RATES[rates][method]
        ]
        finished = {run.spec.key for run in done}
        if not all(spec.key in finished for spec in sweep):
            return sweep
        final = []
        for method in METHODS:
            lr = _best_rate(select(done, stage="sweep", method=method))
            config = _config(mode, method, lr, "final")
            final += [RunSpec(self.name, mode, method, config, s, "final") for s in range(seeds)]
        return sweep + final

    def execute(self, spec: RunSpec) -> RunResult:
        config = dict(spec.config)
        threads = config.pop("threads")
        previous = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            metrics, curves = train_char_lm(char_corpus(), TrainConfig(**config), spec.seed)
        finally:
            torch.set_num_threads(previous)
        return RunResult(metrics, curves)

    def report(self, runs: Sequence[StoredRun], figures: Path) -> str:
        sweep = select(runs, stage="sweep")
        final = select(runs, stage="final")
        parts = [self._setup(runs)]
        if sweep:
            parts.append(self._sweep_section(sweep))
        if final:
            parts.append(self._final_section(final, figures))
        return "\n\n".join(parts)

    @staticmethod
    def _setup(runs: Sequence[StoredRun]) -> str:
        c = runs[0].spec.config
        final_steps = max(r.spec.config["steps"] for r in runs)
        tokens = final_steps * c["batch_size"] * c["context"]
        return (
            f"Model: {c['n_layer']} layers, width {c['d_model']}, {c['n_head']} heads, context "
            f"{c['context']}, batch {c['batch_size']} sequences; budget {final_steps} steps "
            f"({tokens:,} training tokens), warm-up 2 % then cosine decay to 10 % of the rate, no "
            "weight decay. SoftSignum/SoftMuon: sign_fraction 0.9 (the last 10 % of the steps "
            "are the transition), eps 1e-4, tmax 20 / 1e9. Muon-type methods use AdamW "
            "(lr 3e-3) for embeddings, head, gains and biases. Validation loss: mean "
            "cross-entropy (nats/char) on fixed windows spread over the last 10 % of the text."
        )

    @staticmethod
    def _sweep_section(sweep: Sequence[StoredRun]) -> str:
        rows = []
        for method in METHODS:
            runs = sorted(select(sweep, method=method), key=lambda r: r.spec.config["lr"])
            if not runs:
                continue
            best = _best_rate(runs)
            cells = [
                f"{r.spec.config['lr']:g}: {r.result.metrics['final_val_loss']:.4f}"
                + (" (chosen)" if r.spec.config["lr"] == best else "")
                for r in runs
            ]
            edge = best in (runs[0].spec.config["lr"], runs[-1].spec.config["lr"])
            rows.append([LABELS[method], "; ".join(cells), "yes" if edge else "no"])
        steps = sweep[0].spec.config["steps"]
        return (
            f"### Learning-rate sweep ({steps} steps, seed 0)\n\n"
            "Final validation loss per learning rate; the lowest is used below. A rate chosen at "
            "the edge of its grid means the grid may not contain the method's best rate.\n\n"
            + markdown_table(["method", "lr: final val loss", "edge of grid"], rows)
        )

    def _final_section(self, final: Sequence[StoredRun], figures: Path) -> str:
        by_method = {LABELS[m]: select(final, method=m) for m in METHODS if select(final, method=m)}
        fig, (curves_ax, zoom_ax) = subplots(2)
        plot_band(curves_ax, by_method, "tokens", "val_loss")
        plot_band(zoom_ax, by_method, "tokens", "val_loss")
        finals = [r.result.metrics["final_val_loss"] for r in final]
        finite = [v for v in finals if math.isfinite(v)]
        if finite:
            zoom_ax.set_ylim(min(finite) - 0.05, max(finite) + 0.15)
        zoom_ax.set_xlim(0.5 * max(max(r.result.curves["tokens"]) for r in final), None)
        zoom_ax.set_title("last half, zoomed")
        save_figure(fig, figures / "char_lm_val_loss.png")
        soft = {LABELS[m]: select(final, method=m) for m in SOFT_METHODS if select(final, method=m)}
        fig, axes = subplots(max(1, len(soft)))
        for ax, (label, runs) in zip(axes, soft.items(), strict=False):
            plot_band(ax, {label: runs}, "temperature_step", "temperature", log_y=True)
            ax.set_title(f"{label}: temperature schedule")
        save_figure(fig, figures / "char_lm_temperature.png")
        table = metric_table(
            final,
            ["final_val_loss", "best_val_loss", "tokens_per_s", "optimizer_ms", "diverged"],
            row_label=LABELS.get,
        )
        lr_rows = [
            [LABELS[m], f"{select(final, method=m)[0].spec.config['lr']:g}"]
            for m in METHODS
            if select(final, method=m)
        ]
        return (
            f"### Final comparison ({len(final)} runs)\n\n"
            f"{markdown_table(['method', 'lr'], lr_rows)}\n\n"
            "![validation loss](figures/char_lm_val_loss.png)\n\n"
            "Lines: mean over seeds; bands: min–max over seeds.\n\n"
            f"{table}\n\n"
            "tokens_per_s: training tokens per second of wall time (forward, backward, optimizer; "
            "evaluation excluded) on this machine, which other processes may share; "
            "optimizer_ms: mean optimizer step.\n\n"
            "![temperature](figures/char_lm_temperature.png)\n\n"
            "Temperature of the matrix group (SoftMuon) or of all parameters (SoftSignum) over "
            "the transition steps.\n\n" + self._verdict(final)
        )

    @staticmethod
    def _verdict(final: Sequence[StoredRun]) -> str:
        lines = [
            "### Verdict",
            "",
            "Claim: the soft methods reach a lower loss than their hard counterparts and than "
            "AdamW. Mean difference of final validation loss (negative favours the soft "
            "method) ± its standard error; a difference is called beyond noise when it exceeds "
            f"2 standard errors and practically equal when it is below {NEGLIGIBLE} nats/char:",
            "",
        ]
        pairs = (
            ("softsignum", "signum"),
            ("softsignum", "adamw"),
            ("softmuon", "muon"),
            ("softmuon", "adamw"),
        )
        for soft, hard in pairs:
            a, b = select(final, method=soft), select(final, method=hard)
            values = [r.result.metrics["final_val_loss"] for r in a + b]
            if not a or not b or not all(map(math.isfinite, values)):
                lines.append(
                    f"- {LABELS[soft]} vs {LABELS[hard]}: not comparable "
                    "(missing or diverged runs)."
                )
                continue
            diff, se, how = _difference(a, b)
            if not math.isfinite(se):
                judgement = "one seed only: no judgement"
            elif abs(diff) < NEGLIGIBLE:
                judgement = f"practically equal (|difference| < {NEGLIGIBLE} nats/char)"
            elif abs(diff) <= 2 * se:
                judgement = "within noise (|difference| <= 2 standard errors)"
            elif diff < 0:
                judgement = "the soft method is better beyond noise: the claim holds here"
            else:
                judgement = "the soft method is worse beyond noise: the claim does not hold here"
            lines.append(
                f"- {LABELS[soft]} − {LABELS[hard]}: {diff:+.4f} ± {se:.2g} ({how}): {judgement}."
            )
        for method in SOFT_METHODS:
            runs = select(final, method=method)
            if not runs:
                continue
            at_max = [r.result.metrics.get("transition_at_tmax", math.nan) for r in runs]
            scale = [r.result.metrics.get("schedule_scale", math.nan) for r in runs]
            lines.append(
                f"- {LABELS[method]}: share of transition steps with the temperature clamped at "
                f"tmax: {mean_std(at_max, '.2f')}; robust scale of the statistics the schedule "
                f"was fitted to: {mean_std(scale, '.3g')}."
            )
        return "\n".join(lines)


EXPERIMENT = CharLM()
