"""Edge inputs a POT user may pass: array layouts, mixed numpy/torch inputs, unreadable values,
warm starts of the wrong shape, costs far from zero. References are POT's plans, plans computed
from the returned potentials, or the same call on a plain copy of the input."""

from __future__ import annotations

import warnings

import numpy as np
import ot
import pytest
import torch

from theoropt.ot import (
    EBiEOT,
    SinkhornConvergenceWarning,
    sinkhorn,
    sinkhorn2,
    sinkhorn_divergence,
    sinkhorn_points,
)

REG = 0.1


def random_problem(n: int = 6, m: int = 5, seed: int = 0):
    rng = np.random.default_rng(seed)
    a, b = rng.random(n) + 0.5, rng.random(m) + 0.5
    return a / a.sum(), b / b.sum(), rng.random((n, m))


def pot_plan(a, b, M, reg: float = REG) -> np.ndarray:
    return ot.sinkhorn(a, b, M, reg, method="sinkhorn_log", stopThr=1e-14, numItermax=10**5)


def test_reversed_numpy_views_are_read_like_copies() -> None:
    """``M[::-1]`` has a negative stride, which torch cannot wrap: every entry point raised
    torch's "negative strides are not currently supported" instead of solving."""
    a, b, M = random_problem()
    plan = sinkhorn(a[::-1], b, M[::-1], REG, tol=1e-12)
    np.testing.assert_allclose(plan, pot_plan(a, b, M)[::-1], atol=1e-11)
    x, y = np.random.default_rng(1).normal(size=(2, 6, 2))
    lazy = sinkhorn(None, None, (x[::-1], y[:, ::-1]), 0.5, cost="sqeuclidean", tol=1e-12)
    reference = pot_plan(np.full(6, 1 / 6), np.full(6, 1 / 6), ot.dist(x[::-1], y[:, ::-1]), 0.5)
    np.testing.assert_allclose(lazy.to_dense(), reference, atol=1e-11)
    model = EBiEOT(steps=2, n_potentials=3, n_costs=2, batch_size=4, progress=False)
    model.fit(x[::-1], y[::-1, :1])
    np.testing.assert_array_equal(
        model.log_prob(y[::-1, :1], x[::-1]), model.log_prob(y[:, :1], x)[::-1]
    )


@pytest.mark.parametrize(
    ("change", "error", "match"),
    [
        ({"M": [["0.1", "0.2"], ["0.3", "0.4"]]}, TypeError, "M could not be read"),
        ({"M": [[0.1, 0.2], [0.3]]}, ValueError, "M could not be read"),
        ({"a": ["half", "half"]}, TypeError, "a could not be read"),
        ({"reg": "0.1"}, TypeError, "reg must be a real number"),
        ({"reg": None}, TypeError, "reg must be a real number"),
        ({"reg": [0.1]}, TypeError, "reg must be a real number"),
        ({"reg": np.array([0.1])}, TypeError, "reg must be a real number"),
        ({"reg": 0.1 + 0j}, TypeError, "reg must be a real number"),
        ({"reg": True}, TypeError, "reg must be a real number"),
        ({"tol": "1e-9"}, TypeError, "tol must be a real number"),
        ({"max_iter": "100"}, TypeError, "max_iter must be a real number"),
        ({"max_iter": None, "numItermax": 10.5}, ValueError, "max_iter must be a positive integer"),
    ],
)
def test_unreadable_inputs_are_named(change: dict, error: type, match: str) -> None:
    """Strings, ragged lists, ``None`` or sequences for a number raised numpy's, torch's or
    ``float()``'s own message, naming nothing (``reg="0.1"`` was even accepted as 0.1)."""
    call = {"a": [0.5, 0.5], "b": [0.5, 0.5], "M": [[0.1, 0.2], [0.3, 0.4]], "reg": REG}
    call.update(change)
    with pytest.raises(error, match=match):
        sinkhorn(**call)


def test_point_cloud_paths_name_their_numbers_too() -> None:
    x, y = np.random.default_rng(3).normal(size=(2, 4, 2))
    with pytest.raises(TypeError, match="tol must be a real number"):
        sinkhorn_divergence(x, y, REG, tol="1e-9")
    with pytest.raises(TypeError, match="max_iter must be a real number"):
        sinkhorn_points(x, y, REG, max_iter="100")


def test_numbers_of_any_kind_still_work() -> None:
    """numpy scalars, 0-d arrays and 0-d tensors (float32 ones round reg to float32)."""
    a, b, M = random_problem()
    expected = sinkhorn(a, b, M, REG, tol=1e-12, max_iter=500)
    for reg, tol, max_iter in (
        (np.float32(REG), np.float64(1e-12), np.int64(500)),
        (torch.tensor(REG), torch.tensor(1e-12), torch.tensor(500)),
        (np.array(REG), np.array(1e-12), 500.0),
    ):
        plan = sinkhorn(a, b, M, reg, tol=tol, max_iter=max_iter)
        np.testing.assert_allclose(plan, expected, rtol=1e-6)


