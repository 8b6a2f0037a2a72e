"""Our port of the Sinkhorn tests of POT's ``test/test_bregman.py`` (POT 0.9.x): the same
problems and assertions, written against ``theoropt.ot`` (our words; POT is the reference where
its test compared two POT solvers). Tests that cannot apply are listed with the reason in
docs/ot.md ("POT's test_bregman").
"""

from __future__ import annotations

import warnings
from itertools import product

import numpy as np
import ot
import pytest
import torch

from theoropt.ot import sinkhorn, sinkhorn2, sinkhorn_divergence

POT_METHODS = ["sinkhorn", "sinkhorn_log", "sinkhorn_stabilized", "sinkhorn_epsilon_scaling"]


def gaussian_pair(n: int = 100) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """POT's 1-D Gaussian histograms (means 30, 40; std 10) and squared index distances."""
    return (
        ot.datasets.make_1D_gauss(n, m=30, s=10),
        ot.datasets.make_1D_gauss(n, m=40, s=10),
        ot.utils.dist0(n),
    )


def cloud_cost(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.RandomState(seed)
    x = rng.randn(n, 2)
    return ot.utils.unif(n), ot.dist(x, x)


@pytest.mark.parametrize(("verbose", "warn"), list(product([True, False], [True, False])))
def test_sinkhorn(verbose: bool, warn: bool, capsys) -> None:
    u, M = cloud_cost(100, 0)
    G = sinkhorn(u, u, M, 1, stopThr=1e-10, verbose=verbose, warn=warn)
    np.testing.assert_allclose(u, G.sum(1), atol=1e-05)
    np.testing.assert_allclose(u, G.sum(0), atol=1e-05)
    assert bool(capsys.readouterr().out) == verbose
    with pytest.warns(UserWarning):
        sinkhorn(u, u, M, 1, stopThr=0, numItermax=1)


@pytest.mark.parametrize("method", POT_METHODS)
def test_convergence_warning(method: str) -> None:
    a1, a2, M = gaussian_pair()
    with pytest.warns(UserWarning):
        sinkhorn(a1, a2, M, 1.0, method=method, stopThr=0, numItermax=1)
    with pytest.warns(UserWarning):
        sinkhorn2(a1, a2, M, 1, method=method, stopThr=0, numItermax=1, warn=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sinkhorn2(a1, a2, M, 1, method=method, stopThr=0, numItermax=1, warn=False)


def test_not_implemented_method() -> None:
    rng = np.random.RandomState(42)
    a1, a2 = rng.rand(2, 100)
    M = ot.utils.dist0(100)
    for solver in (sinkhorn, sinkhorn2):
        with pytest.raises(ValueError, match="unknown method"):
            solver(a1 / a1.sum(), a2 / a2.sum(), M, 0.01, method="new_method")


def test_sinkhorn_stabilization() -> None:
    """POT compares its log and stabilised solvers at reg = 1e-5 (costs up to 9801): both
    are near the unregularised optimum; ours must give the same loss (atol 1e-6)."""
    a1, a2, M = gaussian_pair()
    reference = ot.sinkhorn2(a1, a2, M, 1e-5, method="sinkhorn_log")
    ours = sinkhorn2(a1, a2, M, 1e-5, method="sinkhorn_stabilized")
    np.testing.assert_allclose(ours, reference, atol=1e-06)


@pytest.mark.parametrize(
    ("method", "verbose", "warn"),
    list(
        product(["sinkhorn", "sinkhorn_stabilized", "sinkhorn_log"], [True, False], [True, False])
    ),
)
def test_sinkhorn_multi_b(method: str, verbose: bool, warn: bool) -> None:
    rng = np.random.RandomState(0)
    x = rng.randn(10, 2)
    u = ot.utils.unif(10)
    b = rng.rand(10, 3)
    b = b / np.sum(b, 0, keepdims=True)
    M = ot.dist(x, x)
    loss0, log = sinkhorn(u, b, M, 0.1, method=method, stopThr=1e-10, log=True)
    loss = [
        sinkhorn2(u, b[:, k], M, 0.1, method=method, stopThr=1e-10, verbose=verbose, warn=warn)
        for k in range(3)
    ]
    np.testing.assert_allclose(loss0, loss, atol=1e-4)
    assert log["log_u"].shape == (10, 3) and log["log_v"].shape == (10, 3)


@pytest.mark.parametrize("solver", [sinkhorn, sinkhorn2])
def test_sinkhorn_backends(solver) -> None:
    """numpy and torch inputs give the same result (POT's ``np.allclose`` lacked an assert)."""
    rng = np.random.RandomState(0)
    M = ot.dist(rng.randn(100, 2), rng.randn(100, 2))
    a = ot.utils.unif(100)
    on_numpy = solver(a, a, M, 1)
    on_torch = solver(torch.from_numpy(a), torch.from_numpy(a), torch.from_numpy(M), 1)
    assert np.allclose(on_numpy, on_torch.numpy())


def test_sinkhorn2_gradients() -> None:
    rng = np.random.RandomState(0)
    M = ot.dist(rng.randn(100, 2), rng.randn(100, 2))
    a = ot.utils.unif(100)
    a1 = torch.tensor(a, requires_grad=True)
    b1 = torch.tensor(a, requires_grad=True)
    M1 = torch.tensor(M, requires_grad=True)
    sinkhorn2(a1, b1, M1, 1).backward()
    assert a1.shape == a1.grad.shape
    assert b1.shape == b1.grad.shape
    assert M1.shape == M1.grad.shape


@pytest.mark.parametrize("method", POT_METHODS)
def test_sinkhorn_empty(method: str) -> None:
    u, M = cloud_cost(100, 0)
    G, log = sinkhorn([], [], M, 1, stopThr=1e-10, method=method, verbose=True, log=True)
    np.testing.assert_allclose(u, G.sum(1), atol=1e-05)
    np.testing.assert_allclose(u, G.sum(0), atol=1e-05)
    assert log["converged"]


@pytest.mark.parametrize("method", POT_METHODS)
def test_sinkhorn_variants(method: str) -> None:
    """Each method name gives POT's plan (POT's own ``sinkhorn``) to 1e-5, numpy and torch."""
    u, M = cloud_cost(100, 0)
    G = ot.sinkhorn(u, u, M, 1, method="sinkhorn", stopThr=1e-10)
    ub, Mb = torch.from_numpy(u), torch.from_numpy(M)
    np.testing.assert_allclose(G, sinkhorn(u, u, M, 1, method=method, stopThr=1e-10), atol=1e-5)
    np.testing.assert_allclose(
        G, sinkhorn(ub, ub, Mb, 1, method=method, stopThr=1e-10).numpy(), atol=1e-5
    )


DTYPES = [np.float32, np.float64]


@pytest.mark.parametrize(("method", "dtype"), list(product(POT_METHODS, DTYPES)))
@pytest.mark.parametrize("as_tensor", [False, True])
def test_sinkhorn_variants_dtype_device(method: str, dtype, as_tensor: bool) -> None:
    u, M = cloud_cost(100, 42)
    ub, Mb = u.astype(dtype), M.astype(dtype)
    if as_tensor:
        ub, Mb = torch.from_numpy(ub), torch.from_numpy(Mb)
    for result in (
        sinkhorn(ub, ub, Mb, 1, method=method, stopThr=1e-10),
        sinkhorn2(ub, ub, Mb, 1, method=method, stopThr=1e-10),
    ):
        assert result.dtype == Mb.dtype
        assert isinstance(result, torch.Tensor) == as_tensor


def multi_b_problem() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.RandomState(0)
    x = rng.randn(50, 2)
    b = rng.rand(50, 3)
    return ot.utils.unif(50), b / np.sum(b, 0, keepdims=True), ot.dist(x, x)


@pytest.mark.parametrize("solver", ["sinkhorn", "sinkhorn2"])
@pytest.mark.parametrize("method", ["sinkhorn", "sinkhorn_log", "sinkhorn_stabilized"])
def test_sinkhorn_variants_multi_b(solver: str, method: str) -> None:
    u, b, M = multi_b_problem()
    reference = getattr(ot, solver)(u, b, M, 1, method="sinkhorn", stopThr=1e-10)
    ours = globals()[solver]
    np.testing.assert_allclose(ours(u, b, M, 1, method=method, stopThr=1e-10), reference, atol=1e-5)
    as_torch = ours(*map(torch.from_numpy, (u, b, M)), 1, method=method, stopThr=1e-10)
    np.testing.assert_allclose(as_torch.numpy(), reference, atol=1e-5)


@pytest.mark.parametrize("method", POT_METHODS)
def test_sinkhorn_variants_log(method: str) -> None:
    u, M = cloud_cost(50, 0)
    G0, log0 = ot.sinkhorn(u, u, M, 1, method="sinkhorn", stopThr=1e-10, log=True)
    np.testing.assert_allclose(np.outer(log0["u"], log0["v"]) * np.exp(-M), G0, atol=1e-15)
    G, log = sinkhorn(u, u, M, 1, method=method, stopThr=1e-10, log=True)
    np.testing.assert_allclose(G0, G, atol=1e-05)
    for key in ("log_u", "log_v", "u", "v", "niter", "err"):
        assert key in log
    assert isinstance(log["err"], list)
    np.testing.assert_allclose(np.exp(log["log_u"]), log["u"])
    np.testing.assert_allclose(np.outer(log["u"], log["v"]) * np.exp(-M), G, atol=1e-15)


@pytest.mark.parametrize(("verbose", "warn"), list(product([True, False], [True, False])))
def test_sinkhorn_variants_log_multib(verbose: bool, warn: bool) -> None:
    u, b, M = multi_b_problem()
    G0, _ = ot.sinkhorn(u, b, M, 1, method="sinkhorn", stopThr=1e-10, log=True)
    for method in ("sinkhorn_log", "sinkhorn_stabilized"):
        G, _ = sinkhorn(
            u, b, M, 1, method=method, stopThr=1e-10, log=True, verbose=verbose, warn=warn
        )
        np.testing.assert_allclose(G0, G, atol=1e-05)


def line_clouds(n: int = 10) -> tuple[np.ndarray, np.ndarray]:
    return np.arange(n, dtype=np.float64).reshape(n, 1), np.arange(n, dtype=np.float64).reshape(
        n, 1
    )


def test_empirical_sinkhorn() -> None:
    """The point-cloud form (POT's ``empirical_sinkhorn``/``2``) against the dense solver,
    squared Euclidean metric (the only one we provide)."""
    a = b = ot.unif(10)
    X_s, X_t = line_clouds()
    M = ot.dist(X_s, X_t)
    for reg in (1, 0.1):
        G = sinkhorn(None, None, (X_s, X_t), reg, cost="sqeuclidean").to_dense()
        dense = sinkhorn(a, b, M, reg)
        np.testing.assert_allclose(dense.sum(1), G.sum(1), atol=1e-05)
        np.testing.assert_allclose(dense.sum(0), G.sum(0), atol=1e-05)
    loss = sinkhorn2(None, None, (X_s, X_t), 1, cost="sqeuclidean")
    np.testing.assert_allclose(loss, ot.sinkhorn2(a, b, M, 1), atol=1e-05)


@pytest.mark.parametrize("batch_size", [1, 3, 5])
def test_lazy_empirical_sinkhorn(batch_size: int) -> None:
    a = b = ot.unif(10)
    X_s, X_t = line_clouds()
    M = ot.dist(X_s, X_t)
    plan, log = sinkhorn(
        None, None, (X_s, X_t), 1, cost="sqeuclidean", numItermax=1000, verbose=True,
        batch_size=batch_size, log=True,
    )  # fmt: skip
    G_sqe = np.exp(log["f"][:, None] + log["g"][None, :] - M)
    reference = ot.sinkhorn(a, b, M, 1)
    np.testing.assert_allclose(reference.sum(1), G_sqe.sum(1), atol=1e-05)
    np.testing.assert_allclose(reference.sum(0), G_sqe.sum(0), atol=1e-05)
    np.testing.assert_allclose(G_sqe[1, 1], plan.to_dense()[1, 1], atol=1e-03)
    loss = sinkhorn2(None, None, (X_s, X_t), 1, cost="sqeuclidean", batch_size=batch_size)
    np.testing.assert_allclose(loss, ot.sinkhorn2(a, b, M, 1), atol=1e-05)


def divergence_problem():
    n = 10
    a = np.linspace(1, n, n)
    a /= a.sum()
    X_s = np.reshape(np.arange(n, dtype=np.float64), (n, 1))
    X_t = np.reshape(np.arange(0, n * 2, 2, dtype=np.float64), (n, 1))
    return a, ot.unif(n), X_s, X_t


def test_empirical_sinkhorn_divergence() -> None:
    a, b, X_s, X_t = divergence_problem()
    M, M_s, M_t = ot.dist(X_s, X_t), ot.dist(X_s, X_s), ot.dist(X_t, X_t)
    on_torch = sinkhorn_divergence(*map(torch.from_numpy, (X_s, X_t)), 1,
                                   a=torch.from_numpy(a), b=torch.from_numpy(b))  # fmt: skip
    from_pot = (
        ot.sinkhorn2(a, b, M, 1)
        - 1 / 2 * ot.sinkhorn2(a, a, M_s, 1)
        - 1 / 2 * ot.sinkhorn2(b, b, M_t, 1)
    )
    on_numpy = sinkhorn_divergence(X_s, X_t, 1, a=a, b=b)
    np.testing.assert_allclose(on_torch.numpy(), on_numpy, atol=1e-05)
    np.testing.assert_allclose(on_numpy, from_pot, atol=1e-05)
    value, log = sinkhorn_divergence(X_s, X_t, 1, a=a, b=b, log=True)
    assert value == pytest.approx(on_numpy)
    for key in ("sinkhorn_loss_ab", "sinkhorn_loss_a", "sinkhorn_loss_b", "log_sinkhorn_ab"):
        assert key in log


def test_empirical_sinkhorn_divergence_gradient() -> None:
    a, b, X_s, X_t = divergence_problem()
    ab, bb, X_sb, X_tb = (torch.tensor(v, requires_grad=True) for v in (a, b, X_s, X_t))
    sinkhorn_divergence(X_sb, X_tb, 1, a=ab, b=bb).backward()
    for tensor in (ab, bb, X_sb, X_tb):
        assert tensor.grad is not None


def test_stabilized_vs_sinkhorn_multidim() -> None:
    a = ot.datasets.make_1D_gauss(100, m=20, s=5)
    b = np.vstack((ot.datasets.make_1D_gauss(100, m=60, s=8),
                   ot.datasets.make_1D_gauss(100, m=30, s=4))).T  # fmt: skip
    M = ot.utils.dist0(100)
    M /= np.median(M)
    G_np, _ = ot.bregman.sinkhorn(a, b, M, reg=0.1, method="sinkhorn", log=True)
    G, _ = sinkhorn(a, b, M, reg=0.1, method="sinkhorn_stabilized", log=True)
    G2, _ = sinkhorn(*map(torch.from_numpy, (a, b, M)), 0.1, method="sinkhorn", log=True)
    np.testing.assert_allclose(G_np, G2.numpy())
    np.testing.assert_allclose(G, G2.numpy())


def test_implemented_methods() -> None:
    rng = np.random.RandomState(42)
    x = rng.randn(3, 2)
    a = b = ot.utils.unif(3)
    M = ot.dist(x, x)
    for method in ("sinkhorn", "sinkhorn_stabilized", "sinkhorn_epsilon_scaling"):
        sinkhorn(a, b, M, 1.0, method=method)
        sinkhorn2(a, b, M, 1.0, method=method)
    for solver in (sinkhorn, sinkhorn2):
        with pytest.raises(ValueError):
            solver(a, b, M, 1.0, method="foo")


def warm_problem():
    a, b = ot.unif(10), ot.unif(20)
    Xs, Xt = np.arange(10.0).reshape(-1, 1), np.arange(20.0).reshape(-1, 1)
    M = ot.dist(Xs, Xt)
    _, log = ot.lp.emd(a, b, M, log=True)
    return a, b, Xs, Xt, M, (log["u"], log["v"])


@pytest.mark.parametrize("method", POT_METHODS)
def test_sinkhorn_warmstart(method: str) -> None:
    a, b, _, _, M, warmstart = warm_problem()
    pi_unif, _ = sinkhorn(a, b, M, 1, method=method, log=True, warmstart=None)
    pi_warm, _ = sinkhorn(a, b, M, 1, method=method, log=True, warmstart=warmstart)
    np.testing.assert_allclose(pi_unif, pi_warm, atol=1e-05)
    np.testing.assert_allclose(pi_unif, ot.sinkhorn(a, b, M, 1), atol=1e-05)


def test_empirical_sinkhorn_warmstart() -> None:
    _, _, Xs, Xt, M, warmstart = warm_problem()
    plans = []
    for start in (None, warmstart):
        _, log = sinkhorn(None, None, (Xs, Xt), 1, cost="sqeuclidean", log=True, warmstart=start)
        plans.append(np.exp((log["f"][:, None] + log["g"][None, :] - M) / 1))
    np.testing.assert_allclose(plans[0], plans[1], atol=1e-05)


def test_empirical_sinkhorn_divergence_warmstart() -> None:
    _, _, Xs, Xt, _, warmstart = warm_problem()
    cold, _ = sinkhorn_divergence(Xs, Xt, 1, log=True, warmstart=None)
    warm, _ = sinkhorn_divergence(Xs, Xt, 1, log=True, warmstart=warmstart)
    np.testing.assert_allclose(cold, warm, atol=1e-05)
