"""Measurement helpers behind the ``convex`` experiment and the benchmarks: run one solver (or
scipy's L-BFGS-B reference) on a test problem and turn its history into relative-suboptimality
curves, evaluations-to-accuracy counts and fitted rate slopes."""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import OptimizeResult
from scipy.optimize import minimize as scipy_minimize
from threadpoolctl import threadpool_limits

from theoropt.convex.minimize import STATUS_NON_FINITE, minimize
from theoropt.convex.problems import Problem

EPSILONS = (1e-2, 1e-3, 1e-4, 1e-5, 1e-6, 1e-7, 1e-8)
LBFGS = "lbfgs"  # the scipy L-BFGS-B reference curve
CURVE_POINTS = 400
STEP_LEVEL = 0.1  # stepsize adaptation is measured as the first iteration with eta_k L >= this


@dataclass
class Trace:
    """Per-iterate relative suboptimality, cumulative gradient evaluations, seconds, stepsizes."""

    subopt: np.ndarray
    njev: np.ndarray
    time: np.ndarray
    step: np.ndarray
    diverged: bool
    message: str


def needs_smoothness(method: str) -> bool:
    """Methods that must be given the global Lipschitz constant L."""
    return method in ("gd", "nesterov")


def run_solver(
    problem: Problem,
    method: str,
    x0: np.ndarray,
    *,
    max_njev: int,
    target: float,
    options: Mapping[str, Any] | None = None,
) -> Trace:
    """Run ``method`` from ``x0`` until relative suboptimality ``<= target`` or ``max_njev``
    gradient evaluations. ``gd``/``nesterov`` get ``L`` from the problem; ``"lbfgs"`` runs
    scipy's L-BFGS-B (one evaluation per function/gradient call). BLAS is limited to one
    thread while it runs."""
    f0 = problem.fun(x0)
    gap0 = f0 - problem.f_star
    # One BLAS thread: on a small shared machine a multithreaded dot on 10^4 entries can wait
    # milliseconds for a busy core, which would dominate the timings being compared.
    with threadpool_limits(limits=1):
        if method == LBFGS:
            return _run_lbfgs(problem, x0, max_njev=max_njev, target=target, gap0=gap0)
        return _run_method(problem, method, x0, max_njev, target, gap0, options)


def _run_method(
    problem: Problem,
    method: str,
    x0: np.ndarray,
    max_njev: int,
    target: float,
    gap0: float,
    options: Mapping[str, Any] | None,
) -> Trace:
    options = dict(options or {})
    if needs_smoothness(method):
        if problem.L is None:
            raise ValueError(f"{method} needs a global L, which {problem.name} does not have")
        options.setdefault("L", problem.L)

    def stop(intermediate_result: OptimizeResult) -> bool:
        state = intermediate_result
        return state.njev >= max_njev or (state.fun - problem.f_star) <= target * gap0

    result = minimize(
        problem.value_and_grad,
        x0,
        jac=True,
        method=method,
        tol=0.0,
        max_iter=max_njev,
        callback=stop,
        **options,
    )
    history = result.history
    return Trace(
        subopt=(history["f"] - problem.f_star) / gap0,
        njev=history["njev"],
        time=history["time"],
        step=history["step"],
        diverged=result.status == STATUS_NON_FINITE,
        message=result.message,
    )


def _run_lbfgs(
    problem: Problem, x0: np.ndarray, *, max_njev: int, target: float, gap0: float
) -> Trace:
    values: list[float] = []
    counts: list[int] = []
    times: list[float] = []
    calls = 0
    start = time.perf_counter()

    def counted(x: np.ndarray) -> tuple[float, np.ndarray]:
        nonlocal calls
        calls += 1
        return problem.value_and_grad(x)

    def record(intermediate_result: OptimizeResult) -> None:
        times.append(time.perf_counter() - start)
        values.append(float(intermediate_result.fun))
        counts.append(calls)
        if values[-1] - problem.f_star <= target * gap0 or calls >= max_njev:
            raise StopIteration

    values.append(problem.fun(x0))
    counts.append(0)
    times.append(0.0)
    result = scipy_minimize(
        counted,
        x0,
        jac=True,
        method="L-BFGS-B",
        callback=record,
        options={"maxiter": max_njev, "maxfun": max_njev, "gtol": 0.0, "ftol": 0.0},
    )
    return Trace(
        subopt=(np.asarray(values) - problem.f_star) / gap0,
        njev=np.asarray(counts, dtype=float),
        time=np.asarray(times),
        step=np.full(len(values), np.nan),
        diverged=not np.isfinite(values[-1]),
        message=str(result.message),
    )


