"""Entropic OT between point clouds with the squared Euclidean cost computed in chunks.

For ``n = m = 50,000`` the cost matrix alone is 20 GB in float64, so it is never stored: each
log-domain Sinkhorn half-step (Peyré & Cuturi 2019, eq. 4.43) evaluates
``LSE_j(beta_j - ||x_i - y_j||^2 / reg)`` block by block (``batch_size`` rows at a time), which
needs ``O(batch_size * m + n + m)`` memory. :func:`sinkhorn_points` returns a
:class:`LazyPlan` holding the potentials; :func:`sinkhorn_points2` returns the loss,
differentiable in the points and weights, whose backward pass (implicit differentiation or the
envelope theorem, :mod:`theoropt.ot._implicit`) also works block by block.

Clouds may come as a batch ``x (B, n, d)``, ``y (B, m, d)`` (with weights ``(B, n)``,
``(B, m)`` or shared 1-D ones) for the losses; the plan object is for one problem.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch.autograd.function import once_differentiable

from theoropt.ot._arrays import (
    ArrayLike,
    check_balanced,
    check_gradient_kept,
    check_positive,
    check_positive_int,
    histogram,
    is_numpy_input,
    to_output,
    to_tensor,
    to_values,
)
from theoropt.ot._conventions import (
    DEFAULT_MAX_ITER,
    epsilon_ratio,
    reachable_tolerance,
    verbose_monitor,
    warn_not_converged,
)
from theoropt.ot._dense import annealed_potentials
from theoropt.ot._implicit import (
    envelope_weight_gradients,
    hessian_product,
    plan_weight_gradients,
    regularized_value,
    solve_adjoint,
)
from theoropt.ot._problem import marginal_relaxation, scaling_exponents, warm_log_u
from theoropt.ot._scaling import ScalingResult, marginal_change
from theoropt.ot._unroll import log_domain_sinkhorn, symmetric_log_domain_sinkhorn


def centred(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``x - c``, ``y - c`` with ``c`` the (detached) mean of both clouds, per problem of a
    batch. Squared distances do not change, but the expanded form ``||x||^2 + ||y||^2 - 2 <x, y>``
    loses about ``eps * max ||x||^2`` to cancellation (without centring, float32 clouds 100 units
    from the origin moved the divergence by 2 %). Gradients pass through unchanged."""
    centre = torch.cat([x.detach(), y.detach()], dim=-2).mean(-2, keepdim=True)
    return x - centre, y - centre


