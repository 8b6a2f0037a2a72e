"""Test problems against independent computations: torch autograd gradients, dense SVD for L,
scikit-learn / numpy solves for f*."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression as SklearnLogistic
from threadpoolctl import threadpool_limits

from theoropt.convex.problems import (
    WITHOUT_GLOBAL_L,
    Cosh,
    Quartic,
    get_problem,
    nesterov_worst_case,
    random_quadratic,
)


@pytest.fixture(scope="module")
def mushrooms():
    return get_problem("logreg-mushrooms")


def test_logistic_gradient_matches_autograd(mushrooms):
    p = mushrooms
    x = np.random.default_rng(0).standard_normal(p.dim) * 0.3
    A = torch.tensor(p.A.toarray())
    y = torch.tensor(p.y)
    xt = torch.tensor(x, requires_grad=True)
    value = torch.nn.functional.softplus(-y * (A @ xt)).mean() + 0.5 * p.l2 * (xt @ xt)
    value.backward()
    f, g = p.value_and_grad(x)
    assert f == pytest.approx(value.item(), rel=1e-12)
    np.testing.assert_allclose(g, xt.grad.numpy(), rtol=1e-9, atol=1e-14)


def test_logistic_smoothness_and_optimum_are_independent_of_our_solver(mushrooms):
    p = mushrooms
    dense = p.A.toarray()
    assert p.L == pytest.approx(np.linalg.norm(dense, 2) ** 2 / (4 * p.n) + p.l2, rel=1e-10)
    assert p.l2 == pytest.approx((p.L - p.l2) / (10 * p.n), rel=1e-12)
    # scikit-learn minimises C Σ loss + ½||w||², i.e. our f times n*C with C = 1/(n l2)
    reference = SklearnLogistic(
        C=1 / (p.n * p.l2), fit_intercept=False, tol=1e-12, max_iter=10_000
    ).fit(dense, p.y)
    f_sklearn = p.fun(reference.coef_.ravel())
    assert p.f_star <= f_sklearn + 1e-12
    assert f_sklearn - p.f_star < 1e-9


def test_quadratic_optima_match_linear_solves():
    q = random_quadratic(dim=80, seed=1)
    x_star = np.linalg.lstsq(q.A, q.b, rcond=None)[0]
    assert q.f_star == pytest.approx(q.fun(x_star), rel=1e-9)
    assert q.L == pytest.approx(np.linalg.eigvalsh(q.A).max(), rel=1e-10)
    worst = nesterov_worst_case(dim=51)
    dense = worst.A.toarray()
    x_star = np.linalg.solve(dense, worst.b)
    np.testing.assert_allclose(x_star, 1 - np.arange(1, 52) / 52, atol=1e-12)
    assert worst.f_star == pytest.approx(worst.fun(x_star), rel=1e-12)
    eigenvalues = np.linalg.eigvalsh(dense)
    assert worst.L == pytest.approx(eigenvalues.max(), rel=1e-10)
    assert worst.mu == pytest.approx(eigenvalues.min(), rel=1e-8)


@pytest.mark.parametrize("problem", [Quartic(dim=30), Cosh(dim=30)])
def test_l0l1_problems(problem):
    x = problem.starting_point(2)
    xt = torch.tensor(x, requires_grad=True)
    r = torch.tensor(problem.A) @ xt - torch.tensor(problem.b)
    value = 0.25 * (r @ r) ** 2 if isinstance(problem, Quartic) else torch.cosh(r).mean()
    value.backward()
    f, g = problem.value_and_grad(x)
    assert f == pytest.approx(value.item(), rel=1e-12)
    np.testing.assert_allclose(g, xt.grad.numpy(), rtol=1e-9)
    assert problem.fun(problem.solution) == pytest.approx(problem.f_star, abs=1e-20)
    assert np.linalg.norm(problem.jac(problem.solution)) < 1e-9
    assert problem.L is None
    assert problem.name.split("-")[0] in WITHOUT_GLOBAL_L
    assert problem.fun(x) > 3 * problem.f_star + 1  # starts far from the optimum


def test_unknown_problem_is_named():
    with pytest.raises(ValueError, match="unknown problem 'rosenbrock'"):
        get_problem("rosenbrock")


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="one core: every BLAS call has one thread")
@pytest.mark.parametrize("build", [random_quadratic, Quartic, Cosh], ids=lambda b: b.__name__)
def test_data_and_starts_do_not_depend_on_the_blas_thread_count(build):
    """Built and started under two BLAS threads, a problem has the bits it has under one (on
    two cores the linear solve of the quartic's and cosh's starts and the random quadratic's
    matrix products rounded differently before they ran with one thread)."""
    made = {}
    for threads in (1, 2):
        with threadpool_limits(limits=threads):
            problem = build()
            start = problem.starting_point(1)
        made[threads] = (start, problem.value_and_grad(start)[1])
    for one, two in zip(made[1], made[2], strict=True):
        assert np.array_equal(one, two)
