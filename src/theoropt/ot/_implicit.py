"""Gradients of entropic OT at its solution, without unrolling the iterations.

Notation: ``eps = reg``, plan ``P_ij = exp(alpha_i + beta_j - C_ij / eps)``, marginals
``r = P 1``, ``c = P^T 1``, relaxation ``rho`` per side (``inf`` = constraint) and
``kappa = 1 + eps / rho`` (1 on a constrained side).

**Implicit differentiation of the plan.** The optimality conditions are ``r = a`` (or, relaxed,
``f_i + rho log r_i = (eps + rho) log a_i`` with ``f = eps alpha``) and the same for ``c``.
Differentiating them gives, for perturbations ``(df, dg)`` of the potentials,
``H (df, dg) = (S 1 + eps kappa_a (r/a) da, S^T 1 + eps kappa_b (c/b) db)`` with
``S = P * dC`` and ``H = [[diag(kappa_a r), P], [P^T, diag(kappa_b c)]]``. For a loss with
upstream gradient ``G`` on ``P`` (``dL = <G, dP>``), solving the adjoint system
``H (x, y) = ((P*G) 1, (P*G)^T 1)`` once (conjugate gradient, memory independent of the number
of Sinkhorn iterations) gives

    dL/dC_ij = P_ij (x_i + y_j - G_ij) / eps,
    dL/da = kappa_a x r / a,   dL/db = kappa_b y c / b.

**Envelope theorem for the regularised value** ``OT = <P, C> + eps KL(P | a b^T)
+ rho_a KL(r | a) + rho_b KL(c | b)`` (exact at the optimum, no linear solve):
``dOT/dC = P``; ``dOT/da = eps (m_b - r/a) + F`` on a constrained side, with the multiplier
``F = eps (alpha - log a)``, and ``eps (m_b - r/a) + rho (1 - r/a)`` on a relaxed side
(``m_b = sum b``).

**Balanced problems** are invariant under ``(alpha + t, beta - t)``, so the gradients in ``a``
and ``b`` are defined up to ``(+t, -t)`` (only ``sum a = sum b`` is feasible). We return the
representative with ``mean(dL/da) = mean(dL/db)``, which gives the exact directional derivative
along every feasible direction (POT's ``grad="envelope"`` centres each vector instead, which is
exact only for directions that keep each mass).
"""

from __future__ import annotations

import math

import torch

from theoropt.ot._cg import HessianProduct, conjugate_gradient


def kappas(reg: float, reg_m: tuple[float, float]) -> tuple[float, float]:
    """``1 + eps / rho`` per side (1 on a constrained side)."""
    kappa_a, kappa_b = (1.0 + reg / rho if math.isfinite(rho) else 1.0 for rho in reg_m)
    return kappa_a, kappa_b


def is_balanced(reg_m: tuple[float, float]) -> bool:
    return math.isinf(reg_m[0]) and math.isinf(reg_m[1])


def adjoint_precision(dtype: torch.dtype, tol: float) -> float:
    """Relative residual at which the adjoint CG stops: a tenth of the forward solve's
    tolerance ``tol`` (the plan itself is only that accurate; measured gradient errors stay
    below the forward solve's own, see benchmarks/sinkhorn_loss_speed.py), within
    ``[1e-12, 1e-3]`` in float64 and ``[1e-5, 1e-3]`` in float32."""
    lowest = 1e-12 if dtype == torch.float64 else 1e-5
    return min(1e-3, max(lowest, 0.1 * tol))


