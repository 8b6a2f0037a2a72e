"""``sinkhorn``: entropic optimal transport with a POT-like signature.

Solves ``min_P <P, M> + reg * KL(P | a b^T)`` over couplings of ``a`` and ``b`` (Cuturi 2013),
whose solution is ``P_ij = exp((f_i + g_j - M_ij) / reg)`` for the dual potentials ``f, g``.
Every method stops when ``max(||P 1 - a||_1, ||P^T 1 - b||_1) <= tol``: both marginals, in total
mass, checked on the plan the solver returns.
"""

from __future__ import annotations

import warnings
from typing import Any

import torch

from theoropt.ot._arrays import (
    ArrayLike,
    SinkhornConvergenceWarning,
    check_balanced,
    check_positive,
    check_positive_int,
    histogram,
    is_numpy_input,
    to_output,
    to_tensor,
)
from theoropt.ot._newton import newton_stage
from theoropt.ot._scaling import log_stabilized_sinkhorn, marginal_error, plan_from_potentials
from theoropt.ot.lazy import sinkhorn_points

METHODS = ("log", "sns")


def sinkhorn(
    a: ArrayLike | None,
    b: ArrayLike | None,
    M: ArrayLike | tuple[ArrayLike, ArrayLike],
    reg: float,
    method: str = "log",
    tol: float = 1e-9,
    max_iter: int = 10_000,
    log: bool = False,
    *,
    cost: str = "precomputed",
    warmup_tol: float = 1e-3,
    max_newton: int = 100,
    hessian: str = "dense",
    batch_size: int = 1024,
) -> Any:
    """Entropic OT plan between histograms ``a`` (n) and ``b`` (m) for the cost ``M`` (n x m).

    Args:
        a, b: positive weights with equal sums; ``None`` or ``[]`` means uniform (as in POT).
        M: cost matrix, numpy array or torch tensor (any device). With ``cost="sqeuclidean"``,
            ``M`` is instead a pair ``(x, y)`` of point clouds (n x d, m x d) and the cost
            ``||x_i - y_j||^2`` is computed in chunks of ``batch_size`` rows, never stored.
        reg: entropic regularisation (absolute, in the units of ``M``).
        method: ``"log"`` — log-stabilised Sinkhorn (scalings absorbed into the log-potentials
            when they grow, matrix-vector products in between); ``"sns"`` — Sinkhorn until the
            marginal error is ``warmup_tol``, then Newton steps on the dual with conjugate
            gradient and Armijo line search (Sinkhorn–Newton–Sparse, Tang et al. 2024).
        tol: stop when ``max(||P 1 - a||_1, ||P^T 1 - b||_1) <= tol``.
        max_iter: Sinkhorn iterations at most (for ``"sns"``: of the warm-up).
        log: also return a dict with the dual potentials ``f, g`` (``P = exp((f+g-M)/reg)``),
            ``n_iter``, ``err`` (final marginal error), ``converged`` and method details.
        max_newton, hessian: Newton steps at most; ``"dense"`` or ``"sparse"`` Hessian (SNS).
        batch_size: rows per chunk for ``cost="sqeuclidean"``.

    Returns:
        The plan (same kind as ``M``: numpy array, or tensor on ``M``'s device), or
        ``(plan, log)``. With ``cost="sqeuclidean"`` the plan is a :class:`LazyPlan`, since a
        dense plan for large point clouds does not fit in memory.

    Precision: the computation uses ``M``'s dtype (numpy input: float64). Marginal errors
    below about 1e-6 need float64.
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {METHODS}")
    reg = check_positive("reg", reg)
    tol = check_positive("tol", tol)
    max_iter = check_positive_int("max_iter", max_iter)
    if cost == "sqeuclidean":
        if method != "log":
            raise ValueError("cost='sqeuclidean' supports method='log' only")
        if not (isinstance(M, tuple | list) and len(M) == 2):
            raise TypeError("with cost='sqeuclidean', M must be a pair (x, y) of point clouds")
        return sinkhorn_points(
            M[0], M[1], reg, a=a, b=b, tol=tol, max_iter=max_iter, log=log, batch_size=batch_size
        )
    if cost != "precomputed":
        raise ValueError(f"unknown cost {cost!r}; use 'precomputed' or 'sqeuclidean'")
    if hessian not in ("dense", "sparse"):
        raise ValueError(f"hessian must be 'dense' or 'sparse', got {hessian!r}")
    numpy_out = is_numpy_input(M)
    cost_matrix = to_tensor("M", M, ndim=2)
    if cost_matrix.dtype not in (torch.float32, torch.float64):
        raise TypeError(f"M must be float32 or float64, got {cost_matrix.dtype}")
    n, m = cost_matrix.shape
    a_t = histogram("a", a, n, cost_matrix)
    b_t = histogram("b", b, m, cost_matrix)
    check_balanced(a_t, b_t)
    cost_scaled = cost_matrix / reg

    first_tol = max(tol, check_positive("warmup_tol", warmup_tol)) if method == "sns" else tol
    scaling = log_stabilized_sinkhorn(a_t, b_t, cost_scaled, tol=first_tol, max_iter=max_iter)
    alpha, beta = scaling.alpha, scaling.beta
    details: dict[str, Any] = {"n_sinkhorn": scaling.n_iter, "err_history": scaling.err_history}
    n_iter = scaling.n_iter
    if method == "sns":
        newton = newton_stage(
            a_t,
            b_t,
            cost_scaled,
            alpha,
            beta,
            tol=tol,
            max_iter=check_positive_int("max_newton", max_newton),
            hessian=hessian,
        )
        alpha, beta = newton.alpha, newton.beta
        details.update(n_newton=newton.n_newton, n_cg=newton.n_cg)
        n_iter += newton.n_newton
    plan = plan_from_potentials(alpha, beta, cost_scaled)
    err = marginal_error(plan, a_t, b_t)
    converged = err <= tol
    if not converged:
        warnings.warn(
            f"sinkhorn ({method}) stopped with marginal error {err:.3g} > tol={tol:.3g} after "
            f"{n_iter} iterations; raise max_iter/max_newton or reg",
            SinkhornConvergenceWarning,
            stacklevel=2,
        )
    if not log:
        return to_output(plan, numpy_out)
    info = {
        "f": to_output(reg * alpha, numpy_out),
        "g": to_output(reg * beta, numpy_out),
        "n_iter": n_iter,
        "err": err,
        "converged": converged,
        **details,
    }
    return to_output(plan, numpy_out), info
