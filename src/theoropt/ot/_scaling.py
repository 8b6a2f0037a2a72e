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
below any tolerance, and ``exp`` never enters its slow underflow range. Entries whose cost is
``+inf`` (forbidden transports) are set to exactly 0 after the clamp.

Problems come as a batch: ``a (B, n)``, ``b (B, m)``, ``C (B or 1, n, m)``. Unbalanced problems
(Chizat, Peyré, Schmitzer, Vialard 2018, "Scaling algorithms for unbalanced optimal transport
problems", Alg. 2; POT's ``sinkhorn_unbalanced``) replace the update ``alpha = log a -
LSE_j(beta_j - C_ij)`` by ``alpha = log a - phi * LSE_j(beta_j - C_ij)`` with
``phi = reg_m / (reg_m + reg)`` (``phi = 1``: the balanced update).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

Monitor = Callable[[int, float], None]


@dataclass
class ScalingResult:
    """Log-potentials ``(B, n)``, ``(B, m)`` of the entropic plans and how the iteration went;
    ``err`` is the largest marginal error over the batch."""

    alpha: torch.Tensor
    beta: torch.Tensor
    n_iter: int
    err: float
    converged: bool
    err_history: list[float] = field(default_factory=list)

    def measured_on_plan(self, err: float, tol: float) -> ScalingResult:
        """This result with ``err``, measured on the plan the potentials give, in place of the
        iteration's own last measurement (rounding can make the two differ)."""
        self.err, self.converged = err, err <= tol
        self.err_history[-1] = err
        return self


def exponent_floor(dtype: torch.dtype) -> float:
    """Smallest exponent kept as is: ``exp`` of anything above it is a normal float."""
    return math.log(torch.finfo(dtype).tiny) + 10.0


def plan_from_potentials(
    alpha: torch.Tensor, beta: torch.Tensor, cost_scaled: torch.Tensor
) -> torch.Tensor:
    """``exp(alpha_i + beta_j - C_ij / reg)`` given ``cost_scaled = C / reg`` (batched)."""
    return (alpha[..., :, None] + beta[..., None, :] - cost_scaled).exp_()


def marginal_error(plan: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> float:
    """``max(||P 1 - a||_1, ||P^T 1 - b||_1)`` over the batch: the balanced stopping rule."""
    return marginal_change(plan.sum(dim=-1), plan.sum(dim=-2), a, b)


def marginal_change(
    row: torch.Tensor,
    col: torch.Tensor,
    a: torch.Tensor,
    b: torch.Tensor,
    potentials: tuple[torch.Tensor, torch.Tensor] | None = None,
    exponents: tuple[float, float] = (1.0, 1.0),
) -> float:
    """The stopping rule's error of a plan with marginals ``row = P 1``, ``col = P^T 1`` and
    log-potentials ``potentials = (alpha, beta)``: ``max(||row - row'||_1, ||col - col'||_1)``
    over the batch, ``row'`` being the row marginal after the next update of ``alpha`` (``a``
    when balanced; the potentials are needed only when unbalanced), ``col'`` likewise."""
    alpha, beta = (None, None) if potentials is None else potentials
    row_next = _scaling(a, row, alpha, exponents[0]) * row
    col_next = _scaling(b, col, beta, exponents[1]) * col
    change = torch.maximum((row - row_next).abs().sum(-1), (col - col_next).abs().sum(-1))
    return float(change.max())


def half_step(log_weights: torch.Tensor, lse: torch.Tensor, exponent: float) -> torch.Tensor:
    """The exact update ``log w - phi * LSE`` of one side's log-potential."""
    return log_weights - lse if exponent == 1.0 else log_weights - exponent * lse


def lse_rows(beta: torch.Tensor, cost_scaled: torch.Tensor) -> torch.Tensor:
    """``LSE_j(beta_j - C_ij)`` for every row i (batched)."""
    return torch.logsumexp(beta[..., None, :] - cost_scaled, dim=-1)


def lse_cols(alpha: torch.Tensor, cost_scaled: torch.Tensor) -> torch.Tensor:
    """``LSE_i(alpha_i - C_ij)`` for every column j (batched)."""
    return torch.logsumexp(alpha[..., :, None] - cost_scaled, dim=-2)


def _kernel(
    alpha: torch.Tensor,
    beta: torch.Tensor,
    cost_scaled: torch.Tensor,
    floor: float,
    forbidden: torch.Tensor | None,
) -> torch.Tensor:
    exponent = alpha[..., :, None] + beta[..., None, :] - cost_scaled
    kernel = exponent.clamp_(min=floor).exp_()
    return kernel if forbidden is None else kernel.masked_fill_(forbidden, 0.0)


def _scaling(
    weights: torch.Tensor, product: torch.Tensor, absorbed: torch.Tensor | None, exponent: float
) -> torch.Tensor:
    """New scaling ``u`` with ``alpha + log u = log w - phi * LSE``, where the current
    ``LSE = log(K v) - alpha`` (``K v = product``): ``w / (K v)`` when balanced."""
    if exponent == 1.0:
        return weights / product
    assert absorbed is not None, "an unbalanced update needs the absorbed log-potential"
    return torch.exp(weights.log() - exponent * product.log() + (exponent - 1.0) * absorbed)


def log_stabilized_sinkhorn(
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
    check_every: int = 10,
) -> ScalingResult:
    """Sinkhorn iterations until the marginal error is ``<= tol`` (checked every
    ``check_every``) for every problem of the batch.

    The marginal error is ``max(||r - r'||_1, ||c - c'||_1)`` with ``r, c`` the plan's marginals
    and ``r', c'`` those the next update would give: ``r' = a, c' = b`` when balanced.
    One iteration is one update of both potentials; the first one is an exact log-sum-exp
    update from ``init`` (the log-potential ``alpha``, zero by default), so any cost scale and
    any warm start begin safely; the others are matrix-vector scalings.
    """
    phi_a, phi_b = exponents
    balanced = exponents == (1.0, 1.0)
    floor = exponent_floor(cost_scaled.dtype)
    bound = math.exp(-0.25 * floor)  # absorb when u or v leaves [1/bound, bound]
    log_a, log_b = a.log(), b.log()
    alpha = torch.zeros_like(a) if init is None else init
    beta = half_step(log_b, lse_cols(alpha, cost_scaled), phi_b)
    alpha = half_step(log_a, lse_rows(beta, cost_scaled), phi_a)
    kernel = _kernel(alpha, beta, cost_scaled, floor, forbidden)
    u, v = torch.ones_like(a), torch.ones_like(b)
    history: list[float] = []
    err = math.inf
    n_iter = 1
    while True:
        kv = (kernel @ v[..., None])[..., 0]
        u_next = _scaling(a, kv, alpha, phi_a)
        if n_iter % check_every == 0 or n_iter >= max_iter:
            ktu = (u[..., None, :] @ kernel)[..., 0, :]
            potentials = None if balanced else (alpha + u.log(), beta + v.log())
            err = marginal_change(u * kv, v * ktu, a, b, potentials, exponents)
            history.append(err)
            if monitor is not None:
                monitor(n_iter, err)
            if err <= tol or n_iter >= max_iter or not math.isfinite(err):
                break
        u = u_next
        v = _scaling(b, (u[..., None, :] @ kernel)[..., 0, :], beta, phi_b)
        n_iter += 1
        spread = torch.stack([u.max(), v.max(), 1.0 / u.min(), 1.0 / v.min()]).max()
        if float(spread) > bound:  # one host sync per iteration
            alpha = alpha + u.log()
            beta = beta + v.log()
            kernel = _kernel(alpha, beta, cost_scaled, floor, forbidden)
            u, v = torch.ones_like(a), torch.ones_like(b)
    alpha = alpha + u.log()
    beta = beta + v.log()
    result = ScalingResult(alpha, beta, n_iter, err, err <= tol, history)
    # Measured again on the potentials returned: absorbing u, v rounds alpha and beta, which
    # moves the plan when they are large (a cost far from 0: M + 1e9 missed its marginals by
    # 8e-7 where the scaled iterate was within 3e-10).
    kernel = _kernel(alpha, beta, cost_scaled, floor, forbidden)
    final = marginal_change(kernel.sum(-1), kernel.sum(-2), a, b, (alpha, beta), exponents)
    return result.measured_on_plan(final, tol)