def solve_adjoint(
    product: HessianProduct,
    rhs_row: torch.Tensor,
    rhs_col: torch.Tensor,
    row: torch.Tensor,
    col: torch.Tensor,
    reg_m: tuple[float, float],
    reg: float,
    max_iter: int,
    tol: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(x, y)`` with ``H (x, y) = (rhs_row, rhs_col)``; ``product`` multiplies by ``H``;
    ``tol`` is the forward solve's (see :func:`adjoint_precision`)."""
    kappa_a, kappa_b = kappas(reg, reg_m)
    x, y, _ = conjugate_gradient(
        product,
        rhs_row,
        rhs_col,
        kappa_a * row,
        kappa_b * col,
        adjoint_precision(rhs_row.dtype, tol),
        max_iter,
    )
    return x, y


def hessian_product(
    plan_products: HessianProduct,
    row: torch.Tensor,
    col: torch.Tensor,
    reg: float,
    reg_m: tuple[float, float],
) -> HessianProduct:
    """``H`` from ``plan_products(xa, xb) = (P xb, P^T xa)`` (one pass over a lazy plan)."""
    kappa_a, kappa_b = kappas(reg, reg_m)

    def product(xa: torch.Tensor, xb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        p_xb, pt_xa = plan_products(xa, xb)
        return kappa_a * row * xa + p_xb, pt_xa + kappa_b * col * xb

    return product


def equal_means(
    grad_a: torch.Tensor, grad_b: torch.Tensor, reg_m: tuple[float, float]
) -> tuple[torch.Tensor, torch.Tensor]:
    """For balanced problems, the representative ``(grad_a + t, grad_b - t)`` with equal means
    (see the module doc); unbalanced gradients are unique and returned as they are."""
    if not is_balanced(reg_m):
        return grad_a, grad_b
    shift = 0.5 * (grad_b.mean(-1, keepdim=True) - grad_a.mean(-1, keepdim=True))
    return grad_a + shift, grad_b - shift


def plan_weight_gradients(
    x: torch.Tensor,
    y: torch.Tensor,
    a: torch.Tensor,
    b: torch.Tensor,
    row: torch.Tensor,
    col: torch.Tensor,
    reg: float,
    reg_m: tuple[float, float],
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(kappa_a x r / a, kappa_b y c / b)`` with the balanced normalisation."""
    kappa_a, kappa_b = kappas(reg, reg_m)
    return equal_means(kappa_a * x * row / a, kappa_b * y * col / b, reg_m)


def _kl(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """Generalised KL ``sum p log(p/q) - p + q`` over the last axis."""
    return torch.xlogy(p, p / q).sum(-1) - p.sum(-1) + q.sum(-1)


def regularized_value(
    a: torch.Tensor,
    b: torch.Tensor,
    alpha: torch.Tensor,
    beta: torch.Tensor,
    row: torch.Tensor,
    col: torch.Tensor,
    reg: float,
    reg_m: tuple[float, float],
) -> torch.Tensor:
    """``<P, C> + eps KL(P | a b^T) + rho_a KL(r | a) + rho_b KL(c | b)`` per problem.

    With ``log P = alpha + beta - C/eps`` the cost term cancels:
    ``<P, C> + eps KL(P | a b^T) = eps (<alpha - log a, r> + <beta - log b, c> - sum r
    + m_a m_b)``, so no pass over the cost is needed (and ``+inf`` costs carry no NaN).
    """
    value = reg * (
        ((alpha - a.log()) * row).sum(-1)
        + ((beta - b.log()) * col).sum(-1)
        - row.sum(-1)
        + a.sum(-1) * b.sum(-1)
    )
    for rho, marginal, weights in ((reg_m[0], row, a), (reg_m[1], col, b)):
        if math.isfinite(rho):
            value = value + rho * _kl(marginal, weights)
    return value


def envelope_weight_gradients(
    a: torch.Tensor,
    b: torch.Tensor,
    alpha: torch.Tensor,
    beta: torch.Tensor,
    row: torch.Tensor,
    col: torch.Tensor,
    reg: float,
    reg_m: tuple[float, float],
) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact gradients of :func:`regularized_value` in ``a`` and ``b`` (module doc)."""
    grads = []
    sides = ((reg_m[0], a, row, alpha, b), (reg_m[1], b, col, beta, a))
    for rho, weights, marginal, potential, other in sides:
        ratio = marginal / weights
        grad = reg * (other.sum(-1, keepdim=True) - ratio)
        if math.isfinite(rho):
            grad = grad + rho * (1.0 - ratio)
        else:
            grad = grad + reg * (potential - weights.log())
        grads.append(grad)
    return equal_means(grads[0], grads[1], reg_m)
