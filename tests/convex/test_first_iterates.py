"""Each method's first iterates on a diagonal quadratic, against the recursions written out by
hand in the test (numpy arithmetic, not the solver code)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from theoropt.convex import minimize


def run(problem, method, iterations, **options):
    return minimize(
        problem.fun,
        np.zeros(3),
        problem.jac,
        method=method,
        tol=0.0,
        max_iter=iterations,
        **options,
    )


def test_gd_first_iterates(small_quadratic):
    q = small_quadratic
    x = np.zeros(3)
    for _ in range(3):
        x = x - (q.a * x - q.b) / q.L
    result = run(q, "gd", 3, L=q.L)
    np.testing.assert_allclose(result.x, x, rtol=1e-14)
    assert result.njev == 4 and result.nit == 3


def test_nesterov_first_iterates(small_quadratic):
    q = small_quadratic
    g = q.jac
    x0 = np.zeros(3)
    x1 = x0 - g(x0) / q.L  # t_0 = 1, so y_1 = x_1
    t1 = (1 + math.sqrt(5)) / 2
    x2 = x1 - g(x1) / q.L
    t2 = (1 + math.sqrt(1 + 4 * t1**2)) / 2
    y2 = x2 + (t1 - 1) / t2 * (x2 - x1)
    x3 = y2 - g(y2) / q.L
    result = run(q, "nesterov", 3, L=q.L)
    np.testing.assert_allclose(result.x, x3, rtol=1e-14)
    assert result.njev == 4  # gradients at y_0, y_1, y_2, y_3


def test_nesterov_strongly_convex_momentum(small_quadratic):
    q = small_quadratic
    g = q.jac
    momentum = (math.sqrt(q.L) - math.sqrt(q.mu)) / (math.sqrt(q.L) + math.sqrt(q.mu))
    x0 = np.zeros(3)
    x1 = x0 - g(x0) / q.L
    y1 = x1 + momentum * (x1 - x0)
    x2 = y1 - g(y1) / q.L
    result = run(q, "nesterov", 2, L=q.L, mu=q.mu)
    np.testing.assert_allclose(result.x, x2, rtol=1e-14)


def test_adgd_first_iterates(small_quadratic):
    q = small_quadratic
    g = q.jac
    eta0 = 0.1
    x0 = np.zeros(3)
    x1 = x0 - eta0 * g(x0)
    lam1 = np.linalg.norm(x1 - x0) / (2 * np.linalg.norm(g(x1) - g(x0)))  # theta_0 = inf
    x2 = x1 - lam1 * g(x1)
    lam2 = min(
        math.sqrt(1 + lam1 / eta0) * lam1,
        np.linalg.norm(x2 - x1) / (2 * np.linalg.norm(g(x2) - g(x1))),
    )
    x3 = x2 - lam2 * g(x2)
    result = run(q, "adgd", 3, eta0=eta0)
    np.testing.assert_allclose(result.x, x3, rtol=1e-13)
    np.testing.assert_allclose(result.history["step"], [eta0, eta0, lam1, lam2], rtol=1e-13)


def test_graal_first_iterates(small_quadratic):
    q = small_quadratic
    g = q.jac
    eta0, phi = 0.1, 1.5
    rho = 1 / phi + 1 / phi**2
    z0 = np.zeros(3)
    z1 = z0 - eta0 * g(z0)
    zbar1 = ((phi - 1) * z1 + z1) / phi  # zbar_0 = z_1
    local = phi * 1.0 / (4 * eta0) * np.sum((z1 - z0) ** 2) / np.sum((g(z1) - g(z0)) ** 2)
    lam1 = min(rho * eta0, local)
    z2 = zbar1 - lam1 * g(z1)
    theta1 = phi * lam1 / eta0
    zbar2 = ((phi - 1) * z2 + zbar1) / phi
    local = phi * theta1 / (4 * lam1) * np.sum((z2 - z1) ** 2) / np.sum((g(z2) - g(z1)) ** 2)
    lam2 = min(rho * lam1, local)
    z3 = zbar2 - lam2 * g(z2)
    result = run(q, "graal", 3, eta0=eta0, phi=phi)
    np.testing.assert_allclose(result.x, z3, rtol=1e-13)  # iteration k reports z_k
    np.testing.assert_allclose(result.history["step"][1:], [lam1, lam2, result.history["step"][3]])
    capped = run(q, "graal", 3, eta0=eta0, phi=phi, lam_max=0.05)
    assert max(capped.history["step"][1:]) <= 0.05


@pytest.mark.parametrize("beta", [1 - math.sqrt(6) / 3, 0.184])  # our default, the authors'
def test_acfgm_first_iterates(small_quadratic, beta):
    q = small_quadratic
    g, f = q.jac, q.fun
    eta1, alpha = 0.1, 0.1

    def smoothness(x, z):  # 1/Λ(x; z) = ||g(x) - g(z)||² / (2 B_f(x; z))
        return np.sum((g(x) - g(z)) ** 2) / (2 * (f(x) - f(z) - g(z) @ (x - z)))

    x0 = y = np.zeros(3)
    x1 = x0 - eta1 * g(x0)  # z_1 = x_1, y_1 = y_0
    L1 = smoothness(x0, x1)
    eta2 = min((1 - beta) * eta1, 1 / (4 * L1))
    tau2 = 1 + alpha / 2 + 2 * (1 - alpha) * eta2 * L1  # from tau_1 = 1
    z = y - eta2 * g(x1)
    y = (1 - beta) * y + beta * z
    x2 = (z + tau2 * x1) / (1 + tau2)
    L2 = smoothness(x1, x2)
    eta3 = min(4 / 3 * eta2, (1 + 1) / tau2 * eta2, tau2 / (4 * L2))
    tau3 = tau2 + alpha / 2 + 2 * (1 - alpha) * eta3 * L2 / tau2
    z = y - eta3 * g(x2)
    x3 = (z + tau3 * x2) / (1 + tau3)
    result = run(q, "ac-fgm", 3, eta0=eta1, beta=beta)
    np.testing.assert_allclose(result.x, x3, rtol=1e-13)
    np.testing.assert_allclose(result.history["step"][1:], [eta1, eta2, eta3], rtol=1e-13)


def test_acfgm_initial_line_search(small_quadratic):
    q = small_quadratic
    g = q.jac
    x0 = np.zeros(3)
    probe = x0 - 1e-3 * g(x0) / np.linalg.norm(g(x0))  # distance 1e-3 max(1, ||x0||)
    L0 = np.linalg.norm(g(probe) - g(x0)) / 1e-3
    evaluations = 2  # x0 and the probe
    for trial in range(200):
        L = 1.5**trial * L0 / 4
        x1 = x0 - g(x0) / (2.5 * L)
        evaluations += 1
        if np.linalg.norm(g(x1) - g(x0)) <= L * np.linalg.norm(x1 - x0):
            break
    result = run(q, "ac-fgm", 1)
    np.testing.assert_allclose(result.x, x1, rtol=1e-13)
    assert result.history["step"][1] == pytest.approx(1 / (2.5 * L), rel=1e-13)
    assert result.njev == evaluations
    # on a quadratic the ratio along -g(x0) is the same at every distance, so the first trial
    # with 1.5**i / 4 >= 1 is accepted
    assert trial == 4


def test_acc_graal_first_iterates(small_quadratic):
    q = small_quadratic
    g, f = q.jac, q.fun
    eta0, theta, gamma = 0.5, 0.5, 1.0
    nu = gamma / (4 * theta * (1 + gamma) ** 2)

    def curvature(x, z):  # Λ(x; z) = 2 B_f(x; z) / ||g(x) - g(z)||²
        gap = np.sum((g(x) - g(z)) ** 2)
        return math.inf if gap == 0 else 2 * (f(x) - f(z) - g(z) @ (x - z)) / gap

    x0 = np.zeros(3)
    # iteration 0 -> 1 (alpha_0 = beta_0 = 1, H_0 = H_-1 = eta_-1 = eta_0)
    alpha1 = (1 + gamma) * eta0 / (eta0 + (1 + gamma) * eta0)
    x1 = x0 - eta0 * g(x0)
    xb1 = x0
    xt1 = alpha1 * (x1 + theta * (x1 - x0)) + (1 - alpha1) * xb1
    lam1 = min(curvature(xb1, x0), curvature(xb1, xt1))
    eta1 = min((1 + gamma) * eta0, nu * eta0 * lam1 / eta0)
    H1 = eta0 + eta1
    beta1 = eta1 / (alpha1 * H1)
    # iteration 1 -> 2
    alpha2 = (1 + gamma) * eta1 / (H1 + (1 + gamma) * eta1)
    x2 = x1 - eta1 * g(xt1)
    xb2 = beta1 * xt1 + (1 - beta1) * xb1
    xt2 = alpha2 * (x2 + theta * (x2 - x1)) + (1 - alpha2) * xb2
    lam2 = min(curvature(xb2, xt1), curvature(xb2, xt2))
    eta2 = min((1 + gamma) * eta1, nu * eta0 * lam2 / eta0)  # H_0 = eta_0
    result = run(q, "acc-graal", 2, eta0=eta0, theta=theta, gamma=gamma)
    np.testing.assert_allclose(result.x, xb2, rtol=1e-13)
    np.testing.assert_allclose(result.history["step"], [eta0, eta0, eta1], rtol=1e-13)
    assert result.njev == 1 + 1 + 2  # x0; xt1 (xb1 = x0 reused); xb2 and xt2
    assert eta2 > 0


def test_acfgm_line_search_survives_overflowing_trials():
    """A trial point where f overflows fails the line-search test (as in the reference code)
    instead of ending the run. f = x²/2 + exp(800 (-x - 5)) is flat near x0 = 10 (the probe
    sees L ≈ 1), so the first trial, eta = 1/(2.5 * 0.25) = 1.6, lands at x = -6 where the
    exponential overflows; the next trials are accepted."""
    fun = lambda x: float(0.5 * x[0] ** 2 + np.exp(800 * (-x[0] - 5)))  # noqa: E731
    jac = lambda x: np.array([x[0] - 800 * np.exp(800 * (-x[0] - 5))])  # noqa: E731
    with np.errstate(over="ignore"):
        assert not np.isfinite(fun(np.array([-6.0])))
        result = minimize(fun, np.array([10.0]), jac, method="ac-fgm", tol=1e-8, max_iter=500)
    assert result.success, result.message
    assert abs(result.x[0]) < 1e-7


def test_adanag_first_iterates(small_quadratic):
    """AdaNAG's recursion (module docstring) written out with m = 12: tau_k = (k + 14)/12,
    alpha_k = (tau_{k+1} - 1)²/(2 tau_k²), A_k and B_k from their definitions."""
    q = small_quadratic
    g, f = q.jac, q.fun
    eta0, m = 0.3, 12.0
    tau = lambda k: (k + 2 + m) / m  # noqa: E731
    alpha = lambda k: (tau(k + 1) - 1) ** 2 / (2 * tau(k) ** 2)  # noqa: E731
    big_a = lambda k: 0.0 if k == -1 else alpha(k + 1) * tau(k + 1) * (tau(k + 1) - 1)  # noqa: E731

    def big_b(k):
        return (
            alpha(k) ** 2 * tau(k) ** 2 * ((tau(k) - 1) ** 2 / (alpha(k - 1) * tau(k - 1) ** 2) - 1)
        )

    def curvature(x, z):  # Λ(x; z) = 2 B_f(x; z) / ||g(x) - g(z)||²
        return 2 * (f(x) - f(z) - g(z) @ (x - z)) / np.sum((g(x) - g(z)) ** 2)

    x = z = np.zeros(3)
    s, steps = eta0, []
    for k in range(3):
        steps.append(s)
        y = x - s * g(x)
        z = z - s * alpha(k) * tau(k) * g(x)
        x_next = (1 - 1 / tau(k + 1)) * y + z / tau(k + 1)
        weight = big_a(k) / big_b(k) + (big_b(k + 1) + alpha(k + 1) ** 2 * tau(k + 1) ** 2) / big_a(
            k
        )
        s = min((big_a(k - 1) + alpha(k) * tau(k)) / big_a(k) * s, curvature(x, x_next) / weight)
        x = x_next
    result = run(q, "adanag", 3, eta0=eta0)
    np.testing.assert_allclose(result.x, x, rtol=1e-13)
    np.testing.assert_allclose(result.history["step"], [eta0, *steps], rtol=1e-13)
    assert result.njev == 4  # one evaluation per iteration, at x_k
    assert big_b(1) == pytest.approx(alpha(1) ** 2 * tau(1) ** 2)  # B_k = alpha_k² tau_k² here


def test_adgd2_first_iterates(small_quadratic):
    q = small_quadratic
    g = q.jac
    lam0 = 0.1
    x0 = np.zeros(3)
    x1 = x0 - lam0 * g(x0)

    def next_step(lam, theta, x, x_prev):
        smoothness = np.linalg.norm(g(x) - g(x_prev)) / np.linalg.norm(x - x_prev)
        excess = 2 * lam**2 * smoothness**2 - 1
        bound = lam / math.sqrt(excess) if excess > 0 else math.inf
        return min(math.sqrt(2 / 3 + theta) * lam, bound)

    lam1 = next_step(lam0, 1 / 3, x1, x0)
    x2 = x1 - lam1 * g(x1)
    lam2 = next_step(lam1, lam1 / lam0, x2, x1)
    x3 = x2 - lam2 * g(x2)
    result = run(q, "adgd2", 3, eta0=lam0)
    np.testing.assert_allclose(result.x, x3, rtol=1e-13)
    np.testing.assert_allclose(result.history["step"], [lam0, lam0, lam1, lam2], rtol=1e-13)
    # theta_0 = 1/3, so the first growth factor is sqrt(2/3 + 1/3) = 1: lam_1 <= lam_0
    assert lam1 <= lam0


def test_adgd2_initial_line_search(small_quadratic):
    """The authors' initial search from lam = 1e-2 on a quadratic with L = 2 (along -g(x0) the
    ratio ||Δg||/||Δx|| does not depend on lam): x10 while lam L <= 2 (1e-2, 0.1, 1 are
    accepted), lam = 10 is rejected, then halving to 5, 2.5 (rejected) and 1.25 (accepted)."""
    q = small_quadratic
    g = q.jac
    x0 = np.zeros(3)
    ratio = lambda lam: np.linalg.norm(g(x0 - lam * g(x0)) - g(x0)) / (lam * np.linalg.norm(g(x0)))  # noqa: E731
    trials = [1e-2, 0.1, 1.0, 10.0, 5.0, 2.5, 1.25]
    assert [lam * ratio(lam) <= 2 for lam in trials] == [
        True,
        True,
        True,
        False,
        False,
        False,
        True,
    ]
    result = run(q, "adgd2", 1)  # the default start
    np.testing.assert_allclose(result.x, x0 - 1.25 * g(x0), rtol=1e-13)
    assert result.history["step"][1] == 1.25
    assert np.isnan(result.history["step"][0])
    assert result.njev == 1 + len(trials)
