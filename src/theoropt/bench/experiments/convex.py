"""Experiment ``convex``: accelerated GRAAL against the adaptive and the known-L baselines.

Stages (see docs/convex.md): ``main`` runs every method on every problem of the mode from each
starting point (seed) with the default eta0 = 1e-10 of the parameter-free methods; ``robust``
reruns the parameter-free methods from eta0 in {1e-4, 1, 1e4}; ``tuning`` (default and full
modes) sweeps accelerated GRAAL's (theta, gamma). The report derives the suboptimality curves,
the rate study and the stepsize trajectories from ``main``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib import colormaps
from matplotlib.axes import Axes

from theoropt.bench.experiment import Experiment, RunResult, RunSpec, StoredRun, select
from theoropt.bench.plots import plot_band, save_figure, subplots
from theoropt.bench.tables import markdown_table, mean_std, metric_table
from theoropt.convex.problems import WITHOUT_GLOBAL_L, get_problem
from theoropt.convex.study import (
    EPSILONS,
    LBFGS,
    STEP_LEVEL,
    fitted_slope,
    needs_smoothness,
    run_solver,
    summarize,
)

KNOWN_L = ("gd", "nesterov")
PARAMETER_FREE = ("adgd", "adgd2", "graal", "adaptive-graal", "ac-fgm", "adanag", "acc-graal")
# Methods whose default start is their authors' initial line search: the robustness stage runs
# it (no options) next to the common starts eta0 in {1e-10, 1e-4, 1, 1e4}.
OWN_START = ("ac-fgm", "adgd2")
# The stepsize-growth figure: accelerated GRAAL (geometric growth) against the accelerated
# methods whose growth Borodich & Kovalev call polynomial.
GROWTH_METHODS = ("ac-fgm", "adanag", "acc-graal")
GROWTH_ITERATIONS = 200
METHODS = (*KNOWN_L, *PARAMETER_FREE, LBFGS)
DEFAULT_ETA0 = 1e-10
ROBUST_ETA0 = (1e-4, 1.0, 1e4)
TARGET = 1e-10  # runs stop at this relative suboptimality (below the rate study's 1e-8)
# Problems that are not strongly convex (or only negligibly): the rate study's subjects.
RATE_PROBLEMS = ("quadratic-random", "quadratic-nesterov", "quartic")
RATE_TAIL = 4
THEORY_SLOPE = {"gd": 1.0, "adgd": 1.0, "adgd2": 1.0, "graal": 1.0, "adaptive-graal": 1.0}
TUNING_GRID = [(theta, gamma) for theta in (0.1, 0.3, 0.5, 1.0) for gamma in (0.5, 1.0, 2.0)]

ALL_PROBLEMS = (
    "quadratic-random",
    "quadratic-nesterov",
    "quartic",
    "cosh",
    "logreg-mushrooms",
    "logreg-mushrooms-weak",
    "logreg-a9a",
    "logreg-a9a-weak",
    "logreg-w8a",
    "logreg-w8a-weak",
)
"""Every shipped problem (default and full modes run them all)."""

MODES: dict[str, dict] = {
    "quick": {
        "problems": ("logreg-mushrooms", "quadratic-random", "cosh"),
        "budget": 1500,
        "robust_problems": ("cosh",),
        "tuning_problems": (),
    },
    "default": {
        "problems": ALL_PROBLEMS,
        "budget": 10_000,
        "robust_problems": ("quadratic-random", "quartic", "cosh", "logreg-mushrooms"),
        "tuning_problems": ("quadratic-random", "cosh", "logreg-mushrooms"),
    },
    "full": {
        "problems": ALL_PROBLEMS,
        "budget": 30_000,
        "robust_problems": (
            "quadratic-random",
            "quadratic-nesterov",
            "quartic",
            "cosh",
            "logreg-mushrooms",
            "logreg-w8a",
        ),
        "tuning_problems": (
            "quadratic-random",
            "quadratic-nesterov",
            "quartic",
            "cosh",
            "logreg-mushrooms",
            "logreg-mushrooms-weak",
        ),
    },
}


def _robust_options(method: str) -> list[dict]:
    """The robustness stage's starts: each eta0 of ``ROBUST_ETA0`` and, for the methods of
    ``OWN_START``, their authors' initial line search."""
    starts = [{"eta0": eta0} for eta0 in ROBUST_ETA0]
    return [*starts, {}] if method in OWN_START else starts


