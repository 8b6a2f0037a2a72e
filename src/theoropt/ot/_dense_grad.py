"""Autograd for dense entropic OT: the plan by implicit differentiation and the regularised
value by the envelope theorem (formulas in :mod:`theoropt.ot._implicit`). The solve happens
before, without autograd; these functions rebuild the plan from the potentials and only their
backward passes do extra work, so memory does not depend on the number of iterations.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch.autograd.function import once_differentiable

from theoropt.ot._implicit import (
    envelope_weight_gradients,
    hessian_product,
    plan_weight_gradients,
    regularized_value,
    solve_adjoint,
)
from theoropt.ot._scaling import plan_from_potentials


@dataclass(frozen=True)
class Settings:
    reg: float
    reg_m: tuple[float, float]
    forbidden: torch.Tensor | None
    max_cg: int
    tol: float


def _plan(
    alpha: torch.Tensor, beta: torch.Tensor, cost: torch.Tensor, settings: Settings
) -> torch.Tensor:
    """The plan; ``+inf`` costs give exactly 0 (``exp(-inf)``)."""
    return plan_from_potentials(alpha, beta, cost / settings.reg)


def _cost_gradient(grad: torch.Tensor, cost: torch.Tensor) -> torch.Tensor:
    """Sum over the batch when one cost is shared by all problems."""
    return grad.sum(0, keepdim=True) if cost.shape[0] == 1 and grad.shape[0] > 1 else grad


def _masked(values: torch.Tensor, settings: Settings) -> torch.Tensor:
    return values if settings.forbidden is None else values.masked_fill(settings.forbidden, 0.0)


class ImplicitPlan(torch.autograd.Function):
    """``P(a, b, C)`` from solved potentials; backward solves the adjoint system once."""

    @staticmethod
    def forward(
        ctx: Any,
        a: torch.Tensor,
        b: torch.Tensor,
        cost: torch.Tensor,
        alpha: torch.Tensor,
        beta: torch.Tensor,
        settings: Settings,
    ) -> torch.Tensor:
        plan = _plan(alpha, beta, cost, settings)
        ctx.save_for_backward(a, b, cost, plan)
        ctx.settings = settings
        return plan

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad_plan: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        a, b, cost, plan = ctx.saved_tensors
        settings: Settings = ctx.settings
        weighted = _masked(plan * grad_plan, settings)
        row, col = plan.sum(-1), plan.sum(-2)

        def plan_products(xa: torch.Tensor, xb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            return (plan @ xb[..., None])[..., 0], (xa[..., None, :] @ plan)[..., 0, :]

        product = hessian_product(plan_products, row, col, settings.reg, settings.reg_m)
        x, y = solve_adjoint(
            product,
            weighted.sum(-1),
            weighted.sum(-2),
            row,
            col,
            settings.reg_m,
            settings.reg,
            settings.max_cg,
            settings.tol,
        )
        grad_cost = None
        if ctx.needs_input_grad[2]:
            shifted = plan * (x[..., :, None] + y[..., None, :])
            grad_cost = _cost_gradient((shifted - weighted) / settings.reg, cost)
        grad_a, grad_b = plan_weight_gradients(x, y, a, b, row, col, settings.reg, settings.reg_m)
        return grad_a, grad_b, grad_cost, None, None, None


class EnvelopeValue(torch.autograd.Function):
    """The regularised value ``<P, C> + reg KL(P | a b^T) (+ marginal KL terms)``; its
    gradient is exact at the optimum without any linear solve (envelope theorem)."""

    @staticmethod
    def forward(
        ctx: Any,
        a: torch.Tensor,
        b: torch.Tensor,
        cost: torch.Tensor,
        alpha: torch.Tensor,
        beta: torch.Tensor,
        settings: Settings,
    ) -> torch.Tensor:
        plan = _plan(alpha, beta, cost, settings)
        row, col = plan.sum(-1), plan.sum(-2)
        ctx.save_for_backward(a, b, cost, alpha, beta, row, col, plan)
        ctx.settings = settings
        return regularized_value(a, b, alpha, beta, row, col, settings.reg, settings.reg_m)

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad_value: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        a, b, cost, alpha, beta, row, col, plan = ctx.saved_tensors
        settings: Settings = ctx.settings
        scale = grad_value[:, None]
        grad_cost = _cost_gradient(plan * scale[..., None], cost)
        grad_a, grad_b = envelope_weight_gradients(
            a, b, alpha, beta, row, col, settings.reg, settings.reg_m
        )
        return grad_a * scale, grad_b * scale, grad_cost, None, None, None
