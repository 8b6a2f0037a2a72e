"""``minimize`` at edge inputs, against what ``scipy.optimize.minimize`` does with the same call."""

from __future__ import annotations

import numpy as np
import pytest
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


@pytest.mark.parametrize(
    ("fun", "jac", "error", "words"),
    [
        (lambda x: "0.5", gradient, TypeError, "fun must return a real number"),
        (lambda x: [[1.0], [2.0, 3.0]], gradient, ValueError, "fun must return a scalar"),
        (value, lambda x: ["1", "2", "3"], TypeError, "jac returned <U1 values"),
        (value, lambda x: [None, None, None], TypeError, "jac returned object values"),
        (value, lambda x: [[1.0], [2.0, 3.0], [4.0]], TypeError, "jac returned a ragged"),
    ],
)
def test_non_numbers_from_fun_or_jac_name_the_callable(fun, jac, error, words) -> None:
    """These raised numpy's "could not convert string to float" (naming neither callable),
    and a gradient of ``None`` entries became NaN and was reported as a diverged run."""
    with pytest.raises(error, match=words):
        minimize(fun, np.zeros(3), jac, method="adgd")


def test_result_fields_have_scipys_types() -> None:
    reference = scipy.optimize.minimize(value, np.zeros(3), jac=gradient, method="BFGS")
    ours = minimize(value, np.zeros(3), gradient, method="acc-graal")
    for key in ("x", "fun", "jac", "nit", "nfev", "njev", "success", "status", "message"):
        assert key in ours
        assert np.asarray(ours[key]).dtype.kind == np.asarray(reference[key]).dtype.kind, key
        assert np.shape(ours[key]) == np.shape(reference[key]), key
    assert (ours.success, ours.status) == (reference.success, reference.status) == (True, 0)
    np.testing.assert_allclose(ours.x, reference.x, atol=1e-7)