@pytest.mark.parametrize("ratio", [1.0, 2.0, "half"])
def test_epsilon_scaling_ratio_is_checked_on_every_path(ratio) -> None:
    """``sinkhorn_divergence`` and ``sinkhorn_points`` passed ``eps_scaling`` to the schedule
    unchecked: a ratio >= 1 never brought ``reg_k`` down to ``reg`` and the call hung."""
    x, y = np.random.default_rng(2).normal(size=(2, 5, 2))
    error = TypeError if isinstance(ratio, str) else ValueError
    calls = (
        lambda: sinkhorn_divergence(x, y, REG, eps_scaling=ratio),
        lambda: sinkhorn_points(x, y, REG, eps_scaling=ratio),
        lambda: sinkhorn2(None, None, (x, y), REG, cost="sqeuclidean", eps_scaling=ratio),
        lambda: sinkhorn(None, None, ot.dist(x, y), REG, eps_scaling=ratio),
    )
    for call in calls:
        with pytest.raises(error, match="eps_scaling"):
            call()


def test_warm_starts_for_another_number_of_problems_are_named() -> None:
    """A 2-D ``log_u`` whose rows did not match the problems raised torch's "The expanded size
    of the tensor (1) must match the existing size (2)"; one row per problem still works."""
    a, b, M = random_problem()
    plan, log = sinkhorn(a, b, M, REG, log=True, tol=1e-12)
    two_rows = (np.stack([log["log_u"]] * 2), log["log_v"])
    x, y = np.random.default_rng(4).normal(size=(2, 6, 2))
    for call in (
        lambda: sinkhorn(a, b, M, REG, warmstart=two_rows),
        lambda: sinkhorn(a, b, np.stack([M] * 3), REG, warmstart=two_rows),
        lambda: sinkhorn_points(x, y, REG, warmstart=two_rows),
    ):
        with pytest.raises(ValueError, match="warmstart log_u holds 2 problems"):
            call()
    one_row = (log["log_u"][None], log["log_v"][None])
    np.testing.assert_allclose(
        sinkhorn(a, b, M, REG, warmstart=one_row, tol=1e-12), plan, atol=1e-12
    )
    batch = sinkhorn(a, b, np.stack([M, M]), REG, warmstart=two_rows, tol=1e-12)
    np.testing.assert_allclose(batch, np.stack([plan, plan]), atol=1e-12)


def test_a_gradient_is_never_dropped_for_a_numpy_cost() -> None:
    """The result takes the kind of ``M`` (``x`` for clouds): with a numpy ``M`` and a tensor
    ``a`` that requires grad, ``sinkhorn2`` returned a numpy float and the gradient was lost
    without a word. Now an error; without grad (or under ``no_grad``) mixing still works."""
    a, b, M = random_problem()
    x, y = np.random.default_rng(5).normal(size=(2, 6, 2))
    a_grad = torch.tensor(a, requires_grad=True)
    y_grad = torch.tensor(y, requires_grad=True)
    calls = {
        "a requires grad but M": [
            lambda: sinkhorn(a_grad, b, M, REG),
            lambda: sinkhorn2(a_grad, b, M, REG),
            lambda: sinkhorn2(a_grad, None, (x, y), REG, cost="sqeuclidean"),
            lambda: sinkhorn_divergence(x, y, REG, a=a_grad),
        ],
        "y requires grad but x": [
            lambda: sinkhorn2(None, None, (x, y_grad), REG, cost="sqeuclidean"),
            lambda: sinkhorn_divergence(x, y_grad, REG),
        ],
    }
    for words, group in calls.items():
        for call in group:
            with pytest.raises(ValueError, match=words.replace("M", "[Mx]")):
                call()
    expected = float((pot_plan(a, b, M) * M).sum())
    assert float(sinkhorn2(torch.tensor(a), b, M, REG, tol=1e-12)) == pytest.approx(expected)
    with torch.no_grad():
        assert float(sinkhorn2(a_grad, b, M, REG, tol=1e-12)) == pytest.approx(expected)
    loss = sinkhorn2(a_grad, b, torch.tensor(M), REG)  # a tensor M keeps the graph
    assert loss.requires_grad


def test_costs_far_from_zero_report_the_error_of_the_plan_returned() -> None:
    """A constant added to ``M`` leaves the balanced plan unchanged but makes the potentials
    large: absorbing the scalings into them rounded the plan away from its marginals (8e-7 at
    ``M + 1e9``) while the log said ``converged`` with the scaled iterate's 3e-10, and no
    warning came. The error reported is now the returned plan's, and the warning says what
    to do. (``M`` on a grid of 2**-10 so that ``M + 2**36`` is exact.)"""
    a, b, M = random_problem()
    M = np.round(M * 1024) / 1024
    for offset in (2.0**20, 2.0**30, 2.0**36):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            plan, log = sinkhorn(a, b, M + offset, REG, log=True)
        measured = max(np.abs(plan.sum(1) - a).sum(), np.abs(plan.sum(0) - b).sum())
        assert log["marginal_err"] == pytest.approx(measured, rel=1e-3, abs=1e-15)
        assert log["err"][-1] == log["marginal_err"]
        assert log["converged"] == (measured <= log["tol"])
        missed = [w for w in caught if issubclass(w.category, SinkhornConvergenceWarning)]
        assert len(missed) == (0 if log["converged"] else 1)
        if missed:
            assert "subtract min(M)" in str(missed[0].message)
    assert not log["converged"]  # at 2**36 the float64 rounding is about 1e-5
    shifted = M + offset
    np.testing.assert_allclose(
        sinkhorn(a, b, shifted - shifted.min(), REG, tol=1e-12), pot_plan(a, b, M), atol=1e-11
    )


