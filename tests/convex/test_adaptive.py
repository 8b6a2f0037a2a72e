"""Parameter-free methods from eta0 = 1e-10, and the Bregman guard that keeps them stable."""

from __future__ import annotations

import math

import numpy as np
import pytest

from theoropt.convex import inverse_curvature, minimize
from theoropt.convex.arrays import inner
from theoropt.convex.methods import AcceleratedGRAAL
from theoropt.convex.oracle import Oracle
from theoropt.convex.problems import get_problem
from theoropt.convex.study import evals_to_reach, fitted_slope, run_solver

CONVERGING = ("adgd", "adgd2", "graal", "adaptive-graal", "ac-fgm", "adanag", "acc-graal")


@pytest.mark.parametrize("problem_name", ["logreg-mushrooms", "cosh", "quartic"])
@pytest.mark.parametrize("method", CONVERGING)
def test_converges_from_a_tiny_first_step(problem_name, method):
    problem = get_problem(problem_name)
    trace = run_solver(
        problem,
        method,
        problem.starting_point(0),
        max_njev=4000,
        target=1e-6,
        options={"eta0": 1e-10},
    )
    assert not trace.diverged
    assert np.all(np.isfinite(trace.subopt)) and np.all(trace.step > 0)
    assert trace.subopt[-1] <= 1e-6


def ac_fgm_steps(alpha: float) -> np.ndarray:
    problem = get_problem("cosh")
    result = minimize(
        problem.value_and_grad,
        problem.starting_point(0),
        jac=True,
        method="ac-fgm",
        eta0=1e-10,
        alpha=alpha,
        tol=0.0,
        max_iter=300,
    )
    assert np.all(np.isfinite(result.history["f"]))
    return result.history["step"][1:]


def test_ac_fgm_stepsize_growth_is_capped():
    """eta_t <= min(4/3, (tau_{t-2} + 1)/tau_{t-1}) eta_{t-1}: never more than 4/3 per step; with
    alpha = 1 (tau_t = (t + 1)/2) the cap is (t + 1)/t, so
    from 1e-10 the step grows only polynomially, while the authors' alpha = 0.1 lets it grow
    by 4/3 for dozens of iterations."""
    for alpha in (0.1, 1.0):
        steps = ac_fgm_steps(alpha)
        assert np.all(steps[1:] <= 4 / 3 * steps[:-1] * (1 + 1e-12))
    polynomial, default = ac_fgm_steps(1.0), ac_fgm_steps(0.1)
    t = np.arange(2, polynomial.size + 1)
    assert np.all(polynomial[1:] <= polynomial[:-1] * (1 + 2 / t + 1e-12))
    assert polynomial[-1] < 1e-6 < 1e-2 < default[-1]


def test_acc_graal_accelerates_where_adgd_cannot():
    problem = get_problem("quadratic-random")
    budget = 6000
    acc = run_solver(problem, "acc-graal", problem.starting_point(0), max_njev=budget, target=1e-6)
    adgd = run_solver(problem, "adgd", problem.starting_point(0), max_njev=budget, target=1e-6)
    nesterov = run_solver(
        problem, "nesterov", problem.starting_point(0), max_njev=budget, target=1e-6
    )
    assert acc.subopt[-1] <= 1e-6
    assert acc.njev[-1] <= 0.5 * adgd.njev[-1]
    assert acc.njev[-1] <= 3 * nesterov.njev[-1]


def test_inverse_curvature_on_a_quadratic_and_the_guard():
    rng = np.random.default_rng(0)
    A = np.diag([1.0, 3.0, 10.0])
    f = lambda x: 0.5 * x @ A @ x  # noqa: E731
    x, z = rng.standard_normal(3), rng.standard_normal(3)
    d = x - z
    expected = (d @ A @ d) / (d @ A @ A @ d)  # 2 B / ||A d||² with B = ½ dᵀAd
    assert inverse_curvature(x, f(x), A @ x, z, f(z), A @ z) == pytest.approx(expected)
    assert 1 / 10 <= expected <= 1
    assert inverse_curvature(x, f(x), A @ x, x, f(x), A @ x) == math.inf  # equal gradients
    # a cancelled (negative) Bregman term is "no information", never a negative stepsize
    assert inverse_curvature(x, f(z) - 1e-3, A @ x, z, f(z), A @ z * 0 + A @ x * 0) == math.inf


def test_inner_refuses_numpy_mixed_with_torch():
    """The stepsize rules' inner product takes one library's arrays (numpy would silently
    convert a CPU tensor, and fail on a CUDA one)."""
    torch = pytest.importorskip("torch")
    array, tensor = np.arange(3.0), torch.arange(3.0, dtype=torch.float64)
    for a, b in ((array, tensor), (tensor, array)):
        with pytest.raises(TypeError, match="two numpy arrays or two torch tensors"):
            inner(a, b)
    assert inner(array, array) == inner(tensor, tensor) == 5.0


def test_the_bregman_term_cancels_at_eta0_1e_minus_10():
    """Why the guard exists: after a first step of 1e-10 the computed Bregman term on mushrooms
    is rounding noise (its true value, ½ dᵀ∇²f d, is ~1e-21), so it can be negative."""
    problem = get_problem("logreg-mushrooms")
    x = problem.starting_point(0)
    fx, gx = problem.value_and_grad(x)
    z = x - 1e-10 * gx
    fz, gz = problem.value_and_grad(z)
    computed = fz - fx - gx @ (z - x)
    d = z - x
    true = 0.5 * d @ problem.hessian(x) @ d
    assert true < 1e-18
    assert abs(computed - true) > 10 * true  # the subtraction carries no information
    guarded = inverse_curvature(z, fz, gz, x, fx, gx)
    assert guarded == math.inf or guarded > 0