def _applicable(method: str, problem: str) -> bool:
    return not (needs_smoothness(method) and problem in WITHOUT_GLOBAL_L)


class ConvexExperiment(Experiment):
    name = "convex"
    summary = (
        "Accelerated GRAAL vs AdaNAG, AC-FGM, AdGD (2020 and 2023), aGRAAL, GD/Nesterov with "
        "known L and L-BFGS-B on logistic regression, quadratics and (L0,L1)-smooth problems: "
        "curves, rates, stepsize growth"
    )
    default_seeds = 3

    def plan(self, mode: str, seeds: int, done: Sequence[StoredRun]) -> list[RunSpec]:
        """Problem by problem (cheapest first), its main, robustness and tuning runs, so that
        an interrupted run leaves complete results for the problems it got through."""
        setting = MODES[mode]
        budget = setting["budget"]
        specs = []
        for problem in setting["problems"]:
            for method in METHODS:
                if _applicable(method, problem):
                    options = {"eta0": DEFAULT_ETA0} if method in PARAMETER_FREE else {}
                    specs += self._specs(mode, "main", method, problem, budget, options, seeds)
            if problem in setting["robust_problems"]:
                for method in PARAMETER_FREE:
                    for options in _robust_options(method):
                        specs += self._specs(
                            mode, "robust", method, problem, budget, options, seeds
                        )
            if problem in setting["tuning_problems"]:
                for theta, gamma in TUNING_GRID:
                    options = {"theta": theta, "gamma": gamma}
                    specs += self._specs(mode, "tuning", "acc-graal", problem, budget, options, 1)
        return specs

    def _specs(
        self,
        mode: str,
        stage: str,
        method: str,
        problem: str,
        budget: int,
        options: dict[str, Any],
        seeds: int,
    ) -> list[RunSpec]:
        config = {"problem": problem, "budget": budget, "options": options}
        return [
            RunSpec(self.name, mode, method, config, seed, stage=stage) for seed in range(seeds)
        ]

    def execute(self, spec: RunSpec) -> RunResult:
        problem = get_problem(spec.config["problem"])
        # the robustness stage provokes overflow on purpose (eta0 = 1e4); the oracle turns it
        # into a reported divergence, so numpy's warnings would only be noise in the console
        with np.errstate(over="ignore", invalid="ignore"):
            trace = run_solver(
                problem,
                spec.method,
                problem.starting_point(spec.seed),
                max_njev=spec.config["budget"],
                target=TARGET,
                options=spec.config["options"],
            )
        metrics, curves = summarize(trace, problem)
        return RunResult(metrics=metrics, curves=curves)

    def report(self, runs: Sequence[StoredRun], figures: Path) -> str:
        main = select(runs, stage="main")
        problems = list(dict.fromkeys(run.spec.config["problem"] for run in main))
        parts = [
            "Relative suboptimality (f(x_k) - f*)/(f(x_0) - f*) of every method on every problem "
            f"(runs stop at {TARGET:g} or at the evaluation budget; f* from a closed form or a "
            "Newton-polished solve). Parameter-free methods start from eta0 = 1e-10; GD and "
            "Nesterov are given the global L (not applicable where none exists); `lbfgs` is "
            "scipy's L-BFGS-B, the practical reference. Seeds are starting points (seed 0: the "
            "conventional start). One gradient evaluation = one call of f and ∇f together.",
            "",
            _curve_figure(main, problems, "njev", figures / "convex_subopt_evals.png"),
            _curve_figure(main, problems, "time", figures / "convex_subopt_time.png"),
            "### Gradient evaluations to relative suboptimality 1e-6",
            "",
            "Mean ± std over starting points; `non-finite`: no run reached 1e-6 in the budget "
            "(see `final_subopt`); `time_to_1e-6` is solver seconds (monitoring excluded).",
            "",
        ]
        for problem in problems:
            parts += [
                f"**{problem}**",
                "",
                metric_table(
                    select(main, problem=problem),
                    ["evals_to_1e-06", "time_to_1e-6", "final_subopt", "diverged"],
                ),
                "",
            ]
        parts += _verdict(main, problems)
        parts += _rate_study(main, figures)
        parts += _stepsizes(main, problems, figures)
        parts += _robustness(runs)
        parts += _tuning(select(runs, stage="tuning"))
        return "\n".join(parts)


