"""GD and Nesterov with known L against the textbook bounds, on a quadratic whose minimiser
is computed independently (numpy linear solve)."""

from __future__ import annotations

import numpy as np
import pytest

from theoropt.convex import minimize


def ill_conditioned_quadratic(dim: int = 60, seed: int = 3):
    rng = np.random.default_rng(seed)
    basis, _ = np.linalg.qr(rng.standard_normal((dim, dim)))
    eigenvalues = np.geomspace(1e-5, 2.0, dim)
    hessian = (basis * eigenvalues) @ basis.T
    hessian = 0.5 * (hessian + hessian.T)
    linear = rng.standard_normal(dim)
    x_star = np.linalg.solve(hessian, linear)
    f_star = -0.5 * linear @ x_star
    return hessian, linear, x_star, f_star, eigenvalues


@pytest.fixture(scope="module")
def quadratic():
    return ill_conditioned_quadratic()


def solve(quadratic, method, iterations, **options):
    hessian, linear, *_ = quadratic
    return minimize(
        lambda x: 0.5 * x @ hessian @ x - linear @ x,
        np.zeros(linear.size),
        lambda x: hessian @ x - linear,
        method=method,
        tol=0.0,
        max_iter=iterations,
        **options,
    )


def test_gd_meets_the_sublinear_bound(quadratic):
    _, _, x_star, f_star, eigenvalues = quadratic
    L = eigenvalues.max()
    result = solve(quadratic, "gd", 2000, L=L)
    k = np.arange(1, result.nit + 1)
    gap = result.history["f"][1:] - f_star
    bound = L * np.sum(x_star**2) / (2 * k)
    assert np.all(gap <= bound * (1 + 1e-10))
    assert np.all(np.diff(result.history["f"]) <= 1e-12)  # monotone with step 1/L


def test_nesterov_meets_the_accelerated_bound(quadratic):
    _, _, x_star, f_star, eigenvalues = quadratic
    L = eigenvalues.max()
    result = solve(quadratic, "nesterov", 2000, L=L)
    k = np.arange(1, result.nit + 1)
    gap = result.history["f"][1:] - f_star
    bound = 2 * L * np.sum(x_star**2) / (k + 1) ** 2
    assert np.all(gap <= bound * (1 + 1e-10))
    # and it is genuinely faster than GD after the same number of gradient evaluations
    gd = solve(quadratic, "gd", 2000, L=L)
    assert gap[-1] < 0.1 * (gd.history["f"][-1] - f_star)


def test_strongly_convex_nesterov_meets_the_linear_bound():
    hessian, linear, x_star, f_star, eigenvalues = ill_conditioned_quadratic(40, seed=5)
    eigenvalues = np.geomspace(1e-2, 1.0, 40)
    rng = np.random.default_rng(5)
    basis, _ = np.linalg.qr(rng.standard_normal((40, 40)))
    hessian = (basis * eigenvalues) @ basis.T
    x_star = np.linalg.solve(hessian, linear)
    f_star = -0.5 * linear @ x_star
    L, mu = 1.0, 1e-2
    result = solve((hessian, linear), "nesterov", 300, L=L, mu=mu)
    k = np.arange(result.nit + 1)
    f0 = 0.0
    bound = (1 - np.sqrt(mu / L)) ** k * (f0 - f_star + mu / 2 * np.sum(x_star**2))
    assert np.all(result.history["f"] - f_star <= bound * (1 + 1e-9) + 1e-13)
    assert result.history["f"][-1] - f_star < 1e-8
