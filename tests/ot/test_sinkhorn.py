"""Sinkhorn (log and SNS) against POT, against closed forms, and on bad input."""

from __future__ import annotations

import math

import numpy as np
import ot
import pytest
import torch

from theoropt.ot import SinkhornConvergenceWarning, sinkhorn


def random_problem(n: int, m: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    cost = ot.dist(rng.random((n, 2)), rng.random((m, 2)))
    a = rng.random(n) + 0.5
    b = rng.random(m) + 0.5
    return a / a.sum(), b / b.sum(), cost / cost.max()


def marginal_errors(plan: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    return max(np.abs(plan.sum(1) - a).sum(), np.abs(plan.sum(0) - b).sum())


@pytest.mark.parametrize("method", ["log", "sns"])
@pytest.mark.parametrize("reg", [1e-1, 1e-2])
def test_plan_matches_pot(method: str, reg: float) -> None:
    a, b, cost = random_problem(120, 90, seed=1)
    plan = sinkhorn(a, b, cost, reg, method=method, tol=1e-11)
    reference = ot.sinkhorn(a, b, cost, reg, method="sinkhorn_log", stopThr=1e-13, numItermax=10**5)
    assert marginal_errors(plan, a, b) <= 1e-11
    np.testing.assert_allclose(plan, reference, rtol=0, atol=1e-9)


def test_two_by_two_closed_form() -> None:
    """For 2 x 2, P_11 P_22 / (P_12 P_21) = exp(-(M_11 + M_22 - M_12 - M_21) / reg) and the
    marginals fix P up to one unknown: a quadratic in P_11."""
    a, b = np.array([0.3, 0.7]), np.array([0.6, 0.4])
    cost = np.array([[0.0, 1.0], [2.0, 0.5]])
    reg = 0.7
    k = math.exp(-(cost[0, 0] + cost[1, 1] - cost[0, 1] - cost[1, 0]) / reg)
    # p (1 - a1 - b1 + p) = k (a1 - p)(b1 - p)  ->  (1 - k) p^2 + (1 - a1 - b1 + k(a1 + b1)) p
    #                                               - k a1 b1 = 0
    qa, qb, qc = 1 - k, 1 - a[0] - b[0] + k * (a[0] + b[0]), -k * a[0] * b[0]
    p = (-qb + math.sqrt(qb * qb - 4 * qa * qc)) / (2 * qa)
    exact = np.array([[p, a[0] - p], [b[0] - p, 1 - a[0] - b[0] + p]])
    for method in ("log", "sns"):
        np.testing.assert_allclose(
            sinkhorn(a, b, cost, reg, method=method, tol=1e-14), exact, atol=1e-13
        )


def test_gaussian_closed_form_covariance() -> None:
    """Entropic OT between N(0, s1^2) and N(1, s2^2), cost (x - y)^2: the plan is Gaussian with
    cross-covariance c solving c / (s1^2 s2^2 - c^2) = 2 / reg, i.e.
    c = (sqrt(reg^2 + 16 s1^2 s2^2) - reg) / 4. Checked on a fine grid discretisation."""
    s1, s2, reg = 1.0, 0.5, 0.5
    grid = np.linspace(-7, 7, 701)
    a = np.exp(-0.5 * (grid / s1) ** 2)
    b = np.exp(-0.5 * ((grid - 1) / s2) ** 2)
    a, b = a / a.sum(), b / b.sum()
    cost = (grid[:, None] - grid[None, :]) ** 2
    plan = sinkhorn(a, b, cost, reg, tol=1e-10)
    mean_x, mean_y = grid @ a, grid @ b
    cross = ((grid - mean_x)[:, None] * (grid - mean_y)[None, :] * plan).sum()
    exact = (math.sqrt(reg**2 + 16 * s1**2 * s2**2) - reg) / 4
    assert cross == pytest.approx(exact, rel=1e-3)


def test_small_reg_no_overflow_and_both_marginals() -> None:
    a, b, cost = random_problem(60, 50, seed=2)
    cost = cost * 37.0  # cost scale != 1: reg is relative to max(M) below
    reg = 1e-4 * cost.max()
    plan, info = sinkhorn(a, b, cost, reg, method="log", tol=1e-8, max_iter=200_000, log=True)
    assert np.isfinite(plan).all() and np.isfinite(info["f"]).all()
    assert info["converged"] and info["marginal_err"] <= 1e-8
    assert marginal_errors(plan, a, b) <= 1e-8
    reconstructed = np.exp((info["f"][:, None] + info["g"][None, :] - cost) / reg)
    np.testing.assert_allclose(reconstructed, plan, rtol=1e-12, atol=1e-300)


def test_sns_reaches_machine_precision_marginals() -> None:
    a, b, cost = random_problem(100, 100, seed=3)
    plan, info = sinkhorn(a, b, cost, 2e-3, method="sns", tol=1e-12, log=True)
    assert info["n_newton"] >= 1
    assert marginal_errors(plan, a, b) <= 1e-12
    reference = ot.sinkhorn(
        a, b, cost, 2e-3, method="sinkhorn_log", stopThr=1e-13, numItermax=10**5
    )
    np.testing.assert_allclose(plan, reference, atol=1e-10)


def test_sparse_hessian_same_plan() -> None:
    a, b, cost = random_problem(150, 150, seed=4)
    dense = sinkhorn(a, b, cost, 1e-2, method="sns", tol=1e-12)
    sparse = sinkhorn(a, b, cost, 1e-2, method="sns", tol=1e-12, hessian="sparse")
    np.testing.assert_allclose(sparse, dense, atol=1e-12)


def test_torch_in_torch_out_and_float32() -> None:
    a, b, cost = random_problem(50, 40, seed=5)
    plan = sinkhorn(torch.from_numpy(a), torch.from_numpy(b), torch.from_numpy(cost), 0.05)
    assert isinstance(plan, torch.Tensor) and plan.dtype == torch.float64
    np.testing.assert_allclose(plan.numpy(), sinkhorn(a, b, cost, 0.05), atol=1e-14)
    plan32 = sinkhorn(None, None, torch.from_numpy(cost).float(), 0.05, tol=1e-5)
    assert plan32.dtype == torch.float32
    assert marginal_errors(plan32.double().numpy(), np.full(50, 1 / 50), np.full(40, 1 / 40)) < 1e-5


def test_uniform_default_weights_like_pot() -> None:
    _, _, cost = random_problem(30, 20, seed=6)
    np.testing.assert_allclose(
        sinkhorn([], [], cost, 0.1, tol=1e-12),
        ot.sinkhorn([], [], cost, 0.1, method="sinkhorn_log", stopThr=1e-14),
        atol=1e-12,
    )


def test_not_converged_warns() -> None:
    a, b, cost = random_problem(40, 40, seed=7)
    with pytest.warns(SinkhornConvergenceWarning, match="marginal error"):
        sinkhorn(a, b, cost, 1e-3, max_iter=3)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"M": np.full((3, 4), np.nan)}, ValueError, "NaN"),
        ({"M": np.ones(3)}, ValueError, "dimension"),
        ({"M": np.ones((3, 3)) * 1j}, TypeError, "complex"),
        ({"reg": 0.0}, ValueError, "reg"),
        ({"reg": float("inf")}, ValueError, "reg"),
        ({"a": np.ones(2) / 2}, ValueError, "entries"),
        ({"a": np.array([0.5, 0.5, 0.0])}, ValueError, "positive"),
        ({"a": np.ones(3)}, ValueError, "equal total mass"),
        ({"method": "newton"}, ValueError, "method"),
        ({"max_iter": 0}, ValueError, "max_iter"),
    ],
)
def test_bad_input_is_named(kwargs: dict, error: type, match: str) -> None:
    call = {"a": np.ones(3) / 3, "b": np.ones(3) / 3, "M": np.ones((3, 3)), "reg": 0.1}
    options = {k: v for k, v in kwargs.items() if k not in call}
    call.update({k: v for k, v in kwargs.items() if k in call})
    with pytest.raises(error, match=match):
        sinkhorn(call["a"], call["b"], call["M"], call["reg"], **options)


