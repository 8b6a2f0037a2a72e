"""Log-stabilised Sinkhorn on a dense cost matrix (the engine behind ``sinkhorn(method="log")``).

The entropic plan is ``P_ij = exp(alpha_i + beta_j - C_ij / reg)`` with log-potentials
``alpha = f / reg``, ``beta = g / reg`` (Cuturi 2013; log domain as in Peyré & Cuturi 2019,
Sec. 4.4). Plain log-domain Sinkhorn (POT's ``sinkhorn_log``) evaluates one log-sum-exp over the
whole matrix per half-iteration, i.e. ``exp`` of every entry twice per iteration, and most entries
lie in the range where ``exp`` underflows, which is several times slower per entry on CPU.

Here the scalings are absorbed into the log-potentials (Schmitzer 2019, "Stabilized sparse
scaling algorithms for entropy regularized transport problems", Alg. 2): the kernel
``K = exp(alpha + beta - C/reg)`` is formed once, the iterations in between are the classical
matrix-vector Sinkhorn updates ``u = a / (K v)``, ``v = b / (K^T u)``, and ``u, v`` are folded
back into ``alpha, beta`` (and ``K`` rebuilt) only when they leave ``[e^-T, e^T]``. The exponent
is clamped at ``log(tiny) + 10`` before ``exp``: entries below that are at least ``e^-300``
(float64) smaller than the entries that carry the mass, so the fixed point is unchanged to far
below any tolerance, and ``exp`` never enters its slow underflow range.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch


@dataclass
class ScalingResult:
    """Log-potentials of the (approximate) entropic plan and how the iteration went."""

    alpha: torch.Tensor
    beta: torch.Tensor
    n_iter: int
    err: float
    converged: bool
    err_history: list[float] = field(default_factory=list)


def exponent_floor(dtype: torch.dtype) -> float:
    """Smallest exponent kept as is: ``exp`` of anything above it is a normal float."""
    return math.log(torch.finfo(dtype).tiny) + 10.0


def plan_from_potentials(alpha: torch.Tensor, beta: torch.Tensor, cost_scaled: torch.Tensor):
    """``exp(alpha_i + beta_j - C_ij / reg)`` given ``cost_scaled = C / reg``."""
    return (alpha[:, None] + beta[None, :] - cost_scaled).exp_()


def marginal_error(plan: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> float:
    """``max(||P 1 - a||_1, ||P^T 1 - b||_1)``: the stopping criterion of every solver here."""
    row = (plan.sum(dim=1) - a).abs().sum()
    col = (plan.sum(dim=0) - b).abs().sum()
    return float(torch.maximum(row, col))


def _kernel(alpha: torch.Tensor, beta: torch.Tensor, cost_scaled: torch.Tensor, floor: float):
    exponent = alpha[:, None] + beta[None, :] - cost_scaled
    return exponent.clamp_(min=floor).exp_()


def log_stabilized_sinkhorn(
    a: torch.Tensor,
    b: torch.Tensor,
    cost_scaled: torch.Tensor,
    *,
    tol: float,
    max_iter: int,
    check_every: int = 10,
) -> ScalingResult:
    """Sinkhorn iterations until ``marginal_error <= tol`` (checked every ``check_every``).

    One iteration is one update of both potentials; the first one is an exact log-sum-exp
    update (so any cost scale starts safely), the others are matrix-vector scalings.
    """
    floor = exponent_floor(cost_scaled.dtype)
    bound = math.exp(-0.25 * floor)  # absorb when u or v leaves [1/bound, bound]
    log_a, log_b = a.log(), b.log()
    beta = torch.zeros_like(b)
    alpha = log_a - torch.logsumexp(beta[None, :] - cost_scaled, dim=1)
    beta = log_b - torch.logsumexp(alpha[:, None] - cost_scaled, dim=0)
    kernel = _kernel(alpha, beta, cost_scaled, floor)
    u, v = torch.ones_like(a), torch.ones_like(b)
    history: list[float] = []
    err = math.inf
    n_iter = 1
    while True:
        kv = kernel @ v
        if n_iter % check_every == 0 or n_iter >= max_iter:
            ktu = kernel.T @ u
            row = (u * kv - a).abs().sum()
            col = (v * ktu - b).abs().sum()
            err = float(torch.maximum(row, col))
            history.append(err)
            if err <= tol or n_iter >= max_iter or not math.isfinite(err):
                break
        u = a / kv
        v = b / (kernel.T @ u)
        n_iter += 1
        spread = torch.stack([u.max(), v.max(), 1.0 / u.min(), 1.0 / v.min()]).max()
        if float(spread) > bound:  # one host sync per iteration
            alpha = alpha + u.log()
            beta = beta + v.log()
            kernel = _kernel(alpha, beta, cost_scaled, floor)
            u, v = torch.ones_like(a), torch.ones_like(b)
    alpha = alpha + u.log()
    beta = beta + v.log()
    return ScalingResult(alpha, beta, n_iter, err, err <= tol, history)
