"""``char-lm``: SoftSignum / SoftMuon against Signum, Muon and AdamW on a character GPT.

Stage ``sweep``: each method at a few learning rates on a shorter budget (seed 0); stage
``final``: each method at its best rate on the full token budget over several seeds; stage
``fraction``: each soft method at its best rate with other shares of sign steps
(``sign_fraction``), over the same seeds. SoftMuon and Muon run in two variants: ``paper``, the
Softsign authors' algorithm, and ``exact``, theoropt's (:mod:`theoropt.optim.polar_variants`).
The model, data and training loop live in :mod:`theoropt.optim.models` and
:mod:`theoropt.optim.training`; the ``full`` mode is sized for one GPU and trains on a corpus
built from the Python standard library (:mod:`theoropt.data.python_corpus`).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from theoropt.bench.experiment import Experiment, RunResult, RunSpec, StoredRun, select
from theoropt.bench.plots import plot_band, save_figure, subplots
from theoropt.bench.tables import markdown_table, mean_std, metric_table
from theoropt.data.python_corpus import python_corpus
from theoropt.data.text import CharCorpus, char_corpus
from theoropt.errors import ExperimentError
from theoropt.optim.training import METHODS, TrainConfig, train_char_lm

logger = logging.getLogger(__name__)

HARD_COUNTERPART = {
    name: method.hard for name, method in METHODS.items() if method.hard is not None
}
"""Each soft method's hard counterpart (the method its sign phase is)."""
SOFT_METHODS = tuple(HARD_COUNTERPART)

_SIGN_RATES = (3e-4, 1e-3, 3e-3)
_NORMALIZED_RATES = (1e-3, 3e-3, 1e-2, 3e-2)  # 3e-3 was the top of a first grid, at its edge
_MUON_RATES = (0.01, 0.03, 0.1)
_CPU_RATES = {
    "adamw": (1e-3, 3e-3, 1e-2),
    "signum": _SIGN_RATES,
    "softsignum": _SIGN_RATES,
    "signum-normalized": _NORMALIZED_RATES,
    "softsignum-normalized": _NORMALIZED_RATES,
    "muon": _MUON_RATES,
    "softmuon": _MUON_RATES,
    "muon-paper": _MUON_RATES,
    "softmuon-paper": _MUON_RATES,
}
_GPU_SIGN_RATES = (1e-4, 3e-4, 1e-3)
_GPU_NORMALIZED_RATES = (3e-4, 1e-3, 3e-3, 1e-2)
LEARNING_RATES = {
    "quick": _CPU_RATES,
    "default": _CPU_RATES,
    "full": {
        **_CPU_RATES,
        "adamw": (3e-4, 1e-3, 3e-3),
        "signum": _GPU_SIGN_RATES,
        "softsignum": _GPU_SIGN_RATES,
        "signum-normalized": _GPU_NORMALIZED_RATES,
        "softsignum-normalized": _GPU_NORMALIZED_RATES,
    },
}
"""Sweep grids per mode (rates a factor of about 3 apart; four for the normalized methods, whose
step ``lr / ||u||_2`` has no scale carried over from Signum)."""

FULL_BUDGET_SWEEP = frozenset({"signum-normalized", "softsignum-normalized"})
"""Methods swept on the final budget: the normalized step ``lr / ||u||_2`` grows as ``||u||``
shrinks during training, so a short sweep prefers rates that fail later (quick mode, normalized
Signum: lr 0.03 won the 80-step sweep, 3.06 against 3.15 nats/char at 0.003, and ended 200
steps at 3.14 against 2.58)."""

SETTINGS: dict[str, dict[str, Any]] = {
    "quick": dict(
        model=dict(n_layer=2, n_head=4, d_model=64, context=64),
        batch_size=16,
        steps=200,
        sweep_steps=80,
        eval_every=20,
        eval_batches=8,
        threads=1,
        corpus="tinyshakespeare",
        precision="float32",
        fractions=(0.5,),
    ),
    "default": dict(
        model=dict(n_layer=4, n_head=4, d_model=128, context=128),
        batch_size=16,
        steps=600,
        sweep_steps=200,
        eval_every=50,
        eval_batches=8,
        threads=2,
        corpus="tinyshakespeare",
        precision="float32",
        fractions=(0.3, 0.5),
    ),
    "full": dict(
        model=dict(n_layer=8, n_head=8, d_model=512, context=256),
        batch_size=32,
        steps=800,
        sweep_steps=200,
        eval_every=100,
        eval_batches=16,
        threads=4,
        corpus="python-stdlib",
        precision="bfloat16-autocast",
        fractions=(),
    ),
}
"""Per mode; ``fractions`` are the ``sign_fraction`` values run besides 0.9. ``full`` is the GPU
mode: a 25 M-parameter model on the Python-source corpus in bfloat16 autocast, 32,200 steps of
8,192 tokens in all (the normalized methods sweep on the final budget), sized (estimated from
FLOP counts, not measured) for 5.5–10 min on one H100-class GPU; on a CPU it would take
days. The CPU modes' times are in docs/optim.md."""