def test_scipy_sparse_rejected() -> None:
    scipy_sparse = pytest.importorskip("scipy.sparse")
    with pytest.raises(TypeError, match="sparse"):
        sinkhorn(None, None, scipy_sparse.csr_matrix(np.ones((3, 3))), 0.1)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu() -> None:
    _, _, cost = random_problem(200, 100, seed=8)
    for method in ("log", "sns"):
        on_gpu = sinkhorn(None, None, torch.from_numpy(cost).cuda(), 0.01, method=method, tol=1e-11)
        assert on_gpu.device.type == "cuda"
        on_cpu = sinkhorn(None, None, cost, 0.01, method=method, tol=1e-11)
        np.testing.assert_allclose(on_gpu.cpu().numpy(), on_cpu, atol=1e-10)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_point_cloud_cuda_matches_cpu() -> None:
    """The fused block log-sum-exp (addmm into a reused buffer) on the GPU, float64 and float32
    (plan entries are about 1.7e-5 here)."""
    rng = np.random.default_rng(9)
    x, y = rng.random((300, 2)), rng.random((200, 2))
    on_cpu = sinkhorn(None, None, (x, y), 0.05, cost="sqeuclidean", tol=1e-10, batch_size=64)
    for dtype, tol, atol in ((torch.float64, 1e-10, 1e-12), (torch.float32, 1e-5, 1e-8)):
        xs, ys = (torch.from_numpy(v).to("cuda", dtype) for v in (x, y))
        on_gpu = sinkhorn(None, None, (xs, ys), 0.05, cost="sqeuclidean", tol=tol, batch_size=64)
        assert on_gpu.alpha.device.type == "cuda" and on_gpu.alpha.dtype == dtype
        dense = on_gpu.to_dense().double().cpu().numpy()
        np.testing.assert_allclose(dense, on_cpu.to_dense(), atol=atol)
