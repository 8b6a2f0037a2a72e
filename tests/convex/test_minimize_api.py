"""The minimize() contract: result fields, history, stopping, callbacks, torch inputs, errors."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from theoropt.convex import METHODS, minimize

OPTIONS = {"gd": {"L": 2.0}, "nesterov": {"L": 2.0}}


@pytest.mark.parametrize("method", list(METHODS))
def test_history_has_one_entry_per_iterate(small_quadratic, method):
    q = small_quadratic
    result = minimize(
        q.fun, np.zeros(3), q.jac, method=method, max_iter=25, tol=0.0, **OPTIONS.get(method, {})
    )
    lengths = {key: len(values) for key, values in result.history.items()}
    assert set(lengths) >= {"f", "grad_norm", "step", "njev", "time"}
    assert set(lengths.values()) == {result.nit + 1}
    assert np.all(np.diff(result.history["njev"]) >= 1)
    assert np.all(np.diff(result.history["time"]) >= 0)
    assert result.history["njev"][-1] == result.njev
    assert result.fun == pytest.approx(q.fun(result.x))
    steps = result.history["step"]
    assert np.all(np.isfinite(steps[1:])) and np.all(steps[1:] > 0)
    # iterate 0 reports eta0; AC-FGM's and AdGD2's defaults find their first stepsize by a line
    # search in iteration 1
    assert np.isnan(steps[0]) if method in ("ac-fgm", "adgd2") else steps[0] > 0


def test_tol_is_the_gradient_norm(small_quadratic):
    q = small_quadratic
    result = minimize(q.fun, np.zeros(3), q.jac, method="adgd", tol=1e-9)
    assert result.success and result.status == 0
    assert np.linalg.norm(q.jac(result.x)) <= 1e-9
    assert np.all(result.history["grad_norm"][:-1] > 1e-9)


def test_max_iter_and_callback_stop(small_quadratic):
    q = small_quadratic
    capped = minimize(q.fun, np.zeros(3), q.jac, method="gd", L=2.0, tol=0.0, max_iter=5)
    assert not capped.success and capped.nit == 5 and "max_iter" in capped.message

    seen = []

    def stop_after_three(intermediate_result):
        seen.append(intermediate_result.nit)
        return intermediate_result.nit == 3

    stopped = minimize(
        q.fun, np.zeros(3), q.jac, method="acc-graal", tol=0.0, callback=stop_after_three
    )
    assert stopped.nit == 3 and seen == [1, 2, 3] and stopped.status == 99

    def raise_stop(state):
        raise StopIteration

    assert minimize(q.fun, np.zeros(3), q.jac, method="adgd", callback=raise_stop).nit == 1


def test_callback_signatures_follow_scipy(small_quadratic):
    """scipy's rule: only a callback whose sole parameter is ``intermediate_result`` gets the
    OptimizeResult; any other gets a copy of xk. Like scipy, it is also called at the
    iteration that converges, so a trace gathered by it ends at ``result.x``."""
    q = small_quadratic
    points, states = [], []

    def old_style(xk):
        points.append(xk)
        xk[:] = np.nan  # a copy: the run must not notice

    def new_style(intermediate_result):
        states.append(intermediate_result)

    for callback in (old_style, new_style):
        result = minimize(q.fun, np.zeros(3), q.jac, method="adgd", tol=1e-9, callback=callback)
        assert result.success and np.all(np.isfinite(result.x))
    assert len(points) == len(states) == result.nit
    assert all(type(xk) is np.ndarray and xk.shape == (3,) for xk in points)
    assert [s.nit for s in states] == list(range(1, result.nit + 1))
    np.testing.assert_array_equal(states[-1].x, result.x)
    assert states[-1].fun == result.fun and states[-1].grad_norm <= 1e-9
    reference = [list(s.x) for s in states]
    traced = []
    minimize(q.fun, np.zeros(3), q.jac, method="adgd", tol=1e-9, callback=traced.append)
    assert [list(xk) for xk in traced] == reference


def test_args_are_passed_after_the_point_as_in_scipy(small_quadratic):
    q = small_quadratic

    def fun(x, shift, scale):
        return scale * q.fun(x - shift)

    def jac(x, shift, scale):
        return scale * q.jac(x - shift)

    shift = np.array([1.0, 2.0, 3.0])
    plain = minimize(fun, np.zeros(3), jac, method="adgd", tol=1e-10, args=(shift, 2.0))
    pair = minimize(
        lambda x, *a: (fun(x, *a), jac(x, *a)), np.zeros(3), True, args=(shift, 2.0), tol=1e-10
    )
    for result in (plain, pair):
        assert result.success
        np.testing.assert_allclose(result.x, q.x_star + shift, atol=1e-9)
    single = minimize(lambda x, c: ((x - c) ** 2).sum(), torch.zeros(2), args=3.0, tol=1e-5)
    torch.testing.assert_close(single.x, torch.full((2,), 3.0))


def test_jac_true_means_fun_returns_the_pair(small_quadratic):
    q = small_quadratic
    pair = minimize(lambda x: (q.fun(x), q.jac(x)), np.zeros(3), jac=True, method="adgd")
    np.testing.assert_allclose(pair.x, q.x_star, atol=1e-8)


def test_non_finite_values_stop_with_the_iteration_named():
    calls = {"n": 0}

    def fun(x):
        calls["n"] += 1
        return float(x @ x) if calls["n"] < 4 else float("nan")

    result = minimize(fun, np.ones(2), lambda x: 2 * x, method="gd", L=4.0, tol=0.0)
    assert not result.success and result.status == 2
    assert "iteration 3" in result.message and "non-finite" in result.message
    assert result.nit == 2 and np.isfinite(result.fun) and len(result.history["f"]) == 3
    at_start = minimize(lambda x: float("inf"), np.ones(2), lambda x: x, method="adgd")
    assert not at_start.success and "starting point" in at_start.message


def test_torch_autograd_matches_numpy(small_quadratic):
    q = small_quadratic
    a, b = torch.tensor(q.a), torch.tensor(q.b)
    result = minimize(
        lambda x: 0.5 * (a * x * x).sum() - b @ x,
        torch.zeros(3, dtype=torch.float64),
        method="acc-graal",
        tol=1e-10,
    )
    assert isinstance(result.x, torch.Tensor) and result.x.dtype == torch.float64
    np.testing.assert_allclose(result.x.numpy(), q.x_star, atol=1e-9)
    single = minimize(lambda x: ((x - 1) ** 2).sum(), torch.zeros(4), method="adgd", tol=1e-5)
    assert single.x.dtype == torch.float32 and single.success


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_tensors_stay_on_the_device():
    target = torch.arange(5.0, device="cuda", dtype=torch.float64)
    result = minimize(
        lambda x: ((x - target) ** 2).sum(),
        torch.zeros(5, device="cuda", dtype=torch.float64),
        method="acc-graal",
        tol=1e-10,
    )
    assert result.x.device.type == "cuda" and result.success
    torch.testing.assert_close(result.x, target, atol=1e-9, rtol=0)


def quad(x):
    return float(x @ x)


def grad(x):
    return 2 * x


@pytest.mark.parametrize(
    ("kwargs", "error", "words"),
    [
        ({"x0": np.ones(3), "jac": lambda x: np.ones(2)}, ValueError, "shape (2,)"),
        ({"fun": "not callable"}, TypeError, "fun must be callable"),
        ({"jac": 3}, TypeError, "jac must be"),
        ({"jac": None}, ValueError, "jac is required"),
        ({"x0": sp.csr_matrix(np.ones((1, 3)))}, TypeError, "sparse"),
        ({"x0": np.ones(3) + 1j}, TypeError, "complex"),
        ({"x0": np.array([1.0, np.nan])}, ValueError, "NaN"),
        ({"x0": np.float64(1.0)}, ValueError, "at least one dimension"),
        ({"method": "newton"}, ValueError, "unknown method"),
        ({"method": "gd"}, TypeError, "needs option(s) L"),
        ({"method": "gd", "L": -1.0}, ValueError, "L must be a finite positive"),
        ({"method": "nesterov", "L": 1.0, "mu": 2.0}, ValueError, "mu must not exceed L"),
        ({"method": "adgd", "lr": 0.1}, TypeError, "does not take option(s) lr"),
        ({"eta0": 0.0}, ValueError, "eta0"),
        ({"theta": -0.5}, ValueError, "theta"),
        ({"gamma": float("nan")}, ValueError, "gamma"),
        ({"theta": 0.5, "gamma": 1.0, "nu": 0.3}, ValueError, "4*nu*theta*(1+gamma)**2 = gamma"),
        ({"method": "graal", "phi": 2.0}, ValueError, "phi must lie in"),
        ({"method": "ac-fgm", "beta": 1.0}, ValueError, "beta must lie in (0, 1)"),
        ({"method": "ac-fgm", "alpha": 1.5}, ValueError, "alpha must lie in [0, 1]"),
        ({"method": "adanag", "m": 2.0}, ValueError, "m must be > 2"),
        ({"method": "adgd2", "eta0": -1.0}, ValueError, "eta0"),
        ({"tol": -1.0}, ValueError, "tol"),
        ({"max_iter": 0}, ValueError, "max_iter"),
        ({"callback": 5}, TypeError, "callback must be callable"),
        ({"bounds": [(0, 1)] * 3}, TypeError, "does not take bounds=: theoropt.convex solves"),
        ({"constraints": ()}, TypeError, "does not take constraints=: theoropt.convex solves"),
        ({"hess": lambda x: np.eye(3)}, TypeError, "does not take hess=: the methods are first"),
        ({"options": {"maxiter": 5}}, TypeError, "does not take options=: pass max_iter="),
    ],
)
def test_invalid_inputs_raise_clear_errors(kwargs, error, words):
    call = {"fun": quad, "x0": np.ones(3), "jac": grad, "method": "acc-graal", **kwargs}
    with pytest.raises(error) as info:
        minimize(**call)
    assert words in str(info.value)


def test_non_scalar_objective_and_wrong_gradient_type():
    with pytest.raises(ValueError, match="scalar"):
        minimize(lambda x: x, np.ones(3), grad, method="adgd")
    with pytest.raises(TypeError, match="torch tensor"):
        minimize(quad, np.ones(3), lambda x: torch.ones(3), method="adgd")
    with pytest.raises(ValueError, match="does not depend on x"):
        minimize(lambda x: torch.tensor(1.0), torch.ones(3), method="adgd")


def test_matrix_shaped_variables():
    target = np.arange(6.0).reshape(2, 3)
    result = minimize(
        lambda x: float(np.sum((x - target) ** 2)),
        np.zeros((2, 3)),
        lambda x: 2 * (x - target),
        method="acc-graal",
        tol=1e-10,
    )
    assert result.success and result.x.shape == (2, 3)
    np.testing.assert_allclose(result.x, target, atol=1e-10)


@pytest.mark.parametrize("method", ["adgd", "adgd2", "ac-fgm", "adanag", "acc-graal"])
def test_callables_receive_a_copy_of_the_iterate(small_quadratic, method):
    """scipy's convention: a jac (or fun) that scribbles on its argument cannot change the run.
    The reference run uses well-behaved callables; the vandal runs must match it exactly."""
    q = small_quadratic

    def vandal_fun(x):
        value = q.fun(x)
        x[:] = 1e6
        return value

    def vandal_jac(x):
        gradient = q.jac(x)
        x *= -3.0
        return gradient

    def vandal_pair(x):
        pair = q.fun(x), q.jac(x)
        x.fill(np.nan)
        return pair

    options = {"method": method, "tol": 0.0, "max_iter": 40, "eta0": 0.1}
    reference = minimize(q.fun, np.zeros(3), q.jac, **options)
    for fun, jac in ((vandal_fun, vandal_jac), (vandal_pair, True)):
        result = minimize(fun, np.zeros(3), jac, **options)
        np.testing.assert_array_equal(result.x, reference.x)
        np.testing.assert_array_equal(result.history["f"], reference.history["f"])


def test_torch_fun_modifying_its_argument_does_not_corrupt_the_run():
    target = torch.arange(3.0, dtype=torch.float64)

    def vandal(x):
        value = ((x - target) ** 2).sum()
        with torch.no_grad():
            x.add_(100.0)
        return value

    result = minimize(vandal, torch.zeros(3, dtype=torch.float64), method="adgd", tol=1e-10)
    assert result.success
    torch.testing.assert_close(result.x, target, atol=1e-9, rtol=0)


UNBOUNDED_METHODS = ["gd", "adgd", "adgd2", "graal", "ac-fgm", "adanag", "acc-graal"]


def run_unbounded(method, fun, jac, x0, **options):
    if not options:
        options = {"L": 2.0} if method == "gd" else {"eta0": 1.0}
    with np.errstate(over="ignore", invalid="ignore"):
        return minimize(fun, x0, jac, method=method, max_iter=5000, **options)


@pytest.mark.parametrize("method", UNBOUNDED_METHODS)
def test_unbounded_objective_ends_with_a_clear_status(method):
    """f(x) = -x² has no minimum: every method's iterate runs off until f overflows to -inf
    (x² > 1.8e308 while the gradient -2x is still finite). The run must say so (status 3),
    not report max_iter at f = -1.8e308 or a divergence."""
    result = run_unbounded(method, lambda x: float(-x @ x), lambda x: -2 * x, np.ones(1))
    assert result.status == 3 and not result.success
    assert "unbounded below" in result.message and "iteration" in result.message
    assert np.isfinite(result.fun) and np.all(np.isfinite(result.x))


def test_unbounded_linear_objective_with_accelerated_graal():
    """The case reported in issue 16: on the convex f(x) = -sum(x), from its default eta0,
    accelerated GRAAL's step grows geometrically until f overflows; its overflow safeguard used
    to restart forever and end with 'max_iter reached' at f = -1.8e308."""
    result = run_unbounded(
        "acc-graal", lambda x: float(-np.sum(x)), lambda x: -np.ones(3), np.zeros(3), eta0=1e-10
    )
    assert result.status == 3 and "unbounded below" in result.message


@pytest.mark.parametrize("method", UNBOUNDED_METHODS)
def test_overflowing_gradient_differences_end_with_a_status(method):
    """With f = -exp(x1) - exp(x2) the norm of a gradient difference can overflow while every
    entry is finite (AdGD's local step then underflows to 0): a status, never an exception."""
    result = run_unbounded(
        method, lambda x: float(-np.sum(np.exp(x))), lambda x: -np.exp(x), np.zeros(2)
    )
    assert result.status in (2, 3) and not result.success


def test_none_from_fun_or_jac_is_a_clear_error():
    with pytest.raises(TypeError, match="fun returned None"):
        minimize(lambda x: None, np.ones(3), grad, method="adgd")
    with pytest.raises(TypeError, match="fun returned None"):
        minimize(lambda x: (None, 2 * x), np.ones(3), jac=True, method="adgd")
    with pytest.raises(TypeError, match="jac returned None"):
        minimize(quad, np.ones(3), lambda x: None, method="adgd")


@pytest.mark.parametrize("method", ["adgd", "adgd2", "adaptive-graal", "acc-graal"])
@pytest.mark.parametrize(("dim", "slope"), [(1, 1.0), (2, 1.0), (2, 1e-3), (5, 1e3)])
def test_unbounded_linear_objectives_from_the_default_start(method, dim, slope):
    """f(x) = -slope <c, x> from each method's default first step: the steps of these methods
    grow without curvature, so the run ends by overflow. It must say "unbounded" (status 3)
    however it breaks down: f = -inf, AdGD2's lam² beyond the float range (an OverflowError
    before), accelerated GRAAL's step at f = -1e308 or -2.5e301 (status 2 before)."""
    c = np.linspace(0.5, 1.5, dim)
    with np.errstate(over="ignore", invalid="ignore"):
        result = minimize(
            lambda x: float(-slope * (c @ x)), np.zeros(dim), lambda x: -slope * c,
            method=method, max_iter=20_000,
        )  # fmt: skip
    assert result.status == 3 and not result.success, result.message
    assert "unbounded below" in result.message
    assert np.isfinite(result.fun) and result.fun < -1e154


@pytest.mark.parametrize(
    ("x0", "shift"),
    [(torch.ones(4), 2.0), (np.full(3, 1e8), 1.0)],
    ids=["float32-tensor-at-1", "float64-at-1e8"],
)
def test_adgd_is_not_frozen_when_eta0_does_not_move_x0(x0, shift):
    """From eta0 = 1e-10, x_1 = x_0 when the step is below the float resolution of x_0 (float32
    entries near 1, float64 entries near 1e8): no curvature is seen. AdGD used to keep its step
    and theta = +inf forever and ended at x_0 with 'max_iter' (f unchanged); keeping the step
    makes theta 1, so the step grows until x moves. The minimiser is x_0 + shift."""
    if isinstance(x0, torch.Tensor):
        result = minimize(lambda x: ((x - 1 - shift) ** 2).sum(), x0, method="adgd", tol=1e-4)
        moved = (result.x - x0).abs().max().item()
    else:
        target = x0 + shift
        result = minimize(
            lambda x: float(np.sum((x - target) ** 2)), x0, lambda x: 2 * (x - target),
            method="adgd", tol=1e-6,
        )  # fmt: skip
        moved = float(np.max(np.abs(result.x - x0)))
    assert result.success, result.message
    assert moved == pytest.approx(shift, rel=1e-3)
    assert result.history["step"][1] == 1e-10 and result.history["step"][-1] > 1e-3


def test_a_breakdown_at_moderate_f_stays_a_divergence():
    """The unbounded verdict needs f below -sqrt(largest float): a run that breaks down with
    f near its start (a gradient 1e155 times the objective's slope) is reported as diverged."""
    with np.errstate(over="ignore"):
        result = minimize(
            lambda x: float(1e155 * np.abs(x - 0.3).sum()), np.zeros(2),
            lambda x: 1e155 * np.sign(x - 0.3), method="acc-graal",
        )  # fmt: skip
    assert result.status == 2 and "diverged" in result.message
