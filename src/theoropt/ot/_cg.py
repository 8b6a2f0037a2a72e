"""Conjugate gradient for the dual Hessian of entropic OT, shared by the Newton stage of SNS and
by implicit differentiation.

The systems have the block form ``[[diag(d_a), P], [P^T, diag(d_b)]] (x_a, x_b) = (r_a, r_b)``
(the negative Hessian of the dual, SNS paper eq. 5, with ``d = kappa * marginals`` for
unbalanced problems), symmetric positive semi-definite. Balanced problems have the null space
``(1, -1)`` and a consistent right-hand side, so CG stays in the range in exact arithmetic; in
floating point it stops at a direction of negligible curvature. Batches of problems are one
block-diagonal system: inner products are summed over the batch.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

HessianProduct = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


def _dot(xa: torch.Tensor, xb: torch.Tensor, ya: torch.Tensor, yb: torch.Tensor) -> float:
    return float((xa * ya).sum() + (xb * yb).sum())


def conjugate_gradient(
    product: HessianProduct,
    rhs_a: torch.Tensor,
    rhs_b: torch.Tensor,
    diag_a: torch.Tensor,
    diag_b: torch.Tensor,
    rtol: float,
    max_iter: int,
) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Jacobi-preconditioned CG for ``H x = rhs`` (``H`` given by ``product``), stopped at the
    relative residual ``rtol`` or after ``max_iter`` steps; returns ``(x_a, x_b, steps)``."""
    xa, xb = torch.zeros_like(rhs_a), torch.zeros_like(rhs_b)
    ra, rb = rhs_a.clone(), rhs_b.clone()
    za, zb = ra / diag_a, rb / diag_b
    pa, pb = za.clone(), zb.clone()
    rz = _dot(ra, rb, za, zb)
    target = rtol * math.sqrt(_dot(rhs_a, rhs_b, rhs_a, rhs_b))
    scale = float(torch.maximum(diag_a.max(), diag_b.max()))
    eps_machine = torch.finfo(rhs_a.dtype).eps
    steps = 0
    while steps < max_iter and rz > 0:
        steps += 1
        ha, hb = product(pa, pb)
        curvature = _dot(pa, pb, ha, hb)
        # A direction of (numerically) zero curvature lies in H's null space (1, -1): a step
        # along it would be huge and only add rounding error.
        if curvature <= 64 * eps_machine * scale * _dot(pa, pb, pa, pb):
            break
        step = rz / curvature
        xa.add_(pa, alpha=step)
        xb.add_(pb, alpha=step)
        ra.sub_(ha, alpha=step)
        rb.sub_(hb, alpha=step)
        if math.sqrt(_dot(ra, rb, ra, rb)) <= target:
            break
        za, zb = ra / diag_a, rb / diag_b
        rz_next = _dot(ra, rb, za, zb)
        pa.mul_(rz_next / rz).add_(za)
        pb.mul_(rz_next / rz).add_(zb)
        rz = rz_next
    return xa, xb, steps
