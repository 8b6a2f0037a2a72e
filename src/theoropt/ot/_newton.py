"""Second stage of Sinkhorn–Newton–Sparse (Tang, Shavlovsky, Rahmanian, Tardini, Thekumparampil,
Xiao, Ying; ICLR 2024): Newton steps on the entropic dual, started from Sinkhorn's potentials.

In log-potentials ``alpha = f/reg``, ``beta = g/reg`` the dual to maximise is
``D(alpha, beta) = <a, alpha> + <b, beta> - sum_ij P_ij``, ``P = exp(alpha + beta - C/reg)``, with
gradient ``(a - P 1, b - P^T 1)`` and negative Hessian ``H = [[diag(P 1), P], [P^T, diag(P^T 1)]]``
(SNS paper, eq. 5). Each step solves ``H d = grad`` by Jacobi-preconditioned conjugate gradient
to a relative residual ``min(0.1, sqrt(||grad||_1))`` (inexact Newton, Dembo–Eisenstat–Steihaug
forcing; ``theoropt.ot._cg``) and takes the largest step ``t in {1, 1/2, ...}`` satisfying
Armijo's condition on ``D``.
``H`` is singular along ``(1, -1)`` but the system is consistent (``sum a = sum b``), so CG stays
in the range of ``H`` in exact arithmetic; in floating point CG stops at a direction of
negligible curvature and the direction's null-space component is removed, so rounding cannot
drive a huge step along ``(1, -1)``.

``hessian="sparse"`` keeps only the entries ``P_ij >= drop_tol * (P 1)_i`` of the off-diagonal
blocks in CSR form (the diagonal blocks stay exact, so the matrix stays diagonally dominant and
positive semi-definite), as in SNS; ``"dense"`` multiplies by ``P`` itself, which was faster on
CPU at n <= a few thousand (see ``benchmarks/sns_hessian.py``).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import torch

from theoropt.ot._cg import HessianProduct, conjugate_gradient
from theoropt.ot._scaling import marginal_error, plan_from_potentials


@dataclass
class NewtonResult:
    """Potentials after the Newton stage and its counts."""

    alpha: torch.Tensor
    beta: torch.Tensor
    n_newton: int
    n_cg: int
    err: float
    converged: bool


def _hessian_product(
    plan: torch.Tensor, row: torch.Tensor, col: torch.Tensor, hessian: str, drop_tol: float
) -> HessianProduct:
    if hessian == "dense":
        off, off_t = plan, plan.T
    else:
        kept = torch.where(plan >= drop_tol * row[:, None], plan, torch.zeros((), dtype=plan.dtype))
        with warnings.catch_warnings():  # torch's notice that CSR support is in beta
            warnings.filterwarnings("ignore", "Sparse CSR tensor support is in beta")
            off, off_t = kept.to_sparse_csr(), kept.T.contiguous().to_sparse_csr()

    def product(xa: torch.Tensor, xb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return row * xa + off @ xb, off_t @ xa + col * xb

    return product


def newton_stage(
    a: torch.Tensor,
    b: torch.Tensor,
    cost_scaled: torch.Tensor,
    alpha: torch.Tensor,
    beta: torch.Tensor,
    *,
    tol: float,
    max_iter: int,
    hessian: str = "dense",
    drop_tol: float = 1e-10,
    max_cg: int = 500,
) -> NewtonResult:
    """Newton iterations from ``(alpha, beta)`` until ``marginal_error <= tol``."""
    plan = plan_from_potentials(alpha, beta, cost_scaled)
    total = plan.sum()
    objective = float(a @ alpha + b @ beta - total)
    eps_machine = torch.finfo(plan.dtype).eps
    err = marginal_error(plan, a, b)
    n_cg = 0
    n_newton = 0
    while err > tol and n_newton < max_iter:
        row, col = plan.sum(dim=1), plan.sum(dim=0)
        grad_a, grad_b = a - row, b - col
        grad_norm = float(grad_a.abs().sum() + grad_b.abs().sum())
        product = _hessian_product(plan, row, col, hessian, drop_tol)
        da, db, steps = conjugate_gradient(
            product, grad_a, grad_b, row, col, min(0.1, math.sqrt(grad_norm)), max_cg
        )
        # Remove the null-space component (1, -1): it leaves the plan unchanged.
        shift = (float(da.sum()) - float(db.sum())) / (da.numel() + db.numel())
        da, db = da - shift, db + shift
        n_cg += steps
        slope = float(grad_a @ da + grad_b @ db)
        step = 1.0
        for _ in range(40):
            alpha_new, beta_new = alpha + step * da, beta + step * db
            plan_new = plan_from_potentials(alpha_new, beta_new, cost_scaled)
            objective_new = float(a @ alpha_new + b @ beta_new - plan_new.sum())
            rounding = 16 * eps_machine * (abs(objective) + float(total))
            if math.isfinite(objective_new) and (
                objective_new >= objective + 1e-4 * step * slope - rounding
            ):
                break
            step *= 0.5
        else:
            break  # no ascent step found: the potentials are as good as rounding allows
        alpha, beta, plan, objective = alpha_new, beta_new, plan_new, objective_new
        total = plan.sum()
        err = marginal_error(plan, a, b)
        n_newton += 1
    return NewtonResult(alpha, beta, n_newton, n_cg, err, err <= tol)
