"""A dense entropic OT problem as batched tensors, read from POT-style inputs.

Three input layouts, all solved as a batch of ``B`` problems with ``a (B, n)``, ``b (B, m)``
and a cost ``(B, n, m)`` (or ``(1, n, m)`` shared by all):

* ``"single"`` — ``a (n,)``, ``b (m,)``, ``M (n, m)``;
* ``"batch"`` — ``M (B, n, m)`` with ``a (B, n)`` / ``b (B, m)`` (or 1-D weights shared by all);
* ``"multi_b"`` — POT's several target histograms: ``M (n, m)``, ``a (n,)``, ``b (m, k)``.

Unbalanced problems (Chizat et al. 2018; POT's ``sinkhorn_unbalanced``) relax each marginal by
``reg_m * KL(P 1 | a)`` (resp. ``P^T 1``); ``reg_m = inf`` keeps that marginal a constraint.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import torch

from theoropt.ot._arrays import (
    ArrayLike,
    check_balanced,
    check_gradient_kept,
    check_positive,
    histogram,
    is_empty,
    is_numpy_input,
    reject_grad,
    to_tensor,
)


def marginal_relaxation(reg_m: float | tuple[float, float] | None) -> tuple[float, float]:
    """``reg_m`` as a pair ``(rho_a, rho_b)``; ``None`` (balanced) is ``(inf, inf)``. A number
    may be a Python, numpy or 0-d torch scalar; a sequence of one number counts for both sides
    (as POT's ``get_parameter_pair``)."""
    if reg_m is None:
        return math.inf, math.inf
    bad = f"reg_m must be a number or a pair of numbers, got {reg_m!r}"
    if isinstance(reg_m, torch.Tensor | np.ndarray):
        pair = (reg_m, reg_m) if reg_m.ndim == 0 else tuple(reg_m)
    else:
        pair = tuple(reg_m) if isinstance(reg_m, tuple | list) else (reg_m, reg_m)
    pair = pair * 2 if len(pair) == 1 else pair
    for value in pair:
        reject_grad("reg_m", value)
    if len(pair) != 2:
        raise ValueError(bad)
    try:
        rho_a, rho_b = (float(value) for value in pair)
    except (TypeError, ValueError, RuntimeError) as error:
        raise ValueError(bad) from error
    if any(math.isnan(rho) or rho <= 0 for rho in (rho_a, rho_b)):
        raise ValueError(f"reg_m must be positive (inf keeps a marginal exact), got {reg_m!r}")
    return rho_a, rho_b


def scaling_exponents(reg: float, reg_m: tuple[float, float]) -> tuple[float, float]:
    """``rho / (rho + reg)`` per side: the power of the scaling update (1 on an exact side)."""
    phi_a, phi_b = (rho / (rho + reg) if math.isfinite(rho) else 1.0 for rho in reg_m)
    return phi_a, phi_b


def warm_log_u(
    warmstart: tuple[ArrayLike, ArrayLike] | None,
    sizes: tuple[int, int],
    like: torch.Tensor,
    batch: int,
    columns: bool,
    balanced: bool,
) -> torch.Tensor | None:
    """``log_u`` of a POT-style ``warmstart=(log_u, log_v)`` as ``(batch, n)``; ``log_v`` is
    checked only (the first update computes it from ``log_u``). ``columns``: POT's multi-b
    layout, one column per problem. ``balanced``: the plan does not change when a constant
    moves from ``log_u`` to ``log_v``, so ``log_u`` is shifted to a maximum of 0; a large
    constant in it would make both potentials so large that their rounding moves the plan off
    its marginals (``log_u + 1e17``: 2.8 off)."""
    if warmstart is None:
        return None
    if not (isinstance(warmstart, tuple | list) and len(warmstart) == 2):
        raise TypeError("warmstart must be a pair (log_u, log_v)")
    sides = []
    for name, value, size in zip(("log_u", "log_v"), warmstart, sizes, strict=True):
        tensor = to_tensor(name, value, ndim=(1, 2), dtype=like.dtype, device=like.device)
        if columns and tensor.ndim == 2:
            tensor = tensor.T
        if tensor.shape[-1] != size:
            raise ValueError(f"warmstart {name} has {tensor.shape[-1]} entries, expected {size}")
        if tensor.ndim == 2 and tensor.shape[0] not in (1, batch):
            raise ValueError(f"warmstart {name} holds {tensor.shape[0]} problems, the cost {batch}")
        sides.append(tensor.detach().expand(batch, size))
    log_u = sides[0]
    return (log_u - log_u.amax(-1, keepdim=True) if balanced else log_u).contiguous()


@dataclass
class DenseProblem:
    """``a (B, n)``, ``b (B, m)``, ``cost (B or 1, n, m)`` (``+inf``: forbidden), ``reg``."""

    a: torch.Tensor
    b: torch.Tensor
    cost: torch.Tensor
    reg: float
    reg_m: tuple[float, float]
    layout: str
    numpy_out: bool

    @property
    def batch(self) -> int:
        return self.a.shape[0]

    @property
    def balanced(self) -> bool:
        return math.isinf(self.reg_m[0]) and math.isinf(self.reg_m[1])

    @cached_property
    def forbidden(self) -> torch.Tensor | None:
        """Mask of the ``+inf`` costs, or ``None`` when there are none."""
        if float(self.cost.detach().max()) < math.inf:  # one reduction, no mask, usually
            return None
        return torch.isinf(self.cost.detach())

    @cached_property
    def cost_scaled(self) -> torch.Tensor:
        return self.cost / self.reg

    @cached_property
    def finite_cost(self) -> torch.Tensor:
        """The cost with ``+inf`` entries replaced by 0 (their plan entries are exactly 0)."""
        if self.forbidden is None:
            return self.cost
        return self.cost.masked_fill(self.forbidden, 0.0)

    def per_problem(self, values: torch.Tensor) -> torch.Tensor:
        """Values of shape ``(B, ...)`` in the user's layout: no batch axis for a single problem,
        POT's columns (``(..., k)``) for several target histograms."""
        if self.layout == "single":
            return values[0]
        if self.layout == "multi_b" and values.ndim == 2:
            return values.T
        return values


def dense_problem(
    a: ArrayLike | None,
    b: ArrayLike | None,
    M: ArrayLike,
    reg: float,
    reg_m: float | tuple[float, float] | None = None,
) -> DenseProblem:
    """Check the inputs of a dense solver and lay them out as a batch (see the module doc)."""
    reg = check_positive("reg", reg)
    relaxation = marginal_relaxation(reg_m)
    numpy_out = is_numpy_input(M)
    check_gradient_kept(numpy_out, "M", a=a, b=b)
    cost = to_tensor("M", M, ndim=(2, 3), keep_float32=True, allow_inf=True)
    if cost.dtype not in (torch.float32, torch.float64):
        raise TypeError(f"M must be float32 or float64, got {cost.dtype}")
    n, m = cost.shape[-2:]
    if cost.numel() == 0:
        raise ValueError(f"M is empty (shape {tuple(cost.shape)}): there is nothing to transport")
    a_t = histogram("a", a, n, cost, ndim=cost.ndim - 1)
    if cost.ndim == 3:
        layout = "batch"
        b_t = histogram("b", b, m, cost, ndim=2)
        size = cost.shape[0]
        a_t, b_t = (w.expand(size, w.shape[-1]) if w.ndim == 1 else w for w in (a_t, b_t))
        if a_t.shape[0] != size or b_t.shape[0] != size:
            raise ValueError(
                f"a, b and M disagree on the number of problems: {a_t.shape[0]}, "
                f"{b_t.shape[0]} and {size}"
            )
    else:
        cost = cost[None]
        if not is_empty(b) and to_tensor("b", b, ndim=(1, 2)).ndim == 2:
            layout = "multi_b"
            columns = to_tensor("b", b, ndim=2, dtype=cost.dtype, device=cost.device)
            if columns.shape[0] != m:
                raise ValueError(f"b has {columns.shape[0]} rows but the cost has {m} columns")
            b_t = histogram("b", columns.T, m, cost, ndim=2)
            a_t = a_t[None].expand(b_t.shape[0], n)
        else:
            layout = "single"
            b_t = histogram("b", b, m, cost)[None]
            a_t = a_t[None]
    a_t, b_t = a_t.contiguous(), b_t.contiguous()
    problem = DenseProblem(a_t, b_t, cost, reg, relaxation, layout, numpy_out)
    _check_scaled_cost(problem)
    if problem.balanced:
        check_balanced(a_t, b_t)
    return problem


def _check_scaled_cost(problem: DenseProblem) -> None:
    """``M / reg`` must be finite where ``M`` is, and every row and column needs an allowed
    (finite-cost) entry, else no plan exists (balanced) or the potentials are infinite."""
    scaled = problem.cost_scaled.detach()
    if problem.forbidden is None:
        overflow = not math.isfinite(float(scaled.abs().max()))
    else:
        overflow = int(torch.isinf(scaled).sum()) > int(problem.forbidden.sum())
    if overflow:
        largest = float(problem.finite_cost.abs().max())
        raise ValueError(
            f"M / reg overflows {problem.cost.dtype} (max |M| = {largest:.3g}, reg = "
            f"{problem.reg:.3g}); rescale M or raise reg"
        )
    if problem.forbidden is not None:
        for axis, side in ((-1, "row"), (-2, "column")):
            blocked = problem.forbidden.all(dim=axis)
            if bool(blocked.any()):
                index = int(blocked.nonzero()[0, -1])
                raise ValueError(
                    f"{side} {index} of M is +inf everywhere: no transport is allowed there"
                )
