"""Entropic OT between point clouds with the squared Euclidean cost computed in chunks.

For ``n = m = 50,000`` the cost matrix alone is 20 GB in float64, so it is never stored: each
log-domain Sinkhorn half-step (Peyré & Cuturi 2019, eq. 4.43) evaluates
``LSE_j(beta_j - ||x_i - y_j||^2 / reg)`` block by block (``batch_size`` rows at a time), which
needs ``O(batch_size * m + n + m)`` memory. The result is a :class:`LazyPlan` holding the
potentials: it multiplies by the plan, gives its marginals, cost, rows or barycentric map in
chunks, and makes the dense matrix only when asked.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import torch

from theoropt.ot._arrays import (
    ArrayLike,
    SinkhornConvergenceWarning,
    check_balanced,
    check_positive,
    check_positive_int,
    histogram,
    is_numpy_input,
    to_output,
    to_tensor,
)


def squared_distances(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``||x_i - y_j||^2`` for all pairs (expanded form, clamped at 0 against rounding)."""
    sq = (x * x).sum(1)[:, None] + (y * y).sum(1)[None, :] - 2.0 * (x @ y.T)
    return sq.clamp_(min=0.0)


@torch.no_grad()
def _chunked_lse(
    rows: torch.Tensor, cols: torch.Tensor, potential: torch.Tensor, reg: float, batch_size: int
) -> torch.Tensor:
    """``LSE_j(potential_j - ||rows_i - cols_j||^2 / reg)`` for every i, in row blocks.

    With ``||r_i - c_j||^2 = ||r_i||^2 + ||c_j||^2 - 2 <r_i, c_j>`` the row term leaves the
    log-sum-exp, so each block is one fused ``addmm`` of ``(2/reg) r c^T`` onto
    ``potential_j - ||c_j||^2/reg`` in a reused buffer, then an in-place max-shifted exp-sum:
    about 5x faster on the CPU than forming the distances and calling ``torch.logsumexp``.
    """
    out = torch.empty(rows.shape[0], dtype=rows.dtype, device=rows.device)
    column_terms = potential - (cols * cols).sum(1) / reg
    row_terms = (rows * rows).sum(1) / reg
    buffer = rows.new_empty(min(batch_size, rows.shape[0]), cols.shape[0])
    for start in range(0, rows.shape[0], batch_size):
        block = rows[start : start + batch_size]
        exponents = torch.addmm(
            column_terms[None, :], block, cols.T, alpha=2.0 / reg, out=buffer[: block.shape[0]]
        )
        peak = exponents.amax(1, keepdim=True)
        lse = exponents.sub_(peak).exp_().sum(1).log_() + peak[:, 0]
        out[start : start + batch_size] = lse - row_terms[start : start + batch_size]
    return out


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

    def _block(self, start: int, stop: int) -> tuple[torch.Tensor, torch.Tensor]:
        cost = squared_distances(self.x[start:stop], self.y)
        plan = (self.alpha[start:stop, None] + self.beta[None, :] - cost / self.reg).exp_()
        return plan, cost

    def _blocks(self):
        for start in range(0, self.shape[0], self.batch_size):
            stop = min(start + self.batch_size, self.shape[0])
            yield start, stop, *self._block(start, stop)

    def rows(self, start: int, stop: int) -> ArrayLike:
        """Dense rows ``P[start:stop]``."""
        return to_output(self._block(start, stop)[0], self.numpy_out)

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
        row = torch.empty(self.shape[0], dtype=self.x.dtype, device=self.x.device)
        col = torch.zeros(self.shape[1], dtype=self.x.dtype, device=self.x.device)
        for start, stop, plan, _ in self._blocks():
            row[start:stop] = plan.sum(1)
            col += plan.sum(0)
        return to_output(row, self.numpy_out), to_output(col, self.numpy_out)

    def transport_cost(self) -> float:
        """``<P, C>``, the transport part of the entropic objective."""
        return float(sum(float((plan * cost).sum()) for _, _, plan, cost in self._blocks()))

    def barycentric_map(self) -> ArrayLike:
        """``(P y) / (P 1)``: where each x_i is sent on average."""
        out = self.x.new_empty(self.shape[0], self.y.shape[1])
        for start, stop, plan, _ in self._blocks():
            out[start:stop] = (plan @ self.y) / plan.sum(1, keepdim=True)
        return to_output(out, self.numpy_out)

    def to_dense(self) -> ArrayLike:
        """The full n x m matrix (only for sizes that fit in memory)."""
        return self.rows(0, self.shape[0])


def sinkhorn_points(
    x: ArrayLike,
    y: ArrayLike,
    reg: float,
    *,
    a: ArrayLike | None = None,
    b: ArrayLike | None = None,
    tol: float = 1e-9,
    max_iter: int = 10_000,
    log: bool = False,
    batch_size: int = 1024,
) -> Any:
    """Log-domain Sinkhorn between point clouds ``x`` (n x d) and ``y`` (m x d) for the cost
    ``||x_i - y_j||^2``; returns a :class:`LazyPlan` (and a log dict when ``log``).

    The error on the y marginal is zero by construction after each update of ``beta``; the x
    marginal error is read off the next row log-sum-exp for free, so both are checked at no
    extra cost every iteration. The potentials are computed without autograd (inputs that
    require gradients are accepted; the returned potentials are detached).
    """
    reg = check_positive("reg", reg)
    tol = check_positive("tol", tol)
    max_iter = check_positive_int("max_iter", max_iter)
    batch_size = check_positive_int("batch_size", batch_size)
    numpy_out = is_numpy_input(x)
    xs = to_tensor("x", x, ndim=2)
    if xs.dtype not in (torch.float32, torch.float64):
        raise TypeError(f"x must be float32 or float64, got {xs.dtype}")
    ys = to_tensor("y", y, ndim=2, dtype=xs.dtype, device=xs.device)
    if xs.shape[1] != ys.shape[1]:
        raise ValueError(f"x and y must have equal dimensions, got {xs.shape[1]} and {ys.shape[1]}")
    a_t = histogram("a", a, xs.shape[0], xs)
    b_t = histogram("b", b, ys.shape[0], xs)
    check_balanced(a_t, b_t)
    log_a, log_b = a_t.log(), b_t.log()
    alpha = torch.zeros_like(a_t)
    beta = log_b - _chunked_lse(ys, xs, alpha, reg, batch_size)
    err = math.inf
    history: list[float] = []
    n_iter = 1
    while True:
        row_lse = _chunked_lse(xs, ys, beta, reg, batch_size)
        err = float((torch.exp(alpha + row_lse) - a_t).abs().sum())
        history.append(err)
        if err <= tol or n_iter >= max_iter:
            break
        alpha = log_a - row_lse
        beta = log_b - _chunked_lse(ys, xs, alpha, reg, batch_size)
        n_iter += 1
    if err > tol:
        warnings.warn(
            f"sinkhorn (point clouds) stopped with marginal error {err:.3g} > tol={tol:.3g} "
            f"after {n_iter} iterations",
            SinkhornConvergenceWarning,
            stacklevel=2,
        )
    plan = LazyPlan(xs, ys, alpha, beta, reg, batch_size, numpy_out)
    if not log:
        return plan
    info = {
        "f": plan.f,
        "g": plan.g,
        "n_iter": n_iter,
        "err": err,
        "converged": err <= tol,
        "err_history": history,
    }
    return plan, info