def _by_method(runs: Sequence[StoredRun]) -> dict[str, list[StoredRun]]:
    groups: dict[str, list[StoredRun]] = {}
    for run in runs:
        groups.setdefault(run.spec.method, []).append(run)
    return groups


METHOD_COLORS = {method: colormaps["tab10"](i % 10) for i, method in enumerate(METHODS)}


def _plot_methods(ax: Axes, runs: Sequence[StoredRun], x: str, y: str, **scales: bool) -> None:
    """``plot_band`` with one fixed colour per method across all panels and figures."""
    groups = _by_method(runs)
    ax.set_prop_cycle(color=[METHOD_COLORS[method] for method in groups])
    plot_band(ax, groups, x, y, **scales)


def _curve_figure(main: Sequence[StoredRun], problems: list[str], x: str, path: Path) -> str:
    fig, axes = subplots(len(problems))
    for ax, problem in zip(axes, problems, strict=True):
        _plot_methods(ax, select(main, problem=problem), x, "subopt", log_y=True)
        ax.set_title(problem, fontsize="small")
        ax.set_ylabel("relative suboptimality")
        ax.set_xlabel("gradient evaluations" if x == "njev" else "solver seconds")
    save_figure(fig, path)
    what = "gradient evaluations" if x == "njev" else "wall time (solver only)"
    return f"![suboptimality against {what}](figures/{path.name})\n"


def _mean_metric(runs: Sequence[StoredRun], key: str) -> float:
    values = [run.result.metrics.get(key, math.nan) for run in runs]
    finite = [v for v in values if math.isfinite(v)]
    return float(np.mean(finite)) if finite and len(finite) == len(values) else math.nan


def _evals_bound(runs: Sequence[StoredRun], budget: float) -> tuple[float, bool]:
    """Mean evaluations to 1e-6 over seeds, counting a seed that never got there as the budget
    (a lower bound on its true count), and whether every seed got there (the mean is exact)."""
    values = [run.result.metrics.get("evals_to_1e-06", math.nan) for run in runs]
    exact = all(math.isfinite(v) for v in values)
    return float(np.mean([v if math.isfinite(v) else budget for v in values])), exact


def _ratio(mine: tuple[float, bool], other: tuple[float, bool]) -> tuple[str, str]:
    """acc-graal's evaluations over another method's as text and outcome ("wins", "loses" or
    "unclear"); an inexact mean is a lower bound, so the ratio is then a bound."""
    (mine_value, mine_exact), (other_value, other_exact) = mine, other
    ratio = mine_value / other_value
    if mine_exact and other_exact:
        return f"{ratio:.2f}", "wins" if ratio < 1 else "loses"
    if mine_exact:
        return f"< {ratio:.2f}", "wins" if ratio <= 1 else "unclear"
    if other_exact:
        return f"> {ratio:.2f}", "loses" if ratio >= 1 else "unclear"
    return "n/a", "unclear"


