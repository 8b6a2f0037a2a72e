"""``sinkhorn`` and ``sinkhorn2``: entropic optimal transport with POT's signatures.

Solves ``min_P <P, M> + reg * KL(P | a b^T)`` over couplings of ``a`` and ``b`` (Cuturi 2013),
whose solution is ``P_ij = exp((f_i + g_j - M_ij) / reg)`` for the dual potentials ``f, g``;
with ``reg_m`` the marginal constraints become penalties ``reg_m * KL(P 1 | a)`` and
``reg_m * KL(P^T 1 | b)`` (unbalanced OT, POT's ``sinkhorn_unbalanced``). Balanced solves stop
when ``max(||P 1 - a||_1, ||P^T 1 - b||_1) <= tol``: both marginals, in total mass.

Positional arguments follow POT: ``(a, b, M, reg, method, numItermax, stopThr, verbose, log,
warn, warmstart)`` (our names ``max_iter``, ``tol`` in those places; POT's are accepted as
keywords too); every other option is keyword-only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from theoropt.ot._arrays import (
    ArrayLike,
    check_non_negative,
    check_positive,
    check_positive_int,
    to_output,
    to_values,
)
from theoropt.ot._conventions import (
    DEFAULT_EPSILON_RATIO,
    DEFAULT_MAX_ITER,
    EPSILON_SCALING_METHOD,
    canonical_method,
    epsilon_ratio,
    pot_alias,
    reachable_tolerance,
    verbose_monitor,
    warn_not_converged,
)
from theoropt.ot._dense import DenseSolution, SnsOptions, solve_dense
from theoropt.ot._dense_grad import EnvelopeValue, ImplicitPlan, Settings
from theoropt.ot._implicit import regularized_value
from theoropt.ot._problem import DenseProblem, dense_problem, warm_log_u
from theoropt.ot._scaling import log_stabilized_sinkhorn, plan_from_potentials
from theoropt.ot._unroll import unrolled_sinkhorn
from theoropt.ot.lazy import sinkhorn_points, sinkhorn_points2

GRADIENTS = ("implicit", "envelope", "autodiff", "unroll")
VALUES = ("linear", "regularized")


def sinkhorn(
    a: ArrayLike | None,
    b: ArrayLike | None,
    M: ArrayLike | tuple[ArrayLike, ArrayLike],
    reg: float,
    method: str = "log",
    max_iter: int | None = None,
    tol: float | None = None,
    verbose: bool = False,
    log: bool = False,
    warn: bool = True,
    warmstart: tuple[ArrayLike, ArrayLike] | None = None,
    *,
    reg_m: float | tuple[float, float] | None = None,
    eps_scaling: float | None = None,
    grad: str = "implicit",
    cost: str = "precomputed",
    warmup_tol: float = 1e-3,
    max_newton: int = 100,
    hessian: str = "dense",
    batch_size: int = 1024,
    numItermax: int | None = None,  # POT's name
    stopThr: float | None = None,  # POT's name
) -> Any:
    """Entropic OT plan between histograms ``a`` (n) and ``b`` (m) for the cost ``M`` (n x m).

    Args:
        a, b: positive weights with equal sums (balanced); ``None`` or ``[]`` means uniform (as
            in POT). ``b`` of shape (m, k) solves k problems with the same ``a`` and ``M``
            (POT's multi-b; then the k transport costs ``<P_k, M>`` are returned, as POT does).
        M: cost matrix, numpy array or torch tensor (any device), float32 or float64;
            ``+inf`` entries forbid those transports (plan exactly 0 there). A batch
            ``M (B, n, m)`` with ``a (B, n)``, ``b (B, m)`` (or shared 1-D weights) is solved
            at once. With ``cost="sqeuclidean"``, ``M`` is instead a pair ``(x, y)`` of point
            clouds (n x d, m x d) and the cost ``||x_i - y_j||^2`` is computed in chunks of
            ``batch_size`` rows, never stored.
        reg: entropic regularisation (absolute, in the units of ``M``).
        method: ``"log"`` — log-stabilised Sinkhorn; ``"sns"`` — Sinkhorn to ``warmup_tol``
            then Newton steps (Sinkhorn–Newton–Sparse, Tang et al. 2024). POT's names
            ``"sinkhorn"``, ``"sinkhorn_log"``, ``"sinkhorn_stabilized"`` select ``"log"``
            (same plan), ``"sinkhorn_epsilon_scaling"`` selects it with epsilon scaling.
        max_iter (POT: ``numItermax``): Sinkhorn iterations at most (10,000).
        tol (POT: ``stopThr``): stop when the marginal error is ``<= tol`` (default 1e-9 times
            the mass, raised to what the dtype allows; an explicit ``tol`` below that warns).
        verbose: print the marginal error as the iterations go (POT's table).
        log: also return a dict: POT's ``log_u``, ``log_v`` (log-scalings ``f/reg, g/reg``),
            ``u``, ``v``, ``niter`` (index of the last iteration), ``err`` (list of the errors
            measured), and ours: ``f``, ``g``, ``n_iter``, ``marginal_err`` (final),
            ``converged``, ``tol`` (the one used), ``n_sinkhorn`` (+ ``n_newton``, ``n_cg``).
        warn: warn (``SinkhornConvergenceWarning``) when ``tol`` is not reached.
        warmstart: ``(log_u, log_v)`` from an earlier solve (POT's convention); the first
            update computes ``log_v`` from ``log_u``.
        reg_m: marginal relaxation, a number or a pair (``inf``: that side exact); ``None``:
            balanced. The plan equals POT's ``sinkhorn_unbalanced(a, b, M, reg, reg_m)``.
        eps_scaling: ratio in (0, 1) of an epsilon-scaling schedule from the cost spread down
            to ``reg`` (``None``: off).
        grad: gradients of the plan when ``a``, ``b`` or ``M`` require them: ``"implicit"``
            (implicit differentiation at the solution) or ``"autodiff"`` (``"unroll"``:
            through the iterations, memory grows with them).
        warmup_tol, max_newton, hessian: SNS options ("dense" or "sparse" Hessian).
        batch_size: rows per chunk for ``cost="sqeuclidean"``.

    Returns:
        The plan (numpy for numpy ``M``, else a tensor on ``M``'s device and dtype), or
        ``(plan, log)``. With ``cost="sqeuclidean"`` a :class:`LazyPlan`.
    """
    method_name = str(method).lower()
    options = _Options.read(
        method, max_iter, tol, numItermax, stopThr, eps_scaling, grad, warmup_tol, max_newton,
        hessian,
    )  # fmt: skip
    if options.grad == "envelope":
        raise ValueError("grad='envelope' is for sinkhorn2's regularised value, not the plan")
    if cost == "sqeuclidean":
        _check_point_cloud_method(options)
        x, y = _point_pair(M)
        return sinkhorn_points(
            x, y, reg, a=a, b=b, tol=options.tol, max_iter=options.max_iter, log=log,
            batch_size=batch_size, reg_m=reg_m, eps_scaling=options.eps_scaling,
            warmstart=warmstart, verbose=verbose, warn=warn,
        )  # fmt: skip
    _check_cost_kind(cost)
    problem = dense_problem(a, b, M, reg, reg_m)
    options.check_for(problem)
    solution, tol_used = _solve(problem, options, warmstart, verbose, warn, method_name)
    plan = _plan(problem, solution, options, tol_used)
    if problem.layout == "multi_b":  # POT returns the k transport costs, not the plans
        result = _user_values(problem, (plan * problem.finite_cost).sum((-2, -1)))
    else:
        result = _user_tensor(problem, plan)
    if not log:
        return result
    return result, _log(problem, solution, tol_used)


def sinkhorn2(
    a: ArrayLike | None,
    b: ArrayLike | None,
    M: ArrayLike | tuple[ArrayLike, ArrayLike],
    reg: float,
    method: str = "log",
    max_iter: int | None = None,
    tol: float | None = None,
    verbose: bool = False,
    log: bool = False,
    warn: bool = False,
    warmstart: tuple[ArrayLike, ArrayLike] | None = None,
    *,
    value: str = "linear",
    grad: str = "implicit",
    reg_m: float | tuple[float, float] | None = None,
    eps_scaling: float | None = None,
    cost: str = "precomputed",
    warmup_tol: float = 1e-3,
    max_newton: int = 100,
    hessian: str = "dense",
    batch_size: int = 1024,
    numItermax: int | None = None,  # POT's name
    stopThr: float | None = None,  # POT's name
) -> Any:
    """Entropic OT loss, differentiable in ``a``, ``b`` and ``M`` (or the points) by autograd.

    ``value="linear"`` (default): POT's ``sinkhorn2``, the transport cost ``<P*, M>`` of the
    optimal regularised plan. ``value="regularized"``: the objective ``<P*, M> +
    reg KL(P* | a b^T)`` (+ ``reg_m`` KL terms; POT's ``ot.solve(...).value``).

    ``grad``: ``"implicit"`` (default) — exact at convergence: implicit differentiation of the
    optimality conditions for the linear value (one conjugate-gradient solve in the backward),
    the envelope theorem for the regularised one; memory does not depend on the iterations.
    ``"envelope"`` — the envelope gradient, exact for ``value="regularized"`` only (an error
    with the linear value, whose gradient it is not). ``"autodiff"``/``"unroll"`` — through the
    iterations (POT's behaviour with the torch backend).

    Balanced problems have gradients in ``a`` and ``b`` defined up to ``(+t, -t)``; the one
    returned has equal means (exact along every direction keeping ``sum a = sum b``).

    All other arguments as :func:`sinkhorn` (``warn`` defaults to False as in POT). Returns a
    0-d tensor (numpy input: a float), ``(B,)`` for a batch, ``(k,)`` for POT's multi-b; with
    ``log``, ``(value, log)``.
    """
    method_name = str(method).lower()
    options = _Options.read(
        method, max_iter, tol, numItermax, stopThr, eps_scaling, grad, warmup_tol, max_newton,
        hessian,
    )  # fmt: skip
    if value not in VALUES:
        raise ValueError(f"value must be one of {VALUES}, got {value!r}")
    if options.grad == "envelope" and value == "linear":
        raise ValueError(
            "grad='envelope' is the exact gradient of the regularised value only; pass "
            "value='regularized', or keep grad='implicit' for the linear value"
        )
    if cost == "sqeuclidean":
        _check_point_cloud_method(options)
        x, y = _point_pair(M)
        return sinkhorn_points2(
            x, y, reg, a=a, b=b, tol=options.tol, max_iter=options.max_iter, log=log,
            batch_size=batch_size, reg_m=reg_m, eps_scaling=options.eps_scaling,
            warmstart=warmstart, verbose=verbose, warn=warn, value=value,
        )  # fmt: skip
    _check_cost_kind(cost)
    problem = dense_problem(a, b, M, reg, reg_m)
    options.check_for(problem)
    solution, tol_used = _solve(problem, options, warmstart, verbose, warn, method_name)
    if value == "linear":
        loss = (_plan(problem, solution, options, tol_used) * problem.finite_cost).sum((-2, -1))
    elif options.grad in ("autodiff", "unroll"):
        plan = plan_from_potentials(solution.alpha, solution.beta, problem.cost_scaled)
        loss = regularized_value(
            problem.a, problem.b, solution.alpha, solution.beta, plan.sum(-1), plan.sum(-2),
            problem.reg, problem.reg_m,
        )  # fmt: skip
    else:
        loss = EnvelopeValue.apply(
            problem.a, problem.b, problem.cost, solution.alpha, solution.beta,
            _settings(problem, options, tol_used),
        )  # fmt: skip
    result = _user_values(problem, loss)
    if not log:
        return result
    return result, _log(problem, solution, tol_used)


@dataclass(frozen=True)
class _Options:
    """The solver options shared by ``sinkhorn`` and ``sinkhorn2``, POT aliases resolved."""

    method: str
    max_iter: int
    tol: float | None
    eps_scaling: float | None
    grad: str
    sns: SnsOptions | None

    @classmethod
    def read(
        cls,
        method: str,
        max_iter: int | None,
        tol: float | None,
        numItermax: int | None,
        stopThr: float | None,
        eps_scaling: float | None,
        grad: str,
        warmup_tol: float,
        max_newton: int,
        hessian: str,
    ) -> _Options:
        name = canonical_method(method)
        if str(method).lower() == EPSILON_SCALING_METHOD and eps_scaling is None:
            eps_scaling = DEFAULT_EPSILON_RATIO
        if grad not in GRADIENTS:
            raise ValueError(f"grad must be one of {GRADIENTS}, got {grad!r}")
        if hessian not in ("dense", "sparse"):
            raise ValueError(f"hessian must be 'dense' or 'sparse', got {hessian!r}")
        limit = pot_alias("max_iter", max_iter, "numItermax", numItermax, DEFAULT_MAX_ITER)
        requested = pot_alias("tol", tol, "stopThr", stopThr, None)
        sns = None
        if name == "sns":
            sns = SnsOptions(
                check_positive("warmup_tol", warmup_tol),
                check_positive_int("max_newton", max_newton),
                hessian,
            )
        return cls(
            method=name,
            max_iter=check_positive_int("max_iter", limit),
            tol=None if requested is None else check_non_negative("tol", requested),
            eps_scaling=epsilon_ratio(eps_scaling),
            grad=grad,
            sns=sns,
        )

    def check_for(self, problem: DenseProblem) -> None:
        if self.sns is not None and not problem.balanced:
            raise ValueError("method='sns' solves balanced problems only; use 'log' with reg_m")
        if self.sns is not None and self.grad in ("autodiff", "unroll"):
            raise ValueError("grad='autodiff' unrolls Sinkhorn iterations; use method='log'")


def _check_cost_kind(cost: str) -> None:
    if cost != "precomputed":
        raise ValueError(f"unknown cost {cost!r}; use 'precomputed' or 'sqeuclidean'")


def _check_point_cloud_method(options: _Options) -> None:
    if options.method != "log":
        raise ValueError("cost='sqeuclidean' supports method='log' only")
    if options.grad in ("autodiff", "unroll"):
        raise ValueError("cost='sqeuclidean' has grad='implicit' or 'envelope' (no unrolling)")


def _point_pair(M: Any) -> tuple[ArrayLike, ArrayLike]:
    if not (isinstance(M, tuple | list) and len(M) == 2):
        raise TypeError("with cost='sqeuclidean', M must be a pair (x, y) of point clouds")
    return M[0], M[1]


def _solve(
    problem: DenseProblem,
    options: _Options,
    warmstart: tuple[ArrayLike, ArrayLike] | None,
    verbose: bool,
    warn: bool,
    method_name: str,
) -> tuple[DenseSolution, float]:
    mass_a, mass_b = problem.a.detach().sum(-1), problem.b.detach().sum(-1)
    gap = float((mass_a - mass_b).abs().max()) if problem.balanced else 0.0
    mass = float(mass_a.max())
    size = sum(problem.cost.shape[-2:])
    tol = reachable_tolerance(options.tol, problem.cost.dtype, mass, gap, size, warn)
    unroll = options.grad in ("autodiff", "unroll")
    solution = solve_dense(
        problem,
        method=options.method,
        tol=tol,
        max_iter=options.max_iter,
        init=warm_log_u(
            warmstart,
            (problem.a.shape[-1], problem.b.shape[-1]),
            problem.cost,
            problem.batch,
            columns=problem.layout == "multi_b",
            balanced=problem.balanced,
        ),
        eps_scaling=options.eps_scaling,
        monitor=verbose_monitor(verbose),
        sns=options.sns,
        engine=unrolled_sinkhorn if unroll else log_stabilized_sinkhorn,
    )
    if warn and not solution.err <= tol:
        warn_not_converged(
            warn, f"sinkhorn ({method_name})", solution.err, tol, solution.n_iter,
            _advice(problem, tol),
        )  # fmt: skip
    return solution, tol


def _advice(problem: DenseProblem, tol: float) -> str:
    """What to change when a solve missed ``tol``. Costs far from 0 relative to ``reg`` make
    potentials so large that their rounding alone moves the marginals (``M + 1e9`` at reg 0.1:
    about 1e-6 in float64); a balanced plan does not change when a constant leaves ``M``.
    float32 rounding stalls solves whose potentials are merely moderate (``M / reg`` ~ 4000)."""
    advice = "raise max_iter (numItermax) or reg"
    cost = problem.cost.detach()
    lowest = float(cost[torch.isfinite(cost)].min())
    mass = float(problem.a.detach().sum(-1).max())
    rounding = torch.finfo(cost.dtype).eps * abs(lowest) / problem.reg * mass
    if problem.balanced and rounding > tol:
        advice = (
            f"M starts at {lowest:.3g}, and potentials that large (over reg={problem.reg:.3g}) "
            f"round to a marginal error of about {rounding:.1g} in {cost.dtype}: subtract "
            f"min(M) (the plan does not change), or {advice}"
        )
    if cost.dtype != torch.float64:
        advice += f", or pass M as float64 ({cost.dtype} rounding may stall it)"
    return advice


def _settings(problem: DenseProblem, options: _Options, tol: float) -> Settings:
    return Settings(problem.reg, problem.reg_m, problem.forbidden, options.max_iter, tol)


def _needs_grad(problem: DenseProblem) -> bool:
    return torch.is_grad_enabled() and any(
        t.requires_grad for t in (problem.a, problem.b, problem.cost)
    )


def _plan(
    problem: DenseProblem, solution: DenseSolution, options: _Options, tol: float
) -> torch.Tensor:
    """The plan, attached to autograd as the gradient option says."""
    if options.grad in ("autodiff", "unroll"):
        return plan_from_potentials(solution.alpha, solution.beta, problem.cost_scaled)
    if _needs_grad(problem):
        return ImplicitPlan.apply(
            problem.a, problem.b, problem.cost, solution.alpha, solution.beta,
            _settings(problem, options, tol),
        )  # fmt: skip
    return plan_from_potentials(solution.alpha, solution.beta, problem.cost_scaled.detach())


def _user_tensor(problem: DenseProblem, values: torch.Tensor) -> Any:
    """A plan (or per-problem vectors) in the user's layout and kind."""
    shaped = problem.per_problem(values)
    return shaped.detach().cpu().numpy() if problem.numpy_out else shaped


def _user_values(problem: DenseProblem, values: torch.Tensor) -> Any:
    """One number per problem: a 0-d tensor / float for one problem, else a vector."""
    return to_values(problem.per_problem(values), problem.numpy_out)


def _log(problem: DenseProblem, solution: DenseSolution, tol: float) -> dict[str, Any]:
    alpha, beta = solution.alpha.detach(), solution.beta.detach()

    def out(tensor: torch.Tensor) -> Any:
        return to_output(problem.per_problem(tensor), problem.numpy_out)

    return {
        "log_u": out(alpha),
        "log_v": out(beta),
        "u": out(alpha.exp()),
        "v": out(beta.exp()),
        "niter": solution.n_iter - 1,
        "err": list(solution.err_history),
        "f": out(problem.reg * alpha),
        "g": out(problem.reg * beta),
        "n_iter": solution.n_iter,
        "marginal_err": solution.err,
        "converged": solution.err <= tol,
        "tol": tol,
        **solution.details,
    }