def evals_to_reach(trace: Trace, eps: float) -> float:
    """Gradient evaluations until the relative suboptimality first drops to ``eps`` (NaN if
    never)."""
    hits = np.flatnonzero(trace.subopt <= eps)
    return float(trace.njev[hits[0]]) if hits.size else math.nan


def time_to_reach(trace: Trace, eps: float) -> float:
    """Solver seconds until the relative suboptimality first drops to ``eps`` (NaN if never)."""
    hits = np.flatnonzero(trace.subopt <= eps)
    return float(trace.time[hits[0]]) if hits.size else math.nan


def fitted_slope(
    epsilons: Sequence[float], evals: Sequence[float], *, tail: int | None = None
) -> float:
    """Least-squares slope of ``log(evals)`` against ``log(1/eps)`` over the finite pairs, or
    over the ``tail`` smallest eps reached (which leaves out the warm-up of methods that start
    from a tiny stepsize). Worst-case theory: 1/2 for accelerated methods, 1 for
    gradient-descent-like ones on convex, not strongly convex problems. NaN with fewer than 3
    points."""
    pairs = [(e, n) for e, n in zip(epsilons, evals, strict=True) if np.isfinite(n) and n > 0]
    if tail is not None:
        pairs = sorted(pairs, key=lambda pair: pair[0])[:tail]
    if len(pairs) < 3:
        return math.nan
    x = np.log([1 / e for e, _ in pairs])
    y = np.log([n for _, n in pairs])
    return float(np.polyfit(x, y, 1)[0])


def thin(values: np.ndarray, points: int = CURVE_POINTS) -> list[float]:
    """At most ``points`` entries of a curve (log-spaced indices, first and last kept)."""
    if values.size <= points:
        return [float(v) for v in values]
    index = np.unique(np.geomspace(1, values.size, points).astype(int) - 1)
    index = np.union1d(index, [0, values.size - 1])
    return [float(v) for v in values[index]]


def summarize(trace: Trace, problem: Problem) -> tuple[dict[str, float], dict[str, list[float]]]:
    """Metrics (final suboptimality, evaluations and seconds to each eps, divergence and, where L
    exists, the iteration and evaluation count at which the stepsize first reaches
    ``STEP_LEVEL / L``) and thinned curves (relative suboptimality, njev, time, stepsize times L
    where L exists)."""
    finite = trace.subopt[np.isfinite(trace.subopt)]
    metrics = {
        "final_subopt": float(finite[-1]) if finite.size else math.nan,
        "best_subopt": float(finite.min()) if finite.size else math.nan,
        "njev": float(trace.njev[-1]),
        "diverged": float(trace.diverged),
        "time_to_1e-6": time_to_reach(trace, 1e-6),
    }
    for eps in EPSILONS:
        metrics[f"evals_to_{eps:.0e}"] = evals_to_reach(trace, eps)
    step_scale = problem.L if problem.L is not None else 1.0
    if problem.L is not None:  # how fast the stepsize adapts from a tiny eta0
        reached = np.flatnonzero(trace.step * problem.L >= STEP_LEVEL)
        metrics[f"iterations_to_step_{STEP_LEVEL:g}/L"] = (
            float(reached[0]) if reached.size else math.nan
        )
        metrics[f"evals_to_step_{STEP_LEVEL:g}/L"] = (
            float(trace.njev[reached[0]]) if reached.size else math.nan
        )
    curves = {
        "njev": thin(trace.njev),
        "time": thin(trace.time),
        "subopt": thin(trace.subopt),
        "step_times_L": thin(trace.step * step_scale),
        "iteration": thin(np.arange(trace.subopt.size, dtype=float)),
    }
    return metrics, curves
