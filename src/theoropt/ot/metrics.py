"""Sample distances used to score conditional models: energy distance and energy score.

Energy distance (Székely & Rizzo 2013): ``D^2(P, Q) = 2 E||X - Y|| - E||X - X'|| - E||Y - Y'||``,
zero iff ``P = Q``. The energy score (Gneiting & Raftery 2007, eq. 22) of a predictive sample
against one observation ``y`` is ``E||X - y|| - E||X - X'|| / 2`` (proper; lower is better).
"""

from __future__ import annotations

import torch

from theoropt.ot._arrays import ArrayLike, to_tensor


def _mean_pairwise(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``mean ||x_i - y_j||`` over the last two axes (batched)."""
    return torch.cdist(x, y).mean(dim=(-2, -1))


def _within(x: torch.Tensor, unbiased: bool) -> torch.Tensor:
    n = x.shape[-2]
    total = torch.cdist(x, x).sum(dim=(-2, -1))
    return total / (n * (n - 1)) if unbiased else total / (n * n)


def energy_distance(x: ArrayLike, y: ArrayLike, *, unbiased: bool = True) -> ArrayLike:
    """Squared energy distance between samples ``x`` (..., n, d) and ``y`` (..., m, d).

    Leading axes are batch axes (one distance per batch entry). ``unbiased`` uses U-statistics
    for the within-sample terms (an unbiased estimate that can be slightly negative); otherwise
    V-statistics (the plug-in value, ``scipy.stats.energy_distance(x, y) ** 2`` in 1-D).
    """
    xs = to_tensor("x", x, ndim=(2, 3), dtype=torch.float64)
    ys = to_tensor("y", y, ndim=(2, 3), dtype=torch.float64, device=xs.device)
    if xs.shape[-1] != ys.shape[-1]:
        raise ValueError(f"x and y must have equal dimensions, got {xs.shape[-1]}, {ys.shape[-1]}")
    if unbiased and min(xs.shape[-2], ys.shape[-2]) < 2:
        raise ValueError("the unbiased estimate needs at least 2 samples on each side")
    value = 2 * _mean_pairwise(xs, ys) - _within(xs, unbiased) - _within(ys, unbiased)
    return value.cpu().numpy() if not isinstance(x, torch.Tensor) else value


def energy_score(samples: ArrayLike, observed: ArrayLike) -> ArrayLike:
    """Energy score of predictive ``samples`` (n, s, d) against ``observed`` (n, d), per row.

    A point prediction (all samples equal) scores ``||prediction - y||``.
    """
    xs = to_tensor("samples", samples, ndim=3, dtype=torch.float64)
    ys = to_tensor("observed", observed, ndim=2, dtype=torch.float64, device=xs.device)
    if ys.shape != (xs.shape[0], xs.shape[2]):
        raise ValueError(
            f"observed has shape {tuple(ys.shape)}, expected {(xs.shape[0], xs.shape[2])}"
        )
    to_obs = (xs - ys[:, None, :]).norm(dim=-1).mean(dim=1)
    spread = _within(xs, unbiased=xs.shape[1] > 1)
    value = to_obs - 0.5 * spread
    return value.cpu().numpy() if not isinstance(samples, torch.Tensor) else value