def test_unrolled_solves_report_the_error_of_the_plan_too() -> None:
    """``grad="autodiff"`` iterates in the log domain; at ``M + 2**30`` its updates reported
    error 0 (``converged``) for a plan 5.5e-7 off its marginals."""
    a, b, M = random_problem()
    M = np.round(M * 1024) / 1024
    cost = torch.tensor(M + 2.0**30, requires_grad=True)
    with pytest.warns(SinkhornConvergenceWarning, match="subtract min"):
        plan, log = sinkhorn(torch.tensor(a), torch.tensor(b), cost, REG, log=True, grad="autodiff")
    plan = plan.detach().numpy()
    measured = max(np.abs(plan.sum(1) - a).sum(), np.abs(plan.sum(0) - b).sum())
    assert log["marginal_err"] == pytest.approx(measured, rel=1e-6)
    assert not log["converged"] and measured > 1e-7


def test_point_cloud_solves_report_the_error_of_the_lazy_plan() -> None:
    """float32 clouds with spread 10 at reg 0.05: the log-sum-exp updates group the expanded
    distances differently from the plan's blocks, and their rounding let the solve report
    1.7e-6 (``converged``, no warning) for a plan whose marginals miss by 2.8e-5."""
    rng = np.random.default_rng(4)
    x, y = (10 * rng.random((40, 2))).astype(np.float32), (10 * rng.random((30, 2)))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        plan, log = sinkhorn(
            None, None, (x, y.astype(np.float32)), 0.05, cost="sqeuclidean", log=True,
            eps_scaling=0.5,
        )  # fmt: skip
    row, col = (m.astype(np.float64) for m in plan.marginals())
    measured = max(np.abs(row - 1 / 40).sum(), np.abs(col - 1 / 30).sum())
    assert log["marginal_err"] == pytest.approx(measured, rel=0.25)  # two float32 summations
    assert measured > log["tol"] and not log["converged"]
    [warning] = [w for w in caught if issubclass(w.category, SinkhornConvergenceWarning)]
    assert "pass float64 points" in str(warning.message)


def test_a_float32_cost_that_stalls_is_advised_float64() -> None:
    """Spread 5 at reg 0.05 (``M / reg`` up to 1000) in float32: the solve stops before
    ``max_iter`` with the plan's error (2.1e-6) just above the float32 floor (2.0e-6), where
    "raise max_iter or reg" was the whole advice; float64 converges."""
    rng = np.random.default_rng(0)
    M = ot.dist(5 * rng.random((40, 2)), 5 * rng.random((30, 2))).astype(np.float32)
    with pytest.warns(SinkhornConvergenceWarning, match="pass M as float64"):
        _, log = sinkhorn(None, None, M, 0.05, log=True)
    assert log["n_iter"] < 10_000
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert sinkhorn(None, None, M.astype(np.float64), 0.05, log=True)[1]["converged"]


def test_a_warm_start_carrying_a_large_constant_still_solves() -> None:
    """``(log_u + t, log_v)`` is the same balanced warm start for any ``t``, but a large ``t``
    made the potentials too large for their rounding (``t = 1e17``: the plan 2.8 off its
    marginals, reported as converged; since the error is measured on the plan, reported as
    not converged). The warm start is now shifted to a maximum of 0 first."""
    a, b, M = random_problem()
    _, log = sinkhorn(a, b, M, REG, log=True, tol=1e-12)
    x, y = np.random.default_rng(6).normal(size=(2, 6, 2))
    lazy, lazy_log = sinkhorn(None, None, (x, y), 0.5, cost="sqeuclidean", log=True, tol=1e-12)
    for shift in (1e10, 1e17):
        warm = (log["log_u"] + shift, log["log_v"])
        again, again_log = sinkhorn(a, b, M, REG, log=True, tol=1e-12, warmstart=warm)
        assert again_log["converged"]  # (log_u + 1e17 has lost log_u: a cold start)
        np.testing.assert_allclose(again, pot_plan(a, b, M), atol=1e-12)
        warm = (lazy_log["log_u"] + shift, lazy_log["log_v"])
        points = sinkhorn(None, None, (x, y), 0.5, cost="sqeuclidean", tol=1e-12, warmstart=warm)
        np.testing.assert_allclose(points.to_dense(), lazy.to_dense(), atol=1e-12)
