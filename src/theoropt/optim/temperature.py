"""The adaptive quantile temperature schedule of Softsign (Feoktistov et al., ICML 2026).

When the transition from the sign phase starts, the statistics ``v`` of a parameter group
(its momentum entries for SoftSignum, the singular values of its gradients for SoftMuon) are
summarised by a robust location and scale, ``mu = median(v)`` and ``s = median(|v - mu|)``, and
modelled as Cauchy(mu, s). For transition step ``j`` of ``T`` the temperature is

    q_j   = the (j / T)-quantile of |X|,  X ~ Cauchy(mu, s)      (folded Cauchy)
    tau_j = clamp(phi^-1(1 - eps) / q_j, tmin, tmax)

so the share of coordinates whose soft update is within ``eps`` of +-1 falls linearly from all
to none. The schedule is computed once (``T`` numbers), so a step only looks it up.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor


def _cauchy_cdf(x: np.ndarray) -> np.ndarray:
    return 0.5 + np.arctan(x) / math.pi


def _cauchy_pdf(x: np.ndarray) -> np.ndarray:
    return 1.0 / (math.pi * (1.0 + x * x))


def folded_cauchy_quantile(
    p: np.ndarray | float, loc: float, scale: float, *, tol: float = 1e-13, max_iter: int = 100
) -> np.ndarray:
    """The ``p``-quantile of ``|X|`` for ``X ~ Cauchy(loc, scale)``, for ``p`` in [0, 1).

    Solves ``F(q) = Fc((q - loc)/scale) - Fc((-q - loc)/scale) = p`` (``Fc`` the standard Cauchy
    CDF) by Newton's method from the closed-form start ``scale * tan(pi p / 2) + |loc|``,
    safeguarded by bisection on the bracket ``[scale t - |loc|, scale t + |loc|]``,
    ``t = tan(pi p / 2)`` (from ``||X| - |X - loc|| <= |loc|``), so it always converges.
    ``scale == 0`` is the point mass at ``loc``: its quantile is ``|loc|`` for ``p > 0``.
    """
    p = np.asarray(p, dtype=np.float64)
    if not (math.isfinite(loc) and math.isfinite(scale)) or scale < 0:
        raise ValueError(f"need finite loc and scale >= 0, got loc={loc}, scale={scale}")
    if np.any((p < 0) | (p >= 1)) or not np.all(np.isfinite(p)):
        raise ValueError("quantile levels p must lie in [0, 1)")
    offset = abs(loc)
    if scale == 0.0:
        return np.where(p > 0, offset, 0.0)
    t = np.tan(0.5 * math.pi * p)
    lower = np.maximum(scale * t - offset, 0.0)
    upper = scale * t + offset
    q = upper.copy()
    for _ in range(max_iter):
        residual = _cauchy_cdf((q - loc) / scale) - _cauchy_cdf((-q - loc) / scale) - p
        lower = np.where(residual < 0, q, lower)
        upper = np.where(residual > 0, q, upper)
        slope = (_cauchy_pdf((q - loc) / scale) + _cauchy_pdf((-q - loc) / scale)) / scale
        with np.errstate(divide="ignore", invalid="ignore"):
            newton = q - residual / slope
        inside = np.isfinite(newton) & (newton > lower) & (newton < upper)
        q_next = np.where(inside, newton, 0.5 * (lower + upper))
        if np.all(np.abs(q_next - q) <= tol * np.maximum(q_next, scale)):
            q = q_next
            break
        q = q_next
    return np.where(p > 0, q, 0.0)


def robust_location_scale(values: Tensor) -> tuple[float, float]:
    """``(median(v), median(|v - median(v)|))`` of a 1-D tensor, computed in float64.

    ``torch.median`` returns the lower of the two middle values for an even count.
    """
    if values.numel() == 0:
        raise ValueError("cannot compute a temperature schedule from an empty set of statistics")
    v = values.detach().reshape(-1).to(torch.float64)
    if not torch.isfinite(v).all():
        raise ValueError(
            "non-finite values (NaN or inf) in the statistics of the temperature schedule; "
            "the gradients or momentum buffers have diverged"
        )
    loc = v.median()
    scale = (v - loc).abs_().median()
    return float(loc), float(scale)


def quantile_temperature_schedule(
    loc: float, scale: float, steps: int, *, inverse_at: float, tmax: float, tmin: float = 1.0
) -> list[float]:
    """Temperatures ``tau_0 >= ... >= tau_{steps-1}`` in ``[tmin, tmax]`` (module docstring).

    ``inverse_at`` is ``phi^-1(1 - eps)`` of the soft map (``atanh(1 - eps)`` for tanh).
    """
    if steps < 1:
        raise ValueError(f"a temperature schedule needs steps >= 1, got {steps}")
    levels = np.arange(steps, dtype=np.float64) / steps
    quantiles = folded_cauchy_quantile(levels, loc, scale)
    with np.errstate(divide="ignore"):
        taus = np.where(quantiles > 0, inverse_at / quantiles, np.inf)
    return np.clip(taus, tmin, tmax).tolist()
