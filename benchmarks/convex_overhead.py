"""Per-iteration overhead of each solver beyond its gradient evaluations, on a logistic
regression with 10^6 variables (synthetic sparse data).

The objective is wrapped to accumulate the seconds spent inside f/grad during the run; the
overhead is (solver time - evaluation time) / evaluation time (target <= 10% for acc-graal).
Run: ``python -m benchmarks.convex_overhead [--quick] [--out DIR]``.
"""

from __future__ import annotations

import time

import numpy as np
import scipy.sparse as sp

from benchmarks._report import emit, parse_arguments
from theoropt.convex import minimize
from theoropt.convex.problems import LogisticRegression


def synthetic_logistic(samples: int, features: int, per_row: int, seed: int = 0):
    """Sparse binary features (``per_row`` ones per sample) and labels from a planted model."""
    rng = np.random.default_rng(seed)
    columns = rng.integers(0, features, size=samples * per_row)
    rows = np.repeat(np.arange(samples), per_row)
    matrix = sp.csr_matrix((np.ones(columns.size), (rows, columns)), shape=(samples, features))
    planted = rng.standard_normal(features)
    labels = np.where(matrix @ planted + 0.5 * rng.standard_normal(samples) > 0, 1.0, -1.0)
    return matrix, labels


def main() -> None:
    arguments = parse_arguments(__doc__.splitlines()[0])
    features = 200_000 if arguments.quick else 1_000_000
    samples, per_row, iterations = features // 2, 100, 30 if arguments.quick else 60
    matrix, labels = synthetic_logistic(samples, features, per_row)
    problem = LogisticRegression(matrix, labels, l2=1e-6, name="synthetic")
    rows = []
    for method in ("gd", "nesterov", "adgd", "acc-graal"):
        spent = 0.0

        def timed(x: np.ndarray) -> tuple[float, np.ndarray]:
            nonlocal spent
            start = time.perf_counter()
            pair = problem.value_and_grad(x)
            spent += time.perf_counter() - start
            return pair

        options = {"L": problem.L} if method in ("gd", "nesterov") else {}
        result = minimize(
            timed,
            np.zeros(features),
            jac=True,
            method=method,
            tol=0.0,
            max_iter=iterations,
            **options,
        )
        # monitoring evaluations (Nesterov's f(x_k)) are outside the solver time: remove them
        per_eval = spent / (result.njev + result.nmonitor)
        evaluation_time = per_eval * result.njev
        solver_time = result.history["time"][-1]
        overhead = (solver_time - evaluation_time) / evaluation_time
        rows.append(
            [
                method,
                result.nit,
                result.njev,
                f"{1e3 * per_eval:.1f}",
                f"{1e3 * (solver_time - evaluation_time) / result.nit:.2f}",
                f"{100 * overhead:.1f}%",
            ]
        )
        print(rows[-1], flush=True)
    emit(
        "convex_overhead",
        f"Solver overhead beyond gradient evaluations, logistic regression with {features:,} "
        f"variables ({samples:,} samples, {per_row} nonzeros each), float64, numpy CPU",
        [
            "method",
            "iterations",
            "evaluations",
            "ms / evaluation",
            "overhead ms / iter",
            "overhead / evaluation time (acc-graal <= 10%)",
        ],
        rows,
        [
            "Overhead = solver time not spent inside f/grad (vector updates, inner products, norms "
            "for the history), relative to the time spent in f/grad."
        ],
        arguments.out,
    )


if __name__ == "__main__":
    main()