def _verdict(main: Sequence[StoredRun], problems: list[str]) -> list[str]:
    lines = [
        "### Where accelerated GRAAL wins and loses (evaluations to 1e-6, mean over seeds)",
        "",
    ]
    rows, statements = [], []
    for problem in problems:
        runs = select(main, problem=problem)
        if not select(runs, method="acc-graal"):
            continue  # a partial store (interrupted run): nothing to compare yet
        budget = float(runs[0].spec.config["budget"])
        mine = _evals_bound(select(runs, method="acc-graal"), budget)
        others = {
            method: _evals_bound(select(runs, method=method), budget)
            for method in METHODS
            if method != "acc-graal" and select(runs, method=method)
        }
        compared = {method: _ratio(mine, value) for method, value in others.items()}
        free = {m: v for m, (v, exact) in others.items() if m in PARAMETER_FREE and exact}
        best_free = min(free, key=lambda m: free[m]) if free else None
        rows.append(
            [
                problem,
                f"{mine[0]:.0f}" if mine[1] else f"> {mine[0]:.0f}",
                compared["nesterov"][0] if "nesterov" in compared else "no global L / not run",
                compared.get("adgd", ("not run",))[0],
                compared.get("ac-fgm", ("not run",))[0],
                compared.get("adanag", ("not run",))[0],
                f"{best_free} ({compared[best_free][0]})" if best_free else "none reached",
                compared.get(LBFGS, ("not run",))[0],
            ]
        )
        outcome = {
            verdict: [f"{m} ({text})" for m, (text, v) in compared.items() if v == verdict]
            for verdict in ("wins", "loses", "unclear")
        }
        statements.append(
            f"- **{problem}**: fewer evaluations than {', '.join(outcome['wins']) or 'none'}; "
            f"more than {', '.join(outcome['loses']) or 'none'}"
            + (
                f"; undecided within the budget: {', '.join(outcome['unclear'])}"
                if outcome["unclear"]
                else ""
            )
            + "."
        )
    lines.append(
        markdown_table(
            [
                "problem",
                "acc-graal evals",
                "ratio vs nesterov (known L)",
                "ratio vs adgd",
                "ratio vs ac-fgm",
                "ratio vs adanag",
                "best other parameter-free (ratio)",
                "ratio vs L-BFGS-B",
            ],
            rows,
        )
    )
    lines += [
        "",
        "A ratio below 1 means accelerated GRAAL needed fewer gradient evaluations (means over "
        "starting points). A start from which a method did not reach 1e-6 within the budget "
        "counts as the budget, a lower bound, so the ratio becomes a bound: `< r` when the "
        "other method fell short, `> r` when accelerated GRAAL did. In words (ratios "
        "acc-graal / other in parentheses):",
        "",
        *statements,
        "",
    ]
    return lines


def _rate_study(main: Sequence[StoredRun], figures: Path) -> list[str]:
    subjects = [p for p in RATE_PROBLEMS if select(main, problem=p)]
    if not subjects:
        return [
            "### Rate study",
            "",
            "No problem of this mode is in the rate study (run the default mode).",
            "",
        ]
    lines = [
        "### Rate study: gradient evaluations to eps against 1/eps",
        "",
        "Slope of log(evaluations) against log(1/eps), eps = relative suboptimality 1e-2 ... "
        "1e-8 (mean over seeds; only levels reached from every start; at least 3 needed), "
        f"fitted over all levels and over the {RATE_TAIL} smallest (the latter leaves out the "
        "warm-up from eta0 = 1e-10). The worst-case exponents 1 (GD-like) and 1/2 "
        "(accelerated) are upper bounds; on a given problem both exponents move with the "
        "spectrum and the start (our random quadratic has eigenvalues L u², u uniform: "
        "predicted 2/3 and 1/3; on the finite worst-case quadratic the tail turns linear), so "
        "the testable signature of acceleration is an exponent about half that of the "
        "GD-like methods on the same problem. On the quartic the curvature vanishes at the "
        "solution, the adaptive stepsizes grow accordingly and every adaptive method converges "
        "linearly (slopes near 0): there the worst-case exponents say nothing.",
        "",
    ]
    rows = []
    fig, axes = subplots(len(subjects))
    for ax, problem in zip(axes, subjects, strict=True):
        for method, runs in _by_method(select(main, problem=problem)).items():
            evals = [_mean_metric(runs, f"evals_to_{eps:.0e}") for eps in EPSILONS]
            slope = fitted_slope(EPSILONS, evals)
            tail = fitted_slope(EPSILONS, evals, tail=RATE_TAIL)
            expected = THEORY_SLOPE.get(method, "—" if method == LBFGS else 0.5)
            rows.append([problem, method, f"{slope:.2f}", f"{tail:.2f}", str(expected)])
            finite = [(1 / e, n) for e, n in zip(EPSILONS, evals, strict=True) if math.isfinite(n)]
            if finite:
                ax.loglog(
                    *zip(*finite, strict=True),
                    marker="o",
                    label=method,
                    color=METHOD_COLORS[method],
                )
        ax.set_title(problem, fontsize="small")
        ax.set_xlabel("1/eps")
        ax.set_ylabel("gradient evaluations")
        ax.legend(fontsize="x-small")
    path = save_figure(fig, figures / "convex_rates.png")
    lines += [
        markdown_table(
            [
                "problem",
                "method",
                "slope (all levels)",
                f"slope ({RATE_TAIL} smallest)",
                "worst-case theory",
            ],
            rows,
        ),
        "",
        f"![evaluations to eps](figures/{path.name})",
        "",
    ]
    return lines


