"""The EBiEOT Gaussian-mixture model: potentials, costs and the closed forms built from them.

Potential ``f(y) = eps log sum_n w_n N(y | a_n, eps A_n)`` (``A_n`` diagonal); cost
``c(x, y) = -eps log sum_m v_m(x) exp(<b_m(x), y> / eps)`` with ``v(x)`` on the simplex. Then
(docs/ot.md; Persiianov et al., ICML 2026, the EBiEOT-GMM parameterisation)::

    logZ_nm(x) = log v_m(x) + log w_n + (b_m^T A_n b_m + 2 a_n^T b_m) / (2 eps)
    f^c(x)     = -eps LSE_nm logZ_nm(x)
    pi(y|x)    = sum_nm softmax(logZ(x))_nm N(y | a_n + A_n b_m(x), eps A_n)

Two parameterisations of ``A_n`` (a floored exponential, ours; a softplus, the authors') and
three costs (our shared MLP, the authors' linear heads, LightSB's fixed inner product).
"""

from __future__ import annotations

import math

import torch
from torch import nn

LOG_2PI = math.log(2.0 * math.pi)
#: the authors' ``EbieotGmm`` adds this to ``softplus`` so that ``A_n > 0`` in floating point
SOFTPLUS_OFFSET = 1e-12


def gaussian_log_density(
    y: torch.Tensor, means: torch.Tensor, variances: torch.Tensor
) -> torch.Tensor:
    """``log N(y_i | means_k, diag(variances_k))`` for every ``i, k``: (batch, K).

    ``means`` is (K, d) or (batch, K, d); ``variances`` is (K, d)."""
    diff = y[:, None, :] - means
    return -0.5 * (
        (diff * diff / variances).sum(-1) + variances.log().sum(-1) + y.shape[1] * LOG_2PI
    )


class GaussianMixturePotential(nn.Module):
    """``f(y) = eps log sum_n w_n N(y | a_n, eps A_n)``; subclasses define ``A_n``
    (:meth:`scales`) from the parameter ``raw_scale``."""

    def __init__(self, centers: torch.Tensor, eps: float, raw_scale: torch.Tensor):
        super().__init__()
        self.eps = eps
        self.logits = nn.Parameter(torch.zeros(centers.shape[0], dtype=centers.dtype))
        self.centers = nn.Parameter(centers.clone())
        self.raw_scale = nn.Parameter(raw_scale)

    def scales(self) -> torch.Tensor:
        """Diagonals ``A_n`` (n_potentials x dim)."""
        raise NotImplementedError

    def log_weights(self) -> torch.Tensor:
        return torch.log_softmax(self.logits, dim=0)

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        """``f(y)`` for a batch ``y`` (batch x dim)."""
        log_normal = gaussian_log_density(y, self.centers, self.eps * self.scales())
        return self.eps * torch.logsumexp(self.log_weights() + log_normal, dim=1)


class FlooredPotential(GaussianMixturePotential):
    """``A_n = min_variance / eps + exp(raw_scale)``: the variance floor of our block scheme
    (without it the mixture collapses onto the training points; docs/ot.md)."""

    def __init__(
        self, centers: torch.Tensor, eps: float, min_variance: float, init_variance: float
    ):
        self.floor = min_variance / eps
        start = max(init_variance / eps - self.floor, 1e-6)
        raw = torch.full(centers.shape, math.log(start), dtype=centers.dtype)
        super().__init__(centers, eps, raw)

    def scales(self) -> torch.Tensor:
        return self.floor + self.raw_scale.exp()


class SoftplusPotential(GaussianMixturePotential):
    """``A_n = softplus(raw_scale) + 1e-12`` with ``softplus(raw_scale) = A_init`` at the start,
    no floor: the authors' ``EbieotGmm`` (``A_diagonal_init``)."""

    def __init__(self, centers: torch.Tensor, eps: float, init_scale: float):
        raw = torch.full(centers.shape, math.log(math.expm1(init_scale)), dtype=centers.dtype)
        super().__init__(centers, eps, raw)

    def scales(self) -> torch.Tensor:
        return nn.functional.softplus(self.raw_scale) + SOFTPLUS_OFFSET


