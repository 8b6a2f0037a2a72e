"""Solve a :class:`~theoropt.ot._problem.DenseProblem`: potentials by log-stabilised Sinkhorn
(optionally annealed in ``reg`` and warm-started), then SNS's Newton stage when asked.

**Epsilon scaling** (Kosowsky & Yuille 1994; Schmitzer 2019, Sec. 3.2): solve for
``reg_k = start * ratio^k`` down to ``reg``, each stage warm-started from the previous one's
potentials in cost units and stopped loosely (marginal error ``stage_tol``), the last one to
``tol``. ``start`` is the spread of the finite costs, where the plan is still close to
``a b^T`` and Sinkhorn converges in a few iterations.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from theoropt.ot._newton import newton_stage
from theoropt.ot._problem import DenseProblem, scaling_exponents
from theoropt.ot._scaling import Monitor, ScalingResult, log_stabilized_sinkhorn

Engine = Callable[..., ScalingResult]


@dataclass
class SnsOptions:
    """Second stage of Sinkhorn–Newton–Sparse: Sinkhorn to ``warmup_tol``, then Newton."""

    warmup_tol: float
    max_newton: int
    hessian: str


@dataclass
class DenseSolution:
    """Log-potentials ``(B, n)``, ``(B, m)`` and how the solve went."""

    alpha: torch.Tensor
    beta: torch.Tensor
    n_iter: int
    err: float
    err_history: list[float]
    details: dict[str, Any] = field(default_factory=dict)


def epsilon_schedule(reg: float, start: float, ratio: float) -> list[float]:
    """``start, start * ratio, ...`` while above ``reg``, then ``reg``."""
    schedule = []
    value = start
    while value > reg:
        schedule.append(value)
        value *= ratio
    return [*schedule, reg]


def annealed_potentials(
    solve_stage: Callable[[float, torch.Tensor | None, float], ScalingResult],
    reg: float,
    init: torch.Tensor | None,
    *,
    start: float,
    ratio: float | None,
    stage_tol: float,
    tol: float,
) -> tuple[ScalingResult, int]:
    """Run ``solve_stage(reg_k, init_alpha, tol_k)`` along the epsilon schedule (only ``reg``
    when ``ratio`` is None); returns the last stage's result and the total iteration count.
    ``init`` is the log-potential ``alpha`` at ``reg``; it is carried in cost units."""
    schedule = [reg] if ratio is None else epsilon_schedule(reg, start, ratio)
    potential = None if init is None else init * reg
    n_iter = 0
    for stage_reg in schedule:
        stage_init = None if potential is None else potential / stage_reg
        result = solve_stage(stage_reg, stage_init, tol if stage_reg == reg else stage_tol)
        n_iter += result.n_iter
        potential = result.alpha * stage_reg
    return result, n_iter


def solve_dense(
    problem: DenseProblem,
    *,
    method: str,
    tol: float,
    max_iter: int,
    init: torch.Tensor | None = None,
    eps_scaling: float | None = None,
    monitor: Monitor | None = None,
    sns: SnsOptions | None = None,
    engine: Engine = log_stabilized_sinkhorn,
) -> DenseSolution:
    """Potentials of ``problem`` (detached unless ``engine`` records autograd)."""
    a, b, cost = problem.a, problem.b, problem.cost
    if engine is log_stabilized_sinkhorn:
        a, b, cost = a.detach(), b.detach(), cost.detach()
    mass = float(a.detach().sum(-1).max())

    def solve_stage(
        stage_reg: float, stage_init: torch.Tensor | None, stage_tol: float
    ) -> ScalingResult:
        exponents = scaling_exponents(stage_reg, problem.reg_m)
        scaled = problem.cost_scaled if stage_reg == problem.reg else problem.cost / stage_reg
        return engine(
            a,
            b,
            scaled if engine is not log_stabilized_sinkhorn else scaled.detach(),
            tol=stage_tol,
            max_iter=max_iter,
            exponents=exponents,
            init=stage_init,
            forbidden=problem.forbidden,
            monitor=monitor,
        )

    first_tol = max(tol, sns.warmup_tol) if sns is not None else tol
    start = problem.reg
    if eps_scaling is not None:
        finite = cost.detach()[torch.isfinite(cost.detach())]
        start = float(finite.max() - finite.min())
    result, n_iter = annealed_potentials(
        solve_stage,
        problem.reg,
        init,
        start=start,
        ratio=eps_scaling,
        stage_tol=max(first_tol, 1e-3 * mass),
        tol=first_tol,
    )
    solution = DenseSolution(result.alpha, result.beta, n_iter, result.err, result.err_history)
    solution.details["n_sinkhorn"] = n_iter
    if sns is not None:
        _newton_stage(problem, solution, a, b, tol, sns)
    return solution


def _newton_stage(
    problem: DenseProblem,
    solution: DenseSolution,
    a: torch.Tensor,
    b: torch.Tensor,
    tol: float,
    sns: SnsOptions,
) -> None:
    """Newton steps per problem of the batch, in place on ``solution``."""
    cost_scaled = problem.cost_scaled.detach()
    alphas, betas, errs = [], [], []
    n_newton = n_cg = 0
    for index in range(problem.batch):
        newton = newton_stage(
            a[index],
            b[index],
            cost_scaled[index if cost_scaled.shape[0] > 1 else 0],
            solution.alpha[index],
            solution.beta[index],
            tol=tol,
            max_iter=sns.max_newton,
            hessian=sns.hessian,
        )
        alphas.append(newton.alpha)
        betas.append(newton.beta)
        errs.append(newton.err)
        n_newton = max(n_newton, newton.n_newton)
        n_cg += newton.n_cg
    solution.alpha, solution.beta = torch.stack(alphas), torch.stack(betas)
    solution.err = max(errs)
    solution.n_iter += n_newton
    solution.details.update(n_newton=n_newton, n_cg=n_cg)