def _stepsizes(main: Sequence[StoredRun], problems: list[str], figures: Path) -> list[str]:
    smooth = [p for p in problems if p not in WITHOUT_GLOBAL_L]
    if not smooth:
        return []
    fig, axes = subplots(len(smooth))
    for ax, problem in zip(axes, smooth, strict=True):
        runs = [r for r in select(main, problem=problem) if r.spec.method in PARAMETER_FREE]
        _plot_methods(ax, runs, "iteration", "step_times_L", log_x=True, log_y=True)
        ax.axhline(1.0, color="black", linewidth=0.8, linestyle="--")
        ax.set_title(problem, fontsize="small")
        ax.set_ylabel("eta_k * L  (1 = the step 1/L)")
    path = save_figure(fig, figures / "convex_stepsizes.png")
    return [
        "### Stepsize trajectories from eta0 = 1e-10",
        "",
        "Stepsize eta_k times the global L (dashed line: the classical step 1/L) against the "
        "iteration. Accelerated GRAAL grows by at most (1+gamma) per iteration (geometric), "
        "aGRAAL by rho = 1/phi + 1/phi² ≈ 1.11, the improved AdGD by sqrt(2/3 + theta) <= 1.37, "
        "AC-FGM by min(4/3, 1 + 1/tau_t) where tau_t "
        "grows by about alpha/2 per iteration while eta L is small (with its authors' alpha = "
        "0.1 that is 4/3 for dozens of iterations, then a polynomial of high degree; with "
        "alpha = 1 it is (t+1)/t and from 1e-10 it never reaches 1/L in practice), AdaNAG by "
        "(k+3)(k+3+m)/(k+4)² ≈ 1 + (m-2)/k (m = 12: s_k grows like a polynomial of degree "
        "10, with factors above 2 in its first iterations); AdGD's first "
        "step already measures the local curvature. Accelerated GRAAL spends two gradient "
        "evaluations per iteration, the others one. For accelerated GRAAL and AC-FGM eta_k is "
        "the step of the aggregated sequence and is expected to keep growing (like k/L for "
        "Nesterov's method), so only the warm-up is comparable with 1/L; AdaNAG's s_k is its "
        "gradient step (its aggregated step is s_k alpha_k tau_k).",
        "",
        f"![stepsizes](figures/{path.name})",
        "",
        *_growth(main, smooth, figures),
    ]


def _growth(main: Sequence[StoredRun], smooth: list[str], figures: Path) -> list[str]:
    """Accelerated GRAAL's claim (geometric growth from a tiny eta0, against the polynomial
    growth of AC-FGM and AdaNAG): the warm-up on a linear iteration axis, where geometric
    growth is a straight line, and the iterations and evaluations until eta_k L >= STEP_LEVEL."""
    fig, axes = subplots(len(smooth))
    for ax, problem in zip(axes, smooth, strict=True):
        runs = [r for r in select(main, problem=problem) if r.spec.method in GROWTH_METHODS]
        _plot_methods(ax, runs, "iteration", "step_times_L", log_y=True)
        ax.set_xlim(0, GROWTH_ITERATIONS)
        ax.axhline(STEP_LEVEL, color="black", linewidth=0.8, linestyle="--")
        ax.set_title(problem, fontsize="small")
        ax.set_ylabel("eta_k * L")
    path = save_figure(fig, figures / "convex_stepsize_growth.png")
    iterations, evals = f"iterations_to_step_{STEP_LEVEL:g}/L", f"evals_to_step_{STEP_LEVEL:g}/L"
    rows = []
    for problem in smooth:
        for method in PARAMETER_FREE:
            runs = select(main, problem=problem, method=method)
            if runs:
                rows.append(
                    [
                        problem,
                        method,
                        _cell(_mean_metric(runs, iterations)),
                        _cell(_mean_metric(runs, evals)),
                    ]
                )
    return [
        "### Stepsize growth from eta0 = 1e-10: geometric against polynomial",
        "",
        "Borodich & Kovalev's central claim is that accelerated GRAAL adapts its stepsize "
        "geometrically, while AC-FGM and AdaNAG can only grow it polynomially. The figure shows "
        f"the first {GROWTH_ITERATIONS} iterations on a logarithmic stepsize axis (geometric "
        "growth is a straight line; dashed: eta L = "
        f"{STEP_LEVEL:g}); the table gives the iteration and the gradient evaluations at which "
        f"eta_k L first reaches {STEP_LEVEL:g} (mean over starting points; `—`: not every start "
        "got there).",
        "",
        f"![stepsize growth](figures/{path.name})",
        "",
        markdown_table(
            ["problem", "method", f"iterations to eta L >= {STEP_LEVEL:g}", "evaluations"], rows
        ),
        "",
    ]