def squared_distances(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``||x_i - y_j||^2`` for all pairs (expanded form, clamped at 0 against rounding);
    batched over leading axes. The metrics and toy problems call it in float64; centre float32
    clouds far from the origin first (:func:`centred`)."""
    sq = (x * x).sum(-1)[..., :, None] + (y * y).sum(-1)[..., None, :] - 2.0 * (x @ y.mT)
    return sq.clamp_(min=0.0)


@torch.no_grad()
def _chunked_lse(
    rows: torch.Tensor, cols: torch.Tensor, potential: torch.Tensor, reg: float, batch_size: int
) -> torch.Tensor:
    """``LSE_j(potential_j - ||rows_i - cols_j||^2 / reg)`` for every i, in row blocks; rows
    ``(..., n, d)``, cols ``(..., m, d)``, potential ``(..., m)``.

    With ``||r_i - c_j||^2 = ||r_i||^2 + ||c_j||^2 - 2 <r_i, c_j>`` the row term leaves the
    log-sum-exp, so each block is one fused ``baddbmm`` of ``(2/reg) r c^T`` onto
    ``potential_j - ||c_j||^2/reg`` in a reused buffer, then an in-place max-shifted exp-sum:
    about 5x faster on the CPU than forming the distances and calling ``torch.logsumexp``.
    """
    squeeze = rows.ndim == 2
    if squeeze:
        rows, cols, potential = rows[None], cols[None], potential[None]
    batch, n = rows.shape[:2]
    out = rows.new_empty(batch, n)
    column_terms = (potential - (cols * cols).sum(-1) / reg)[:, None, :]
    row_terms = (rows * rows).sum(-1) / reg
    cols_t = cols.mT
    buffer = rows.new_empty(batch, min(batch_size, n), cols.shape[1])
    for start in range(0, n, batch_size):
        block = rows[:, start : start + batch_size]
        exponents = torch.baddbmm(
            column_terms, block, cols_t, alpha=2.0 / reg, out=buffer[:, : block.shape[1]]
        )
        peak = exponents.amax(-1, keepdim=True)
        lse = exponents.sub_(peak).exp_().sum(-1).log_() + peak[..., 0]
        out[:, start : start + batch_size] = lse - row_terms[:, start : start + batch_size]
    return out[0] if squeeze else out


@dataclass
class PointKernel:
    """Blocks of the plan ``P = exp(alpha + beta - C / reg)``, ``C_ij = ||x_i - y_j||^2``, for
    a batch ``x (B, n, d)``, ``y (B, m, d)``, ``alpha (B, n)``, ``beta (B, m)``."""

    x: torch.Tensor
    y: torch.Tensor
    alpha: torch.Tensor
    beta: torch.Tensor
    reg: float
    batch_size: int

    def __post_init__(self) -> None:
        self.x, self.y = centred(self.x, self.y)  # every output is translation invariant

    def block(self, start: int, stop: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``(P[:, start:stop], C[:, start:stop])``: two block-sized tensors, no other
        temporaries (the cost is one ``baddbmm`` onto ``||y_j||^2``, then in-place updates)."""
        rows = self.x[:, start:stop]
        cost = torch.baddbmm((self.y * self.y).sum(-1)[:, None, :], rows, self.y.mT, alpha=-2.0)
        cost.add_((rows * rows).sum(-1)[..., None]).clamp_(min=0.0)
        plan = self.alpha[:, start:stop, None] + self.beta[:, None, :]
        return plan.sub_(cost, alpha=1.0 / self.reg).exp_(), cost

    def blocks(self) -> Iterator[tuple[int, int, torch.Tensor, torch.Tensor]]:
        n = self.x.shape[1]
        for start in range(0, n, self.batch_size):
            stop = min(start + self.batch_size, n)
            yield start, stop, *self.block(start, stop)

    def sums(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(P 1, P^T 1, (P*C) 1, (P*C)^T 1)`` in one pass."""
        row = self.alpha.new_empty(self.alpha.shape)
        weighted_row = self.alpha.new_empty(self.alpha.shape)
        col = torch.zeros_like(self.beta)
        weighted_col = torch.zeros_like(self.beta)
        for start, stop, plan, cost in self.blocks():
            row[:, start:stop] = plan.sum(-1)
            col += plan.sum(-2)
            weighted = plan.mul_(cost)
            weighted_row[:, start:stop] = weighted.sum(-1)
            weighted_col += weighted.sum(-2)
        return row, col, weighted_row, weighted_col

    def products(self, xa: torch.Tensor, xb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(P xb, P^T xa)`` in one pass."""
        out_a = torch.empty_like(xa)
        out_b = torch.zeros_like(xb)
        for start, stop, plan, _ in self.blocks():
            out_a[:, start:stop] = (plan @ xb[..., None])[..., 0]
            out_b += (xa[:, None, start:stop] @ plan)[:, 0]
        return out_a, out_b

    def point_gradients(
        self, weights: Callable[[int, int, torch.Tensor, torch.Tensor], torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Gradients in ``x`` and ``y`` of ``sum G_ij C_ij`` at fixed ``G``, where
        ``weights(start, stop, P_block, C_block)`` gives the block of ``G``:
        ``dC_ij/dx_i = 2 (x_i - y_j)``."""
        grad_x = torch.empty_like(self.x)
        grad_y = torch.zeros_like(self.y)
        col = torch.zeros_like(self.beta)
        for start, stop, plan, cost in self.blocks():
            g = weights(start, stop, plan, cost)
            block = self.x[:, start:stop]
            grad_x[:, start:stop] = 2.0 * (g.sum(-1)[..., None] * block - g @ self.y)
            grad_y -= 2.0 * (g.mT @ block)
            col += g.sum(-2)
        grad_y += 2.0 * col[..., None] * self.y
        return grad_x, grad_y


@dataclass
class LazyPlan:
    """The entropic plan ``P_ij = exp(alpha_i + beta_j - ||x_i - y_j||^2 / reg)``, never stored.

    ``alpha = f / reg`` and ``beta = g / reg`` are the log-potentials. Outputs are numpy arrays
    when the point clouds were numpy arrays, tensors otherwise.
    """

    x: torch.Tensor
    y: torch.Tensor
    alpha: torch.Tensor
    beta: torch.Tensor
    reg: float
    batch_size: int
    numpy_out: bool

    @property
    def shape(self) -> tuple[int, int]:
        return self.x.shape[0], self.y.shape[0]

    @property
    def f(self) -> ArrayLike:
        """Dual potential on the x side (cost units)."""
        return to_output(self.reg * self.alpha, self.numpy_out)

    @property
    def g(self) -> ArrayLike:
        """Dual potential on the y side (cost units)."""
        return to_output(self.reg * self.beta, self.numpy_out)

    @property
    def _kernel(self) -> PointKernel:
        return PointKernel(
            self.x[None], self.y[None], self.alpha[None], self.beta[None], self.reg,
            self.batch_size,
        )  # fmt: skip

    def _blocks(self) -> Iterator[tuple[int, int, torch.Tensor, torch.Tensor]]:
        for start, stop, plan, cost in self._kernel.blocks():
            yield start, stop, plan[0], cost[0]

    def rows(self, start: int, stop: int) -> ArrayLike:
        """Dense rows ``P[start:stop]``."""
        return to_output(self._kernel.block(start, stop)[0][0], self.numpy_out)

    def dot(self, v: ArrayLike) -> ArrayLike:
        """``P @ v`` for ``v`` of shape (m,) or (m, k)."""
        vec = to_tensor("v", v, ndim=(1, 2), dtype=self.x.dtype, device=self.x.device)
        if vec.shape[0] != self.shape[1]:
            raise ValueError(f"v has {vec.shape[0]} rows, the plan has {self.shape[1]} columns")
        out = torch.empty((self.shape[0], *vec.shape[1:]), dtype=vec.dtype, device=vec.device)
        for start, stop, plan, _ in self._blocks():
            out[start:stop] = plan @ vec
        return to_output(out, self.numpy_out)

    def marginals(self) -> tuple[ArrayLike, ArrayLike]:
        """``(P 1, P^T 1)``."""
        row, col, _, _ = self._kernel.sums()
        return to_output(row[0], self.numpy_out), to_output(col[0], self.numpy_out)

    def transport_cost(self) -> float:
        """``<P, C>``, the transport part of the entropic objective."""
        return float(self._kernel.sums()[2].sum())

    def barycentric_map(self) -> ArrayLike:
        """``(P y) / (P 1)``: where each x_i is sent on average."""
        out = self.x.new_empty(self.shape[0], self.y.shape[1])
        for start, stop, plan, _ in self._blocks():
            out[start:stop] = (plan @ self.y) / plan.sum(1, keepdim=True)
        return to_output(out, self.numpy_out)

    def to_dense(self) -> ArrayLike:
        """The full n x m matrix (only for sizes that fit in memory)."""
        return self.rows(0, self.shape[0])


@dataclass
class PointProblem:
    """Point clouds ``x (B, n, d)``, ``y (B, m, d)`` and weights ``(B, n)``, ``(B, m)``."""

    x: torch.Tensor
    y: torch.Tensor
    a: torch.Tensor
    b: torch.Tensor
    reg: float
    reg_m: tuple[float, float]
    single: bool
    numpy_out: bool

    @property
    def balanced(self) -> bool:
        return math.isinf(self.reg_m[0]) and math.isinf(self.reg_m[1])


def point_problem(
    x: ArrayLike,
    y: ArrayLike,
    reg: float,
    a: ArrayLike | None,
    b: ArrayLike | None,
    reg_m: float | tuple[float, float] | None,
) -> PointProblem:
    """Check point clouds and weights and lay them out as a batch."""
    reg = check_positive("reg", reg)
    relaxation = marginal_relaxation(reg_m)
    numpy_out = is_numpy_input(x)
    xs = to_tensor("x", x, ndim=(2, 3), keep_float32=True)
    if xs.dtype not in (torch.float32, torch.float64):
        raise TypeError(f"x must be float32 or float64, got {xs.dtype}")
    ys = to_tensor("y", y, ndim=xs.ndim, dtype=xs.dtype, device=xs.device)
    if xs.shape[-1] != ys.shape[-1]:
        raise ValueError(
            f"x and y must have equal dimensions, got {xs.shape[-1]} and {ys.shape[-1]}"
        )
    if xs.shape[-2] == 0 or ys.shape[-2] == 0:
        raise ValueError("x and y must each hold at least one point")
    single = xs.ndim == 2
    if single:
        xs, ys = xs[None], ys[None]
    elif xs.shape[0] != ys.shape[0]:
        raise ValueError(f"x and y hold {xs.shape[0]} and {ys.shape[0]} problems")
    batch = xs.shape[0]
    weights = []
    for name, value, size in (("a", a, xs.shape[1]), ("b", b, ys.shape[1])):
        w = histogram(name, value, size, xs, ndim=1 if single else 2)
        w = w.expand(batch, size) if w.ndim == 1 else w
        if w.shape[0] != batch:
            raise ValueError(f"{name} holds {w.shape[0]} problems, the clouds {batch}")
        weights.append(w)
    problem = PointProblem(xs, ys, weights[0], weights[1], reg, relaxation, single, numpy_out)
    if problem.balanced:
        check_balanced(problem.a, problem.b)
    return problem


def solve_points(
    problem: PointProblem,
    *,
    tol: float | None,
    max_iter: int,
    batch_size: int,
    eps_scaling: float | None = None,
    warmstart: tuple[ArrayLike, ArrayLike] | None = None,
    verbose: bool = False,
    warn: bool = True,
    symmetric: bool = False,
) -> tuple[ScalingResult, int, float]:
    """Log-potentials of the point-cloud problem; returns (result, iterations, tol used).
    ``symmetric``: the problem transports ``(a, x)`` to itself (``y is x``, ``b is a``), solved
    by the averaged symmetric update."""
    max_iter = check_positive_int("max_iter", max_iter)
    batch_size = check_positive_int("batch_size", batch_size)
    eps_scaling = epsilon_ratio(eps_scaling)
    x, y = centred(problem.x.detach(), problem.y.detach())
    a, b = problem.a.detach(), problem.b.detach()
    mass = float(a.sum(-1).max())
    gap = float((a.sum(-1) - b.sum(-1)).abs().max()) if problem.balanced else 0.0
    tol = reachable_tolerance(tol, x.dtype, mass, gap, x.shape[1] + y.shape[1], warn)
    monitor = verbose_monitor(verbose)

    def solve_stage(reg: float, init: torch.Tensor | None, stage_tol: float) -> ScalingResult:
        exponents = scaling_exponents(reg, problem.reg_m)
        if symmetric:
            return symmetric_log_domain_sinkhorn(
                a,
                lambda alpha: _chunked_lse(x, x, alpha, reg, batch_size),
                tol=stage_tol,
                max_iter=max_iter,
                exponent=exponents[0],
                init=init,
                monitor=monitor,
            )
        return log_domain_sinkhorn(
            a,
            b,
            lambda beta: _chunked_lse(x, y, beta, reg, batch_size),
            lambda alpha: _chunked_lse(y, x, alpha, reg, batch_size),
            tol=stage_tol,
            max_iter=max_iter,
            exponents=exponents,
            init=init,
            monitor=monitor,
        )

    both = torch.cat([x, y], dim=1)
    spread = float(((both.amax(1) - both.amin(1)) ** 2).sum(-1).max())
    result, n_iter = annealed_potentials(
        solve_stage,
        problem.reg,
        warm_log_u(
            warmstart,
            (a.shape[-1], b.shape[-1]),
            x,
            a.shape[0],
            columns=False,
            balanced=problem.balanced,
        ),
        start=spread,
        ratio=eps_scaling,
        stage_tol=max(tol, 1e-3 * mass),
        tol=tol,
    )
    # Measured again on the plan as the LazyPlan evaluates it (one pass): the log-sum-exp
    # updates group the expanded distances differently, and in float32 their rounding let a
    # solve report 1.7e-6 ("converged") for a plan 2.8e-5 off its marginals (tested).
    kernel = PointKernel(x, y, result.alpha, result.beta, problem.reg, batch_size)
    row, col = kernel.products(torch.ones_like(a), torch.ones_like(b))
    potentials = (result.alpha, result.beta)
    exponents = scaling_exponents(problem.reg, problem.reg_m)
    result.measured_on_plan(marginal_change(row, col, a, b, potentials, exponents), tol)
    advice = "raise max_iter or reg"
    if x.dtype != torch.float64:  # the expanded squared distance's rounding (docs/ot.md)
        advice += f", or pass float64 points ({x.dtype} rounding of the distances may stall it)"
    warn_not_converged(warn, "sinkhorn (point clouds)", result.err, tol, n_iter, advice)
    return result, n_iter, tol


def point_log(problem: PointProblem, result: ScalingResult, n_iter: int, tol: float) -> dict:
    def out(tensor: torch.Tensor) -> Any:
        return to_output(tensor[0] if problem.single else tensor, problem.numpy_out)

    return {
        "log_u": out(result.alpha),
        "log_v": out(result.beta),
        "niter": n_iter - 1,
        "err": list(result.err_history),
        "f": out(problem.reg * result.alpha),
        "g": out(problem.reg * result.beta),
        "n_iter": n_iter,
        "marginal_err": result.err,
        "converged": result.err <= tol,
        "tol": tol,
    }


def sinkhorn_points(
    x: ArrayLike,
    y: ArrayLike,
    reg: float,
    *,
    a: ArrayLike | None = None,
    b: ArrayLike | None = None,
    tol: float | None = None,
    max_iter: int = DEFAULT_MAX_ITER,
    log: bool = False,
    batch_size: int = 1024,
    reg_m: float | tuple[float, float] | None = None,
    eps_scaling: float | None = None,
    warmstart: tuple[ArrayLike, ArrayLike] | None = None,
    verbose: bool = False,
    warn: bool = True,
) -> Any:
    """Log-domain Sinkhorn between point clouds ``x`` (n x d) and ``y`` (m x d) for the cost
    ``||x_i - y_j||^2``; returns a :class:`LazyPlan` (and a log dict when ``log``).

    The error on the y marginal is zero by construction after each update of ``beta``; the x
    marginal error is read off the next row log-sum-exp for free, so both are checked at no
    extra cost every iteration. The potentials are computed without autograd (inputs that
    require gradients are accepted; the plan is detached: use :func:`sinkhorn_points2` for a
    differentiable loss). Options as :func:`theoropt.ot.sinkhorn`.
    """
    problem = point_problem(x, y, reg, a, b, reg_m)
    if not problem.single:
        raise ValueError("the lazy plan is for one problem; batches of clouds go to sinkhorn2")
    result, n_iter, tol = solve_points(
        problem, tol=tol, max_iter=max_iter, batch_size=batch_size, eps_scaling=eps_scaling,
        warmstart=warmstart, verbose=verbose, warn=warn,
    )  # fmt: skip
    plan = LazyPlan(
        problem.x[0].detach(), problem.y[0].detach(), result.alpha[0], result.beta[0],
        problem.reg, batch_size, problem.numpy_out,
    )  # fmt: skip
    if not log:
        return plan
    return plan, point_log(problem, result, n_iter, tol)


@dataclass(frozen=True)
class _LossSettings:
    reg: float
    reg_m: tuple[float, float]
    value: str
    batch_size: int
    max_cg: int
    tol: float


class PointLoss(torch.autograd.Function):
    """The linear (``<P, C>``) or regularised value of the point-cloud problem, with the
    backward pass in blocks: implicit differentiation (linear) or the envelope theorem."""

    @staticmethod
    def forward(
        ctx: Any,
        x: torch.Tensor,
        y: torch.Tensor,
        a: torch.Tensor,
        b: torch.Tensor,
        alpha: torch.Tensor,
        beta: torch.Tensor,
        settings: _LossSettings,
    ) -> torch.Tensor:
        kernel = PointKernel(x, y, alpha, beta, settings.reg, settings.batch_size)
        row, col, weighted_row, weighted_col = kernel.sums()
        if settings.value == "linear":
            value = weighted_row.sum(-1)
        else:
            value = regularized_value(a, b, alpha, beta, row, col, settings.reg, settings.reg_m)
        ctx.save_for_backward(x, y, a, b, alpha, beta, row, col, weighted_row, weighted_col)
        ctx.settings = settings
        return value

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad_value: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        x, y, a, b, alpha, beta, row, col, weighted_row, weighted_col = ctx.saved_tensors
        settings: _LossSettings = ctx.settings
        reg = settings.reg
        kernel = PointKernel(x, y, alpha, beta, reg, settings.batch_size)
        scale = grad_value[:, None]
        if settings.value == "linear":
            product = hessian_product(kernel.products, row, col, reg, settings.reg_m)
            adj_x, adj_y = solve_adjoint(
                product, weighted_row, weighted_col, row, col, settings.reg_m, reg,
                settings.max_cg, settings.tol,
            )  # fmt: skip
            grad_a, grad_b = plan_weight_gradients(
                adj_x, adj_y, a, b, row, col, reg, settings.reg_m
            )

            def weights(
                start: int, stop: int, plan: torch.Tensor, cost: torch.Tensor
            ) -> torch.Tensor:
                # P (1 + (x_i + y_j - C_ij) / reg), reusing the cost block in place
                factor = cost.neg_().add_(adj_x[:, start:stop, None]).add_(adj_y[:, None, :])
                factor.mul_(1.0 / reg).add_(1.0)
                return plan.mul_(factor).mul_(scale[..., None])

        else:
            grad_a, grad_b = envelope_weight_gradients(
                a, b, alpha, beta, row, col, reg, settings.reg_m
            )

            def weights(
                start: int, stop: int, plan: torch.Tensor, cost: torch.Tensor
            ) -> torch.Tensor:
                return plan.mul_(scale[..., None])

        grad_x, grad_y = kernel.point_gradients(weights)
        return grad_x, grad_y, grad_a * scale, grad_b * scale, None, None, None


def point_loss(
    problem: PointProblem,
    result: ScalingResult,
    *,
    value: str,
    batch_size: int,
    max_cg: int,
    tol: float,
) -> torch.Tensor:
    """Per-problem loss ``(B,)`` attached to autograd through :class:`PointLoss`; ``tol`` is
    the forward solve's (it sets the adjoint solve's precision)."""
    settings = _LossSettings(problem.reg, problem.reg_m, value, batch_size, max_cg, tol)
    return PointLoss.apply(
        problem.x, problem.y, problem.a, problem.b, result.alpha, result.beta, settings
    )


def sinkhorn_points2(
    x: ArrayLike,
    y: ArrayLike,
    reg: float,
    *,
    a: ArrayLike | None = None,
    b: ArrayLike | None = None,
    tol: float | None = None,
    max_iter: int = DEFAULT_MAX_ITER,
    log: bool = False,
    batch_size: int = 1024,
    reg_m: float | tuple[float, float] | None = None,
    eps_scaling: float | None = None,
    warmstart: tuple[ArrayLike, ArrayLike] | None = None,
    verbose: bool = False,
    warn: bool = False,
    value: str = "linear",
) -> Any:
    """The entropic OT loss between point clouds (POT's ``empirical_sinkhorn2`` for
    ``value="linear"``), differentiable in ``x``, ``y``, ``a``, ``b``; never stores an
    ``n x m`` matrix, in the forward or the backward pass. Options as
    :func:`theoropt.ot.sinkhorn2`."""
    check_gradient_kept(is_numpy_input(x), "x", y=y, a=a, b=b)
    problem = point_problem(x, y, reg, a, b, reg_m)
    result, n_iter, tol = solve_points(
        problem, tol=tol, max_iter=max_iter, batch_size=batch_size, eps_scaling=eps_scaling,
        warmstart=warmstart, verbose=verbose, warn=warn,
    )  # fmt: skip
    loss = point_loss(problem, result, value=value, batch_size=batch_size, max_cg=max_iter, tol=tol)
    loss = to_values(loss[0] if problem.single else loss, problem.numpy_out)
    if not log:
        return loss
    return loss, point_log(problem, result, n_iter, tol)
