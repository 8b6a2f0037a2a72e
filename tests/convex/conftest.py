"""A small diagonal quadratic whose iterates can be followed by hand."""

from __future__ import annotations

import numpy as np
import pytest


class DiagonalQuadratic:
    """``f(x) = ½ Σ a_i x_i² - b^T x``: gradient ``a*x - b``, minimiser ``b/a``."""

    def __init__(self, a: np.ndarray, b: np.ndarray):
        self.a, self.b = a, b
        self.L = float(a.max())
        self.mu = float(a.min())
        self.x_star = b / a
        self.f_star = self.fun(self.x_star)

    def fun(self, x: np.ndarray) -> float:
        return float(0.5 * np.sum(self.a * x * x) - self.b @ x)

    def jac(self, x: np.ndarray) -> np.ndarray:
        return self.a * x - self.b


@pytest.fixture
def small_quadratic() -> DiagonalQuadratic:
    return DiagonalQuadratic(np.array([0.5, 1.0, 2.0]), np.array([1.0, -1.0, 0.5]))