MAIN_FRACTION = 0.9
NEGLIGIBLE = 0.01
"""Differences of final validation loss below this (nats/char) are reported as practically equal."""


def _label(method: str) -> str:
    return METHODS[method].label


def _corpus_fields(corpus: str) -> dict[str, Any]:
    """The corpus entries of a run's configuration (what the run must train on)."""
    if corpus == "python-stdlib":
        return {"corpus": corpus, **python_corpus()[1].summary()}
    return {"corpus": corpus}


def _load_corpus(fields: dict[str, Any]) -> CharCorpus:
    """The corpus a configuration names; the Python-source corpus must match its checksum."""
    if fields["corpus"] == "tinyshakespeare":
        return char_corpus()
    corpus, manifest = python_corpus()
    if manifest.sha256 != fields["corpus_sha256"]:
        raise ExperimentError(
            f"this run was planned on the corpus {fields['corpus_sha256'][:12]}… "
            f"({fields['corpus_source']}); this installation builds {manifest.sha256[:12]}… "
            f"({manifest.source}): run it with the same Python installation"
        )
    return corpus


def _steps(mode: str, method: str, stage: str) -> int:
    """The step budget of a run of ``method`` in ``stage``."""
    short = stage == "sweep" and method not in FULL_BUDGET_SWEEP
    return SETTINGS[mode]["sweep_steps" if short else "steps"]


def _current(runs: Sequence[StoredRun]) -> list[StoredRun]:
    """The runs with their mode's present step budget (runs stored under other settings of the
    mode, e.g. an earlier sweep budget, are left out of the plan and the report)."""
    return [
        r
        for r in runs
        if r.spec.config.get("steps") == _steps(r.spec.mode, r.spec.method, r.spec.stage)
    ]


def _config(mode: str, method: str, lr: float, stage: str, fraction: float) -> dict:
    settings = SETTINGS[mode]
    config = dict(
        method=method,
        lr=lr,
        steps=_steps(mode, method, stage),
        batch_size=settings["batch_size"],
        eval_every=settings["eval_every"],
        eval_batches=settings["eval_batches"],
        threads=settings["threads"],
        precision=settings["precision"],
        device="cuda" if torch.cuda.is_available() else "cpu",
        **settings["model"],
        **_corpus_fields(settings["corpus"]),
    )
    if METHODS[method].soft:
        config["sign_fraction"] = fraction
    return config


def _best_rate(runs: Sequence[StoredRun]) -> float:
    """The rate with the lowest final validation loss (diverged runs never win)."""
    finite = [r for r in runs if math.isfinite(r.result.metrics["final_val_loss"])]
    if not finite:
        return min(r.spec.config["lr"] for r in runs)
    return min(finite, key=lambda r: r.result.metrics["final_val_loss"]).spec.config["lr"]


def _at_chosen_rates(runs: Sequence[StoredRun], sweep: Sequence[StoredRun]) -> list[StoredRun]:
    """The runs at the rate the sweep chooses for their method, as :meth:`CharLM.plan` does
    (runs stored under an earlier grid, at another rate, are left out)."""
    chosen = {}
    for method in {r.spec.method for r in runs}:
        candidates = select(sweep, method=method)
        chosen[method] = _best_rate(candidates) if candidates else None
    return [r for r in runs if chosen[r.spec.method] in (None, r.spec.config["lr"])]


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


def _judgement(diff: float, se: float) -> str:
    if not math.isfinite(se):
        return "one seed only: no judgement"
    if abs(diff) < NEGLIGIBLE:
        return f"practically equal (|difference| < {NEGLIGIBLE} nats/char)"
    if abs(diff) <= 2 * se:
        return "within noise (|difference| <= 2 standard errors)"
    if diff < 0:
        return "the soft method is better beyond noise: the claim holds here"
    return "the soft method is worse beyond noise: the claim does not hold here"


def _comparison(soft: Sequence[StoredRun], other: Sequence[StoredRun], name: str) -> str:
    """One verdict line: ``soft`` against ``other`` (final validation loss, paired by seed)."""
    values = [r.result.metrics["final_val_loss"] for r in [*soft, *other]]
    if not soft or not other or not all(map(math.isfinite, values)):
        return f"- {name}: not comparable (missing or diverged runs)."
    diff, se, how = _difference(soft, other)
    return f"- {name}: {diff:+.4f} ± {se:.2g} ({how}): {_judgement(diff, se)}."


