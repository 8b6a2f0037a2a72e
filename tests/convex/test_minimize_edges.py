"""``minimize`` at edge inputs, against what ``scipy.optimize.minimize`` does with the same call."""

from __future__ import annotations

import numpy as np
import scipy.optimize

from theoropt.convex import minimize

TARGET = np.array([1.0, -2.0, 0.5])


def value(x: np.ndarray) -> float:
    return float(np.sum((x - TARGET) ** 2))


def gradient(x: np.ndarray) -> np.ndarray:
    return 2 * (x - TARGET)


def test_jac_true_takes_the_pair_as_a_list_too() -> None:
    """scipy reads ``fg[0]``, ``fg[1]`` of whatever ``fun`` returns; a list ``[f, g]`` was a
    ``TypeError`` here."""
    pair = lambda x: [value(x), gradient(x)]  # noqa: E731
    reference = scipy.optimize.minimize(pair, np.zeros(3), jac=True, method="BFGS")
    ours = minimize(pair, np.zeros(3), jac=True, method="adgd", tol=1e-10)
    assert reference.success and ours.success
    np.testing.assert_allclose(ours.x, reference.x, atol=1e-6)
    np.testing.assert_allclose(ours.x, TARGET, atol=1e-10)


def test_result_fields_have_scipys_types() -> None:
    reference = scipy.optimize.minimize(value, np.zeros(3), jac=gradient, method="BFGS")
    ours = minimize(value, np.zeros(3), gradient, method="acc-graal")
    for key in ("x", "fun", "jac", "nit", "nfev", "njev", "success", "status", "message"):
        assert key in ours
        assert np.asarray(ours[key]).dtype.kind == np.asarray(reference[key]).dtype.kind, key
        assert np.shape(ours[key]) == np.shape(reference[key]), key
    assert (ours.success, ours.status) == (reference.success, reference.status) == (True, 0)
    np.testing.assert_allclose(ours.x, reference.x, atol=1e-7)