def test_acc_graal_from_eta0_1e_minus_10_has_positive_steps_and_converges():
    problem = get_problem("logreg-mushrooms")
    result = minimize(
        problem.value_and_grad,
        problem.starting_point(0),
        jac=True,
        method="acc-graal",
        eta0=1e-10,
        tol=1e-6,
        max_iter=3000,
    )
    assert result.success
    assert np.all(result.history["step"] > 0)


@pytest.fixture(scope="module")
def random_quadratic_slopes():
    """Evaluations-to-eps exponents on the ill-conditioned random quadratic (eps = relative
    suboptimality 1e-3 ... 1e-7, conventional start, each method's defaults)."""
    problem = get_problem("quadratic-random")
    levels = [1e-3, 1e-4, 1e-5, 1e-6, 1e-7]
    slopes = {}
    for method in ("acc-graal", "adanag", "nesterov", "adgd"):
        trace = run_solver(
            problem, method, problem.starting_point(0), max_njev=10_000, target=levels[-1]
        )
        slopes[method] = fitted_slope(levels, [evals_to_reach(trace, eps) for eps in levels])
    return slopes


def test_the_random_quadratic_separates_accelerated_from_gd_like(random_quadratic_slopes):
    """AdGD (2020) is the GD-like reference: its first adaptive step already measures the local
    curvature, so its fitted exponent has no warm-up from eta0 = 1e-10 in it."""
    slopes = random_quadratic_slopes
    assert slopes["nesterov"] < 0.6 * slopes["adgd"]


@pytest.mark.parametrize("method", ["acc-graal", "adanag"])
def test_has_the_accelerated_exponent(random_quadratic_slopes, method):
    """Verification of the transcriptions (neither paper's algorithm box could be read): the
    evaluations-to-eps exponent is Nesterov's (accelerated), about half of the GD-like methods'
    (see docs/convex.md for why the absolute exponents are not 1 and 1/2)."""
    slopes = random_quadratic_slopes
    assert slopes[method] < 0.6 * slopes["adgd"]
    assert abs(slopes[method] - slopes["nesterov"]) < 0.15


def test_adanag_step_grows_polynomially_and_acc_graal_geometrically():
    """The claim of Borodich & Kovalev, on the random quadratic from eta0 = 1e-10. AdaNAG's
    growth factor is (A_{k-1} + alpha_k tau_k)/A_k = (k+3)(k+3+m)/(k+4)² for k >= 1 (closed form
    for tau_k = (k+2+m)/m), i.e. about 1 + (m-2)/k: polynomial. Accelerated GRAAL may double
    (gamma = 1) every iteration and does while no curvature limits it: geometric."""
    problem = get_problem("quadratic-random")
    x0 = problem.starting_point(0)
    m = 12
    steps = {
        method: minimize(
            problem.value_and_grad, x0, jac=True, method=method, eta0=1e-10, tol=0.0, max_iter=60
        ).history["step"]
        for method in ("adanag", "acc-graal")
    }
    k = np.arange(1, 60)
    cap = (k + 3) * (k + 3 + m) / (k + 4) ** 2
    adanag = steps["adanag"][1:]  # s_0, s_1, ...: entry k is s_k
    assert np.all(adanag[2:] <= cap[: adanag.size - 2] * adanag[1:-1] * (1 + 1e-12))
    acc = steps["acc-graal"][1:]  # eta_0, eta_1, ...
    assert np.all(acc[1:21] == pytest.approx(2 * acc[:20], rel=1e-12))  # doubling, 20 times
    # AdaNAG's factor starts above 2 (2.4 at k = 0: degree-10 polynomial growth starts fast) but
    # falls below 1.5 by k = 20; by iteration 30 accelerated GRAAL's step is far ahead (275x)
    assert np.all(adanag[21:] / adanag[20:-1] < 1.5)
    assert acc[30] > 100 * adanag[30]


@pytest.mark.parametrize("problem_name", ["quadratic-random", "cosh", "quartic"])
@pytest.mark.parametrize("eta0", [1e-10, 1e4])
def test_acc_graal_coupling_weight_beta_stays_in_the_unit_interval(problem_name, eta0):
    """The paper's Lemma 1 (as quoted by its reviews): beta_k lies in (0, 1], so that xb is a
    convex combination. It follows from alpha_{k+1} = (1+gamma) eta_k / (H_k + (1+gamma) eta_k)
    and the cap eta_{k+1} <= (1 + gamma) eta_k, so a transcription error in either (e.g. H_k
    for H_{k+1} in beta) would show here."""
    problem = get_problem(problem_name)
    x0 = problem.starting_point(0)
    solver = AcceleratedGRAAL(Oracle(problem.value_and_grad, True, x0), x0, eta0=eta0)
    solver.start()
    for _ in range(300):
        solver.step()
        assert 0.0 < solver.beta <= 1.0 + 1e-12


def test_acc_graal_restarts_when_eta0_is_provably_above_one_over_L():
    """Λ >= 1/L for every L-smooth convex f, so lam_1 < eta0 proves eta0 L > 1 (outside the
    paper's Corollary 2); the safeguard restarts with eta0 = lam_1. From eta0 = 1e4 that costs
    a few evaluations instead of a 4x slower run."""
    problem = get_problem("quadratic-random")
    x0 = problem.starting_point(0)

    def evals(**options):
        trace = run_solver(problem, "acc-graal", x0, max_njev=6000, target=1e-6, options=options)
        assert trace.subopt[-1] <= 1e-6
        return trace.njev[-1]

    tiny, huge = evals(eta0=1e-10), evals(eta0=1e4)
    without = evals(eta0=1e4, restart_on_large_eta0=False)
    assert huge <= 1.2 * tiny
    assert without >= 2 * huge