class CharLM(Experiment):
    name = "char-lm"
    summary = (
        "Character-level GPT at a fixed token budget: SoftSignum and SoftMuon (Feoktistov et "
        "al., ICML 2026; the authors' algorithm and theoropt's) against Signum, Muon+AdamW and "
        "AdamW, each at the learning rate its own sweep chose; --full is sized for one GPU."
    )
    default_seeds = 3

    def plan(self, mode: str, seeds: int, done: Sequence[StoredRun]) -> list[RunSpec]:
        if mode not in SETTINGS:
            raise ExperimentError(f"char-lm has no mode {mode!r}")
        if mode == "full" and not torch.cuda.is_available():
            logger.warning("char-lm --full is sized for one GPU; on this CPU it takes days")
        rates = LEARNING_RATES[mode]
        sweep = [
            RunSpec(self.name, mode, m, _config(mode, m, lr, "sweep", MAIN_FRACTION), 0, "sweep")
            for m in METHODS
            for lr in rates[m]
        ]
        finished = {run.spec.key for run in done}
        if not all(spec.key in finished for spec in sweep):
            return sweep
        later = []
        current = _current(done)
        for method in METHODS:
            lr = _best_rate(select(current, stage="sweep", method=method))
            config = _config(mode, method, lr, "final", MAIN_FRACTION)
            later += [RunSpec(self.name, mode, method, config, s, "final") for s in range(seeds)]
            if not METHODS[method].soft:
                continue
            for fraction in SETTINGS[mode]["fractions"]:
                config = _config(mode, method, lr, "final", fraction)
                later += [
                    RunSpec(self.name, mode, method, config, s, "fraction") for s in range(seeds)
                ]
        return sweep + later

    def execute(self, spec: RunSpec) -> RunResult:
        config = dict(spec.config)
        threads = config.pop("threads")
        corpus_fields = {k: config.pop(k) for k in list(config) if k.startswith("corpus")}
        corpus = _load_corpus(corpus_fields)
        previous = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            metrics, curves = train_char_lm(corpus, TrainConfig(**config), spec.seed)
        finally:
            torch.set_num_threads(previous)
        return RunResult(metrics, curves)

    def report(self, runs: Sequence[StoredRun], figures: Path) -> str:
        runs = _current(runs)
        sweep = select(runs, stage="sweep")
        final = _at_chosen_rates(select(runs, stage="final"), sweep)
        fraction = _at_chosen_rates(select(runs, stage="fraction"), sweep)
        parts = [self._setup(runs)]
        if sweep:
            parts.append(self._sweep_section(sweep))
        if final:
            parts.append(self._final_section(final, figures))
        if final and fraction:
            parts.append(self._fraction_section(final, fraction))
        return "\n\n".join(parts)

    @staticmethod
    def _setup(runs: Sequence[StoredRun]) -> str:
        c = runs[0].spec.config
        final_steps = max(r.spec.config["steps"] for r in runs)
        tokens = final_steps * c["batch_size"] * c["context"]
        parameters = runs[0].result.metrics.get("parameters", math.nan)
        size = f" ({parameters:,.0f} parameters)" if math.isfinite(parameters) else ""
        if c["corpus"] == "python-stdlib":
            corpus = (
                f"a corpus built from the `.py` files of the {c['corpus_source']} "
                f"({c['corpus_files']} files; {c['corpus_train_chars']:,} training and "
                f"{c['corpus_val_chars']:,} validation characters in held-out files; SHA-256 "
                f"`{c['corpus_sha256']}`; list the files with `python -m "
                "theoropt.data.python_corpus --list`)"
            )
        else:
            corpus = (
                "tinyshakespeare (validation: fixed windows spread over the last 10 % of the text)"
            )
        return (
            f"Model: {c['n_layer']} layers, width {c['d_model']}, {c['n_head']} heads, context "
            f"{c['context']}{size}, batch {c['batch_size']} sequences, "
            f"{c.get('precision', 'float32')} on {c['device']}; budget {final_steps} steps "
            f"({tokens:,} training tokens), warm-up 2 % then cosine decay to 10 % of the rate, "
            "no weight decay. Data: "
            f"{corpus}. Soft methods: sign_fraction {MAIN_FRACTION} unless stated, eps 1e-4, "
            "tmax 20 (SoftSignum) / 1e9 (SoftMuon). Signum-type methods: momentum 0.9; "
            "normalized: step lr / ||u||_2 over all parameters (the authors' option). "
            "Muon-type methods: momentum 0.95, Nesterov, AdamW (lr 3e-3) for embeddings, head, "
            "gains and biases; (paper) is the Softsign authors' algorithm (momentum from zero, "
            "bfloat16 Newton–Schulz, 5 coupled Newton–Schulz steps for the soft polar, AdamW eps "
            "1e-10), (exact) theoropt's (momentum from the first gradient, Newton–Schulz in the "
            "precision ns_dtype='auto' picks, float32 on CPUs without native bfloat16, the soft "
            "polar converged, AdamW eps 1e-8). Validation loss: mean "
            "cross-entropy (nats/char)."
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
            steps = ", ".join(sorted({str(r.spec.config["steps"]) for r in runs}))
            rows.append([_label(method), steps, "; ".join(cells), "yes" if edge else "no"])
        return (
            "### Learning-rate sweep (seed 0)\n\n"
            "Final validation loss per learning rate; the lowest is used below. A rate chosen at "
            "the edge of its grid means the grid may not contain the method's best rate. The "
            "normalized methods are swept on the final budget (their step lr / ||u||_2 grows as "
            "||u|| shrinks, so a short sweep favours rates that fail later).\n\n"
            + markdown_table(["method", "steps", "lr: final val loss", "edge of grid"], rows)
        )

    def _final_section(self, final: Sequence[StoredRun], figures: Path) -> str:
        by_method = {_label(m): select(final, method=m) for m in METHODS if select(final, method=m)}
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
        soft = {_label(m): select(final, method=m) for m in SOFT_METHODS if select(final, method=m)}
        fig, axes = subplots(max(1, len(soft)))
        for ax, (label, runs) in zip(axes, soft.items(), strict=False):
            plot_band(ax, {label: runs}, "temperature_step", "temperature", log_y=True)
            ax.set_title(f"{label}: temperature schedule")
        save_figure(fig, figures / "char_lm_temperature.png")
        table = metric_table(
            final,
            ["final_val_loss", "best_val_loss", "tokens_per_s", "optimizer_ms", "diverged"],
            row_label=_label,
        )
        lr_rows = [
            [_label(m), f"{select(final, method=m)[0].spec.config['lr']:g}"]
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
            f"2 standard errors and practically equal when it is below {NEGLIGIBLE} nats/char. "
            "Claims about the paper rest on the (paper) rows and on SoftSignum:",
            "",
        ]
        for soft in SOFT_METHODS:
            runs = select(final, method=soft)
            for other in (HARD_COUNTERPART[soft], "adamw"):
                name = f"{_label(soft)} − {_label(other)}"
                lines.append(_comparison(runs, select(final, method=other), name))
        for method in SOFT_METHODS:
            runs = select(final, method=method)
            if not runs:
                continue
            at_max = [r.result.metrics.get("transition_at_tmax", math.nan) for r in runs]
            scale = [r.result.metrics.get("schedule_scale", math.nan) for r in runs]
            lines.append(
                f"- {_label(method)}: share of transition steps with the temperature clamped at "
                f"tmax: {mean_std(at_max, '.2f')}; robust scale of the statistics the schedule "
                f"was fitted to: {mean_std(scale, '.3g')}."
            )
        return "\n".join(lines)

    @staticmethod
    def _fraction_section(final: Sequence[StoredRun], fraction: Sequence[StoredRun]) -> str:
        rows = []
        for soft in SOFT_METHODS:
            hard = select(final, method=HARD_COUNTERPART[soft])
            runs_by_fraction = {MAIN_FRACTION: select(final, method=soft)}
            for run in select(fraction, method=soft):
                runs_by_fraction.setdefault(run.spec.config["sign_fraction"], []).append(run)
            for value, runs in sorted(runs_by_fraction.items()):
                if not runs:
                    continue
                losses = [r.result.metrics["final_val_loss"] for r in runs]
                values = losses + [r.result.metrics["final_val_loss"] for r in hard]
                if hard and all(map(math.isfinite, values)):
                    diff, se, _ = _difference(runs, hard)
                    versus = f"{diff:+.4f} ± {se:.2g}: {_judgement(diff, se)}"
                else:
                    versus = "not comparable"
                rows.append([_label(soft), f"{value:g}", mean_std(losses, ".4f"), versus])
        return (
            "### Share of sign steps\n\n"
            "The soft methods at their chosen rate with other values of sign_fraction (the "
            "authors report stable results from 0.3 to 0.9); last column: the soft method − "
            "its hard counterpart, paired by seed.\n\n"
            + markdown_table(
                ["method", "sign_fraction", "final val loss", "− hard counterpart"], rows
            )
        )


EXPERIMENT = CharLM()
