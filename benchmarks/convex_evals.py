"""Accelerated GRAAL's cost of being parameter-free, and its wall time against L-BFGS-B.

For each problem, from the conventional start (seed 0) and with every method's defaults
(acc-graal, AdaNAG and AdGD from eta0 = 1e-10, AC-FGM and the improved AdGD from their authors'
initial line search), counts the gradient evaluations to relative suboptimality 1e-6 and prints
the ratios acc-graal / Nesterov-with-known-L (target <= 3), acc-graal / AdGD (target <= 0.5
where acceleration matters: the ill-conditioned, practically non-strongly-convex quadratics),
acc-graal / AC-FGM and acc-graal / AdaNAG (the other accelerated parameter-free methods; no
target) and the solver-time ratio acc-graal / scipy L-BFGS-B.
Run: ``python -m benchmarks.convex_evals [--quick] [--out DIR]``.
"""

from __future__ import annotations

import math

from benchmarks._report import emit, parse_arguments
from theoropt.convex.problems import get_problem
from theoropt.convex.study import LBFGS, evals_to_reach, run_solver, time_to_reach

EPS = 1e-6
BUDGET = 40_000
ACCELERATION_MATTERS = {"quadratic-random", "quadratic-nesterov"}
METHODS = ("acc-graal", "nesterov", "adgd", "adgd2", "ac-fgm", "adanag", LBFGS)


def main() -> None:
    arguments = parse_arguments(__doc__.splitlines()[0])
    problems = ["quadratic-random", "logreg-mushrooms", "logreg-mushrooms-weak"]
    if not arguments.quick:
        problems += ["quadratic-nesterov", "logreg-w8a", "logreg-a9a"]
    rows = []
    for name in problems:
        problem = get_problem(name)
        x0 = problem.starting_point(0)
        evals, seconds = {}, {}
        for method in METHODS:
            trace = run_solver(problem, method, x0, max_njev=BUDGET, target=EPS)
            evals[method] = evals_to_reach(trace, EPS)
            seconds[method] = time_to_reach(trace, EPS)

        def ratio(a: float, b: float, budget: float | None = BUDGET) -> str:
            if math.isfinite(a) and math.isfinite(b):
                return f"{a / b:.2f}"
            if math.isfinite(a) and budget is not None:  # b missed EPS within the budget
                return f"< {a / budget:.2f}"
            return "n/a"

        rows.append(
            [
                name,
                *(f"{evals[m]:.0f}" if math.isfinite(evals[m]) else f"> {BUDGET}" for m in METHODS),
                ratio(evals["acc-graal"], evals["nesterov"]),
                ratio(evals["acc-graal"], evals["adgd"])
                + (" (acceleration matters)" if name in ACCELERATION_MATTERS else ""),
                ratio(evals["acc-graal"], evals["ac-fgm"]),
                ratio(evals["acc-graal"], evals["adanag"]),
                f"{seconds['acc-graal']:.3f}",
                f"{seconds[LBFGS]:.3f}",
                ratio(seconds["acc-graal"], seconds[LBFGS], budget=None),
            ]
        )
        print(rows[-1], flush=True)
    emit(
        "convex_evals",
        f"Gradient evaluations and seconds to relative suboptimality {EPS:g} (start: seed 0)",
        [
            "problem",
            "acc-graal evals",
            "nesterov (L) evals",
            "adgd evals",
            "adgd2 evals",
            "ac-fgm evals",
            "adanag evals",
            "L-BFGS-B evals",
            "acc/nesterov (<= 3)",
            "acc/adgd (<= 0.5)",
            "acc/ac-fgm",
            "acc/adanag",
            "acc-graal s",
            "L-BFGS-B s",
            "time acc/L-BFGS-B",
        ],
        rows,
        [
            "Evaluations: calls of (f, grad) together; Nesterov's extra monitoring evaluations "
            "of f(x_k) are not counted. Seconds: solver time only (monitoring excluded); "
            "L-BFGS-B timed from its own start, including its evaluations.",
        ],
        arguments.out,
    )


if __name__ == "__main__":
    main()