class LearnedCost(nn.Module):
    """Our cost network: ``v(x)`` (softmax of M logits) and ``b_m(x)`` from one MLP,
    ``dim_x -> hidden -> hidden -> M (1 + dim_y)`` with SiLU."""

    def __init__(self, dim_x: int, dim_y: int, n_costs: int, hidden: int, dtype: torch.dtype):
        super().__init__()
        self.n_costs, self.dim_y = n_costs, dim_y
        self.net = nn.Sequential(
            nn.Linear(dim_x, hidden, dtype=dtype),
            nn.SiLU(),
            nn.Linear(hidden, hidden, dtype=dtype),
            nn.SiLU(),
            nn.Linear(hidden, n_costs * (1 + dim_y), dtype=dtype),
        )

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(log v(x), b(x))`` of shapes (batch, M) and (batch, M, dim_y)."""
        out = self.net(x)
        log_v = torch.log_softmax(out[:, : self.n_costs], dim=1)
        return log_v, out[:, self.n_costs :].reshape(-1, self.n_costs, self.dim_y)


class LinearHeadsCost(nn.Module):
    """The authors' Swiss-roll cost (``MLPLSECost`` with no hidden layers): separate linear
    heads ``log v(x) = log_softmax(W_v x + c_v)`` and ``b(x) = W_b x`` reshaped to (M, dim_y),
    ``W_b ~ N(0, 0.01^2)`` and zero bias at the start (PyTorch's default for ``W_v, c_v``)."""

    def __init__(self, dim_x: int, dim_y: int, n_costs: int, dtype: torch.dtype):
        super().__init__()
        self.n_costs, self.dim_y = n_costs, dim_y
        self.log_v_head = nn.Linear(dim_x, n_costs, dtype=dtype)
        self.drift_head = nn.Linear(dim_x, n_costs * dim_y, dtype=dtype)
        nn.init.normal_(self.drift_head.weight, std=0.01)
        nn.init.zeros_(self.drift_head.bias)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        log_v = torch.log_softmax(self.log_v_head(x), dim=1)
        return log_v, self.drift_head(x).reshape(-1, self.n_costs, self.dim_y)


class InnerProductCost(nn.Module):
    """The fixed LightSB cost ``c(x, y) = -<x, y>``: ``M = 1, v = 1, b(x) = x``."""

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.zeros(x.shape[0], 1, dtype=x.dtype, device=x.device), x[:, None, :]


def log_partition(
    potential: GaussianMixturePotential, log_v: torch.Tensor, drift: torch.Tensor
) -> torch.Tensor:
    """``logZ_nm(x)`` (batch, N, M) from the cost outputs ``log v(x)``, ``b(x)``.

    ``b_m^T A_n b_m + 2 a_n^T b_m`` is one matrix product of ``[b_m^2, b_m]`` with
    ``[A_n, 2 a_n]``.
    """
    features = torch.cat([drift * drift, drift], dim=-1)  # (batch, M, 2 dim_y)
    coefficients = torch.cat([potential.scales(), 2.0 * potential.centers], dim=-1)
    quadratic = (features @ coefficients.T).transpose(1, 2)  # (batch, N, M)
    return (
        log_v[:, None, :]
        + potential.log_weights()[None, :, None]
        + quadratic / (2.0 * potential.eps)
    )


def c_transform(
    potential: GaussianMixturePotential, log_v: torch.Tensor, drift: torch.Tensor
) -> torch.Tensor:
    """``f^c(x) = -eps LSE_nm logZ_nm(x)``: (batch,)."""
    return -potential.eps * torch.logsumexp(log_partition(potential, log_v, drift).flatten(1), 1)


def cost_value(
    log_v: torch.Tensor, drift: torch.Tensor, y: torch.Tensor, eps: float
) -> torch.Tensor:
    """``c(x_i, y_i) = -eps LSE_m (log v_m(x_i) + <b_m(x_i), y_i> / eps)``: (batch,)."""
    return -eps * torch.logsumexp(log_v + (drift @ y[:, :, None])[..., 0] / eps, dim=1)


def conditional_mixture(
    potential: GaussianMixturePotential, log_v: torch.Tensor, drift: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``pi(.|x)`` as ``(log_weights, means, variances)``: (batch, K), (batch, K, dim_y),
    (K, dim_y) with ``K = N M`` components ``N(a_n + A_n b_m(x), eps A_n)``."""
    log_weights = torch.log_softmax(log_partition(potential, log_v, drift).flatten(1), dim=1)
    scales = potential.scales()
    means = potential.centers[None, :, None, :] + scales[None, :, None, :] * drift[:, None]
    variances = (potential.eps * scales)[:, None, :].expand(-1, drift.shape[1], -1)
    return log_weights, means.flatten(1, 2), variances.flatten(0, 1)
