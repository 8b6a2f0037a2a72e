"""Alternating log-domain Sinkhorn (Peyré & Cuturi 2019, eq. 4.43; POT's ``sinkhorn_log``)
given the two log-sum-exp operators, shared by the point-cloud solver (chunked operators) and
by ``grad="autodiff"`` (dense operators, every iteration recorded by torch autograd, so the
gradient is that of the computation itself, as POT's with the torch backend; memory grows with
the number of iterations times ``n * m``).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from theoropt.ot._scaling import (
    Monitor,
    ScalingResult,
    half_step,
    lse_cols,
    lse_rows,
    marginal_change,
    plan_from_potentials,
)

LogSumExp = Callable[[torch.Tensor], torch.Tensor]


def log_domain_sinkhorn(
    a: torch.Tensor,
    b: torch.Tensor,
    row_lse: LogSumExp,
    col_lse: LogSumExp,
    *,
    tol: float,
    max_iter: int,
    exponents: tuple[float, float] = (1.0, 1.0),
    init: torch.Tensor | None = None,
    monitor: Monitor | None = None,
) -> ScalingResult:
    """Updates ``beta = log b - phi_b col_lse(alpha)``, ``alpha = log a - phi_a row_lse(beta)``
    until the row-marginal change the next ``alpha`` update would make is ``<= tol`` (the
    column marginal is exact after each ``beta`` update, and the check reuses the row
    log-sum-exp, so every iteration is checked). ``row_lse(beta)_i = LSE_j(beta_j - C_ij)``,
    ``col_lse(alpha)_j = LSE_i(alpha_i - C_ij)``. Returns the checked ``(alpha, beta)``."""
    phi_a, phi_b = exponents
    log_a, log_b = a.log(), b.log()
    alpha = torch.zeros_like(a) if init is None else init
    history: list[float] = []
    n_iter = 0
    while True:
        n_iter += 1
        beta = half_step(log_b, col_lse(alpha), phi_b)
        lse = row_lse(beta)
        alpha_next = half_step(log_a, lse, phi_a)
        with torch.no_grad():
            change = (alpha + lse).exp() - (alpha_next + lse).exp()
            err = float(change.abs().sum(-1).max())
        history.append(err)
        if monitor is not None:
            monitor(n_iter, err)
        if err <= tol or n_iter >= max_iter or not math.isfinite(err):
            break
        alpha = alpha_next
    return ScalingResult(alpha, beta, n_iter, err, err <= tol, history)


def unrolled_sinkhorn(
    a: torch.Tensor,
    b: torch.Tensor,
    cost_scaled: torch.Tensor,
    *,
    tol: float,
    max_iter: int,
    exponents: tuple[float, float] = (1.0, 1.0),
    init: torch.Tensor | None = None,
    forbidden: torch.Tensor | None = None,
    monitor: Monitor | None = None,
) -> ScalingResult:
    """:func:`log_domain_sinkhorn` on a dense cost, with autograd; same signature as
    :func:`~theoropt.ot._scaling.log_stabilized_sinkhorn` (``+inf`` costs need no mask). The
    error is measured again on the plan: with large potentials (a cost far from 0) the
    log-sum-exp updates reported 0 for a plan 5.5e-7 off its marginals."""
    del forbidden
    result = log_domain_sinkhorn(
        a,
        b,
        lambda beta: lse_rows(beta, cost_scaled),
        lambda alpha: lse_cols(alpha, cost_scaled),
        tol=tol,
        max_iter=max_iter,
        exponents=exponents,
        init=init,
        monitor=monitor,
    )
    with torch.no_grad():
        potentials = (result.alpha, result.beta)
        plan = plan_from_potentials(*potentials, cost_scaled)
        err = marginal_change(plan.sum(-1), plan.sum(-2), a, b, potentials, exponents)
    return result.measured_on_plan(err, tol)


def symmetric_log_domain_sinkhorn(
    a: torch.Tensor,
    lse: LogSumExp,
    *,
    tol: float,
    max_iter: int,
    exponent: float = 1.0,
    init: torch.Tensor | None = None,
    monitor: Monitor | None = None,
) -> ScalingResult:
    """Self-transport ``(a, x) -> (a, x)``: the plan is symmetric, ``beta = alpha``, and the
    averaged update ``alpha = (alpha + log a - phi lse(alpha)) / 2`` (Feydy et al., AISTATS
    2019, Sec. 3.1; GeomLoss's symmetric Sinkhorn) converges in a few iterations where the
    alternating one oscillates. Stops when the marginal change of the plain update is
    ``<= tol``; ``lse(alpha)_i = LSE_j(alpha_j - C_ij)``."""
    log_a = a.log()
    alpha = torch.zeros_like(a) if init is None else init
    history: list[float] = []
    n_iter = 0
    while True:
        n_iter += 1
        current = lse(alpha)
        target = half_step(log_a, current, exponent)
        with torch.no_grad():
            change = (alpha + current).exp() - (target + current).exp()
            err = float(change.abs().sum(-1).max())
        history.append(err)
        if monitor is not None:
            monitor(n_iter, err)
        if err <= tol or n_iter >= max_iter or not math.isfinite(err):
            break
        alpha = 0.5 * (alpha + target)
    return ScalingResult(alpha, alpha, n_iter, err, err <= tol, history)
