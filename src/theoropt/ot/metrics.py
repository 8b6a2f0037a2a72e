"""Sample distances used to score conditional models.

* Energy distance (Székely & Rizzo 2013): ``D^2(P, Q) = 2 E||X - Y|| - E||X - X'|| - E||Y - Y'||``,
  zero iff ``P = Q``. The energy score (Gneiting & Raftery 2007, eq. 22) of a predictive sample
  against one observation ``y`` is ``E||X - y|| - E||X - X'|| / 2`` (proper; lower is better).
* The EBiEOT authors' two metrics (their ``src/utils/evaluation/metrics.py``): the unbiased
  squared MMD (Gretton et al. 2012) with a mixture of Gaussian kernels whose bandwidths come from
  the median heuristic, and the Sinkhorn divergence (Feydy et al. 2019) for the cost
  ``||x - y||^2 / 2`` at ``eps = blur^2`` (their ``blur = sqrt(0.001)``, GeomLoss's convention),
  here computed with our ``sinkhorn``.
"""

from __future__ import annotations

import math

import torch

from theoropt.ot._arrays import ArrayLike, check_positive, check_positive_int, to_tensor
from theoropt.ot.lazy import squared_distances
from theoropt.ot.sinkhorn import sinkhorn


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


def median_bandwidths(points: ArrayLike, n_kernels: int = 5, ratio: float = 2.0) -> list[float]:
    """The authors' kernel widths: ``sigma_k = m ratio^(k - n_kernels // 2)``, ``k < n_kernels``,
    with ``m`` the median of the non-zero pairwise distances of ``points``."""
    xs = to_tensor("points", points, ndim=2, dtype=torch.float64)
    n_kernels = check_positive_int("n_kernels", n_kernels)
    distances = torch.cdist(xs, xs)
    median = float(distances[distances > 0].median())
    return [median * ratio ** (k - n_kernels // 2) for k in range(n_kernels)]


def mmd(x: ArrayLike, y: ArrayLike, bandwidths: list[float]) -> float:
    """Unbiased squared MMD between samples ``x`` (n x d) and ``y`` (m x d) for the kernel
    ``k(u, v) = mean_s exp(-||u - v||^2 / (2 sigma_s^2))`` (diagonals left out of the
    within-sample means)."""
    xs = to_tensor("x", x, ndim=2, dtype=torch.float64)
    ys = to_tensor("y", y, ndim=2, dtype=torch.float64, device=xs.device)
    if min(len(xs), len(ys)) < 2:
        raise ValueError("mmd needs at least 2 samples on each side")
    widths = torch.tensor([check_positive("bandwidth", b) for b in bandwidths], dtype=xs.dtype)

    def kernel(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        sq = squared_distances(u, v)[..., None]
        return torch.exp(-sq / (2 * widths.to(u.device) ** 2)).mean(-1)

    def within(u: torch.Tensor) -> torch.Tensor:
        k = kernel(u, u)
        return (k.sum() - k.diagonal().sum()) / (len(u) * (len(u) - 1))

    return float(within(xs) + within(ys) - 2 * kernel(xs, ys).mean())


def _entropic_ot(x: torch.Tensor, y: torch.Tensor, eps: float, tol: float) -> float:
    """``OT_eps = min_P <P, C> + eps KL(P | a b^T)``, uniform ``a, b``, ``C = ||x - y||^2 / 2``,
    as its dual value ``<a, f> + <b, g>`` (weights outside the potentials). Solved with SNS
    after a short Sinkhorn warm-up: at the small ``eps`` of this metric plain Sinkhorn needs
    of the order of 1e5 iterations (measured), Newton steps a few dozen."""
    cost = 0.5 * squared_distances(x, y)
    _, info = sinkhorn(
        None, None, cost, eps, method="sns", tol=tol, max_iter=100_000, log=True,
        warmup_tol=1e-2, max_newton=500,
    )  # fmt: skip
    # our potentials absorb the weights: f' = f + eps log a
    return float(info["f"].mean() + info["g"].mean() + eps * (math.log(len(x)) + math.log(len(y))))


def sinkhorn_divergence(x: ArrayLike, y: ArrayLike, blur: float = math.sqrt(1e-3)) -> float:
    """Debiased Sinkhorn divergence ``OT_eps(x, y) - (OT_eps(x, x) + OT_eps(y, y)) / 2``
    between uniform samples, cost ``||x - y||^2 / 2``, ``eps = blur^2`` (GeomLoss's
    ``SamplesLoss("sinkhorn", p=2, blur)``; the default is the EBiEOT authors')."""
    xs = to_tensor("x", x, ndim=2, dtype=torch.float64)
    ys = to_tensor("y", y, ndim=2, dtype=torch.float64, device=xs.device)
    eps = check_positive("blur", blur) ** 2
    tol = 1e-6
    return _entropic_ot(xs, ys, eps, tol) - 0.5 * (
        _entropic_ot(xs, xs, eps, tol) + _entropic_ot(ys, ys, eps, tol)
    )
