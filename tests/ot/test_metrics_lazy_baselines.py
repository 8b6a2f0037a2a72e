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


def test_conditional_flow_density_integrates_and_matches_its_samples() -> None:
    from theoropt.ot.baselines import ConditionalFlow

    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 2))
    y = np.tanh(x) + 0.3 * rng.standard_normal((64, 2))
    flow = ConditionalFlow(steps=60, hidden=16, eval_every=10).fit(x, y)
    grid = np.linspace(-5, 5, 301)
    points = np.stack(np.meshgrid(grid, grid, indexing="ij"), -1).reshape(-1, 2)
    x0 = np.array([[0.4, -0.9]])
    density = np.exp(flow.log_prob(points, np.repeat(x0, len(points), 0)))
    cell = (grid[1] - grid[0]) ** 2
    assert density.sum() * cell == pytest.approx(1.0, abs=5e-3)
    mean = (density * cell) @ points
    samples = flow.sample(x0, 20_000, seed=1)[0]
    np.testing.assert_allclose(samples.mean(0), mean, atol=0.03)
    # float32 arrays and lists are read in the flow's float64 (they raised a dtype error)
    expected = flow.log_prob(points[:5], np.repeat(x0, 5, 0))
    as_float32 = flow.log_prob(
        points[:5].astype(np.float32), np.repeat(x0, 5, 0).astype(np.float32)
    )
    np.testing.assert_allclose(as_float32, expected, rtol=1e-5)
    np.testing.assert_array_equal(flow.log_prob(points[:5].tolist(), [x0[0]] * 5), expected)


def test_mmd_matches_a_double_loop() -> None:
    from theoropt.ot.metrics import median_bandwidths, mmd

    rng = np.random.default_rng(2)
    x, y = rng.standard_normal((6, 2)), rng.standard_normal((5, 2)) + 0.3
    widths = median_bandwidths(np.vstack([x, y]))
    distances = [np.linalg.norm(p - q) for p in np.vstack([x, y]) for q in np.vstack([x, y])]
    median = np.median([d for d in distances if d > 0])
    assert widths == pytest.approx([median * 2.0**k for k in (-2, -1, 0, 1, 2)])

    def k(p, q):
        return np.mean([np.exp(-np.sum((p - q) ** 2) / (2 * s**2)) for s in widths])

    xx = np.mean([k(x[i], x[j]) for i in range(6) for j in range(6) if i != j])
    yy = np.mean([k(y[i], y[j]) for i in range(5) for j in range(5) if i != j])
    xy = np.mean([k(p, q) for p in x for q in y])
    assert mmd(x, y, widths) == pytest.approx(xx + yy - 2 * xy, rel=1e-12)


def test_sinkhorn_divergence_matches_a_hand_solved_two_point_problem() -> None:
    """Two points against two points, uniform weights: every coupling is
    ``[[t, 1/2 - t], [1/2 - t, t]]``, so ``OT_eps`` is a one-dimensional minimisation of
    ``<P, C> + eps KL(P | a b^T)`` (scipy); the divergence debiases it."""
    from scipy.optimize import minimize_scalar

    from theoropt.ot.metrics import sinkhorn_divergence

    eps = 0.1

    def entropic(p: np.ndarray, q: np.ndarray) -> float:
        cost = 0.5 * ((p[:, None] - q[None]) ** 2).sum(-1)

        def value(t: float) -> float:
            plan = np.array([[t, 0.5 - t], [0.5 - t, t]])
            return float((plan * cost).sum() + eps * (plan * np.log(plan / 0.25)).sum())

        return minimize_scalar(value, bounds=(1e-12, 0.5 - 1e-12), method="bounded",
                               options={"xatol": 1e-12}).fun  # fmt: skip

    x = np.array([[0.0, 0.0], [1.0, 0.5]])
    y = np.array([[0.2, 0.1], [1.5, -0.4]])
    expected = entropic(x, y) - 0.5 * (entropic(x, x) + entropic(y, y))
    assert sinkhorn_divergence(x, y, blur=np.sqrt(eps)) == pytest.approx(expected, abs=1e-6)
    assert sinkhorn_divergence(x, x, blur=np.sqrt(eps)) == pytest.approx(0.0, abs=1e-9)
