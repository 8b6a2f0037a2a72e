"""Sinkhorn divergence between point clouds (squared Euclidean cost), lazy and differentiable.

``value="linear"`` (default) is POT's ``ot.bregman.empirical_sinkhorn_divergence``:
``max(0, W(x, y) - (W(x, x) + W(y, y)) / 2)`` with ``W`` the transport cost ``<P*, C>`` of
the entropic plan (POT's ``sinkhorn2``). ``value="regularized"`` is the debiased divergence of
Feydy et al. (AISTATS 2019, "Interpolating between optimal transport and MMD using Sinkhorn
divergences"; GeomLoss's ``SamplesLoss("sinkhorn")``): ``S = OT(x, y) - (OT(x, x) + OT(y, y))
/ 2`` with ``OT`` the regularised value ``<P, C> + reg KL(P | a b^T)``, plus
``reg (m_a - m_b)^2 / 2`` with unbalanced marginals (Séjourné et al. 2019); it is non-negative
and zero only for equal measures, and its gradient is exact by the envelope theorem (no linear
solve). Each of the three problems is solved in blocks (:mod:`theoropt.ot.lazy`): no ``n x m``
matrix is kept, in the forward or the backward pass. The two self-transport problems use the
averaged symmetric update (same fixed point, far fewer iterations than the alternating one).
"""

from __future__ import annotations

from typing import Any

import torch

from theoropt.ot._arrays import ArrayLike, check_gradient_kept, is_numpy_input, to_values
from theoropt.ot._conventions import DEFAULT_MAX_ITER, pot_alias
from theoropt.ot.lazy import PointProblem, point_log, point_loss, point_problem, solve_points

VALUES = ("linear", "regularized")


def sinkhorn_divergence(
    x: ArrayLike,
    y: ArrayLike,
    reg: float,
    a: ArrayLike | None = None,
    b: ArrayLike | None = None,
    metric: str = "sqeuclidean",
    max_iter: int | None = None,
    tol: float | None = None,
    verbose: bool = False,
    log: bool = False,
    warn: bool = True,
    warmstart: tuple[ArrayLike, ArrayLike] | None = None,
    *,
    value: str = "linear",
    grad: str = "implicit",
    reg_m: float | tuple[float, float] | None = None,
    eps_scaling: float | None = None,
    batch_size: int = 1024,
    numIterMax: int | None = None,  # POT's name
    stopThr: float | None = None,  # POT's name
) -> Any:
    """Sinkhorn divergence between ``x`` (n x d, weights ``a``) and ``y`` (m x d, ``b``).

    Positional order as POT's ``empirical_sinkhorn_divergence`` (``numIterMax``, ``stopThr``
    accepted as keywords). Clouds may be batches ``(B, n, d)``, ``(B, m, d)``: one value per
    problem. ``grad``: ``"implicit"`` (exact; for the linear value one conjugate-gradient solve
    per problem in the backward) or ``"envelope"`` (``value="regularized"`` only, where the
    two coincide). ``warmstart=(log_u, log_v)`` warm-starts ``W(x, y)`` with both and
    ``W(x, x)``, ``W(y, y)`` with ``log_u``, ``log_v`` (as POT). Other options as
    :func:`theoropt.ot.sinkhorn2`; ``batch_size`` rows per block.

    Returns a 0-d tensor (numpy input: a float) or ``(B,)``; with ``log``, ``(value, log)``
    where the log has POT's keys ``sinkhorn_loss_ab``, ``_a``, ``_b`` and
    ``log_sinkhorn_ab``, ``_a``, ``_b``.
    """
    if metric != "sqeuclidean":
        raise ValueError(f"only metric='sqeuclidean' is provided, got {metric!r}")
    if value not in VALUES:
        raise ValueError(f"value must be one of {VALUES}, got {value!r}")
    if grad not in ("implicit", "envelope"):
        raise ValueError(f"grad must be 'implicit' or 'envelope' here, got {grad!r}")
    if grad == "envelope" and value == "linear":
        raise ValueError("grad='envelope' is exact for value='regularized' only")
    limit = pot_alias("max_iter", max_iter, "numIterMax", numIterMax, DEFAULT_MAX_ITER)
    requested = pot_alias("tol", tol, "stopThr", stopThr, None)
    check_gradient_kept(is_numpy_input(x), "x", y=y, a=a, b=b)
    problems = {
        "ab": point_problem(x, y, reg, a, b, reg_m),
        "a": point_problem(x, x, reg, a, a, reg_m),
        "b": point_problem(y, y, reg, b, b, reg_m),
    }
    starts = _warm_starts(warmstart)
    losses, logs = {}, {}
    for key, problem in problems.items():
        result, n_iter, used = solve_points(
            problem, tol=requested, max_iter=limit, batch_size=batch_size,
            eps_scaling=eps_scaling, warmstart=starts[key], verbose=verbose, warn=warn,
            symmetric=key != "ab",
        )  # fmt: skip
        losses[key] = point_loss(
            problem, result, value=value, batch_size=batch_size, max_cg=limit, tol=used
        )
        logs[key] = point_log(problem, result, n_iter, used)
    divergence = losses["ab"] - 0.5 * (losses["a"] + losses["b"])
    if value == "linear":
        divergence = torch.clamp(divergence, min=0.0)  # POT's max(0, .)
    else:
        divergence = divergence + _mass_term(problems["ab"])
    result_value = _user_value(problems["ab"], divergence)
    if not log:
        return result_value
    info = {f"sinkhorn_loss_{key}": _user_value(problems["ab"], losses[key]) for key in losses}
    info.update({f"log_sinkhorn_{key}": logs[key] for key in logs})
    return result_value, info


def _warm_starts(warmstart: object) -> dict[str, Any]:
    if warmstart is None:
        return {"ab": None, "a": None, "b": None}
    if not (isinstance(warmstart, tuple | list) and len(warmstart) == 2):
        raise TypeError("warmstart must be a pair (log_u, log_v)")
    u, v = warmstart
    return {"ab": (u, v), "a": (u, u), "b": (v, v)}


def _mass_term(problem: PointProblem) -> torch.Tensor:
    """``reg (m_a - m_b)^2 / 2`` (zero for balanced problems)."""
    gap = problem.a.sum(-1) - problem.b.sum(-1)
    return 0.5 * problem.reg * gap * gap


def _user_value(problem: PointProblem, values: torch.Tensor) -> Any:
    return to_values(values[0] if problem.single else values, problem.numpy_out)