def _cell(value: float) -> str:
    return f"{value:.0f}" if math.isfinite(value) else "—"


def _robust_cell(group: Sequence[StoredRun]) -> str:
    if not group:
        return "n/a"
    evals = [r.result.metrics["evals_to_1e-06"] for r in group]
    reached = [v for v in evals if math.isfinite(v)]
    diverged = sum(int(r.result.metrics["diverged"]) for r in group)
    text = mean_std(reached, ".0f") if reached else "not reached"
    if reached and len(reached) < len(evals):
        text += f" ({len(reached)}/{len(evals)} reached)"
    return text + (f", {diverged} diverged" if diverged else "")


def _robustness(runs: Sequence[StoredRun]) -> list[str]:
    robust = select(runs, stage="robust")
    if not robust:
        return []
    lines = [
        "### Robustness: initial stepsize and starting point",
        "",
        "Gradient evaluations to 1e-6 by eta0 (mean ± std over the starting points that reached "
        "it within the budget) and the number of runs that diverged (non-finite values). "
        "Accelerated GRAAL has two safeguards of ours: it restarts with eta/10 when an "
        "evaluation overflows, and with max(lam_1, eta0/10) when its first curvature estimate "
        "proves eta0 L > 2; the other methods have no safeguard. The last column is the own "
        "start of AC-FGM and of the improved AdGD: their authors' initial line search for the "
        "first stepsize (its evaluations counted).",
        "",
    ]
    main = select(runs, stage="main")
    for problem in dict.fromkeys(run.spec.config["problem"] for run in robust):
        rows = []
        for method in PARAMETER_FREE:
            cells = [method]
            for eta0 in (DEFAULT_ETA0, *ROBUST_ETA0):
                source = main if eta0 == DEFAULT_ETA0 else robust
                group = [
                    r
                    for r in select(source, problem=problem, method=method)
                    if r.spec.config["options"].get("eta0") == eta0
                ]
                cells.append(_robust_cell(group))
            own = [
                r
                for r in select(robust, problem=problem, method=method)
                if not r.spec.config["options"]
            ]
            cells.append(_robust_cell(own) if own else "—")
            rows.append(cells)
        headers = [
            "method",
            *[f"eta0={eta0:g}" for eta0 in (DEFAULT_ETA0, *ROBUST_ETA0)],
            "authors' line search (AC-FGM, AdGD2)",
        ]
        lines += [f"**{problem}**", "", markdown_table(headers, rows), ""]
    return lines


def _tuning(tuning: Sequence[StoredRun]) -> list[str]:
    if not tuning:
        return []
    problems = list(dict.fromkeys(run.spec.config["problem"] for run in tuning))
    rows = []
    for theta, gamma in TUNING_GRID:
        cells = [f"{theta:g}", f"{gamma:g}", f"{gamma / (4 * theta * (1 + gamma) ** 2):.3g}"]
        for problem in problems:
            group = [
                r
                for r in select(tuning, problem=problem)
                if r.spec.config["options"] == {"theta": theta, "gamma": gamma}
            ]
            value = _mean_metric(group, "evals_to_1e-06")
            diverged = any(r.result.metrics["diverged"] for r in group)
            cells.append(
                "diverged" if diverged else (f"{value:.0f}" if math.isfinite(value) else "—")
            )
        rows.append(cells)
    return [
        "### Accelerated GRAAL: (theta, gamma) sweep",
        "",
        "Gradient evaluations to 1e-6 from eta0 = 1e-10 (seed 0; `—`: not reached in the budget).",
        "",
        markdown_table(["theta", "gamma", "nu", *problems], rows),
        "",
    ]


EXPERIMENT = ConvexExperiment()
