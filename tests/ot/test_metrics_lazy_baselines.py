"""Energy distance / score against scipy and brute force; the chunked point-cloud Sinkhorn
against the dense solver; the linear-Gaussian baseline against scipy."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats
import torch

from theoropt.ot import LazyPlan, sinkhorn
from theoropt.ot.baselines import LinearGaussian
from theoropt.ot.lazy import _chunked_lse, squared_distances
from theoropt.ot.metrics import energy_distance, energy_score


def test_energy_distance_v_statistic_matches_scipy_1d() -> None:
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((80, 1)), rng.standard_normal((60, 1)) + 0.5
    expected = scipy.stats.energy_distance(x[:, 0], y[:, 0]) ** 2
    assert energy_distance(x, y, unbiased=False) == pytest.approx(expected, rel=1e-12)


def test_energy_distance_u_statistic_brute_force() -> None:
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((7, 3)), rng.standard_normal((5, 3))

    def mean_dist(p, q, skip_diagonal):
        values = [
            np.linalg.norm(p[i] - q[j])
            for i in range(len(p))
            for j in range(len(q))
            if not (skip_diagonal and i == j)
        ]
        return np.mean(values)

    expected = 2 * mean_dist(x, y, False) - mean_dist(x, x, True) - mean_dist(y, y, True)
    assert energy_distance(x, y) == pytest.approx(expected, rel=1e-12)
    batched = energy_distance(np.stack([x, x]), np.stack([y, y]))
    np.testing.assert_allclose(batched, [expected, expected], rtol=1e-12)


def test_energy_score_of_point_mass_is_distance() -> None:
    prediction = np.repeat(np.array([[[1.0, 2.0]]]), 5, axis=1)
    assert energy_score(prediction, np.array([[4.0, 6.0]]))[0] == pytest.approx(5.0)


def test_point_cloud_sinkhorn_matches_dense() -> None:
    rng = np.random.default_rng(2)
    x, y = rng.random((200, 2)), rng.random((150, 2)) + 0.2
    reg = 0.05
    plan, info = sinkhorn(
        None, None, (x, y), reg, cost="sqeuclidean", tol=1e-10, log=True, batch_size=64
    )
    assert isinstance(plan, LazyPlan) and plan.shape == (200, 150)
    cost = ((x[:, None, :] - y[None, :, :]) ** 2).sum(-1)
    dense = sinkhorn(None, None, cost, reg, tol=1e-10)
    np.testing.assert_allclose(plan.to_dense(), dense, atol=1e-12)
    row, col = plan.marginals()
    assert np.abs(row - 1 / 200).sum() <= 1e-10 and np.abs(col - 1 / 150).sum() <= 1e-10
    v = rng.standard_normal((150, 3))
    np.testing.assert_allclose(plan.dot(v), dense @ v, atol=1e-12)
    assert plan.transport_cost() == pytest.approx((dense * cost).sum(), rel=1e-10)
    np.testing.assert_allclose(plan.barycentric_map(), (dense @ y) / dense.sum(1, keepdims=True))
    np.testing.assert_allclose(
        np.exp((info["f"][:, None] + info["g"][None, :] - cost) / reg), dense, atol=1e-12
    )


def test_point_cloud_errors() -> None:
    with pytest.raises(ValueError, match="equal dimensions"):
        sinkhorn(None, None, (np.ones((3, 2)), np.ones((3, 3))), 0.1, cost="sqeuclidean")
    with pytest.raises(TypeError, match="pair"):
        sinkhorn(None, None, np.ones((3, 3)), 0.1, cost="sqeuclidean")
    with pytest.raises(TypeError, match="float32 or float64"):
        sinkhorn(None, None, (torch.ones(3, 2).half(),) * 2, 0.1, cost="sqeuclidean")
    with pytest.raises(ValueError, match="method='log'"):
        sinkhorn(None, None, (np.ones((3, 2)),) * 2, 0.1, method="sns", cost="sqeuclidean")


def test_squared_distances_nonnegative_torch() -> None:
    x = torch.randn(50, 4, dtype=torch.float64)
    d = squared_distances(x, x)
    assert bool((d >= 0).all())
    torch.testing.assert_close(d, torch.cdist(x, x) ** 2, atol=1e-10, rtol=0)


def test_linear_gaussian_density_matches_scipy() -> None:
    rng = np.random.default_rng(3)
    x = rng.standard_normal((200, 3))
    y = x @ rng.standard_normal((3, 2)) + 0.3 * rng.standard_normal((200, 2))
    model = LinearGaussian().fit(x, y)
    mean = np.hstack([x[:5], np.ones((5, 1))]) @ model.coef_
    expected = [
        scipy.stats.multivariate_normal(m, model.cov_).logpdf(t)
        for m, t in zip(mean, y[:5], strict=True)
    ]
    np.testing.assert_allclose(model.log_prob(y[:5], x[:5]), expected, rtol=1e-10)


def test_chunked_log_sum_exp_matches_dense_at_extreme_scales() -> None:
    """The fused block LSE (row term factored out) against torch.logsumexp on the dense
    exponents, with costs up to ~1e6 times reg (exponents of magnitude 1e6)."""
    rng = np.random.default_rng(3)
    rows = torch.from_numpy(10 * rng.standard_normal((70, 3)))
    cols = torch.from_numpy(10 * rng.standard_normal((50, 3)) + 5)
    potential = torch.from_numpy(rng.standard_normal(50))
    reg = 1e-3
    dense = potential[None, :] - ((rows[:, None, :] - cols[None, :, :]) ** 2).sum(-1) / reg
    expected = torch.logsumexp(dense, dim=1)
    got = _chunked_lse(rows, cols, potential, reg, batch_size=16)
    torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-6)


def test_point_cloud_sinkhorn_accepts_inputs_that_require_grad() -> None:
    rng = np.random.default_rng(4)
    x = torch.from_numpy(rng.random((40, 2)))
    y = torch.from_numpy(rng.random((30, 2)))
    plain = sinkhorn(None, None, (x, y), 0.1, cost="sqeuclidean", tol=1e-10)
    tracked = sinkhorn(
        None, None, (x.clone().requires_grad_(True), y), 0.1, cost="sqeuclidean", tol=1e-10
    )
    torch.testing.assert_close(tracked.alpha, plain.alpha)
    assert not tracked.alpha.requires_grad
