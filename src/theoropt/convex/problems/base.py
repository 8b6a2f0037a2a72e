"""What a test problem provides: f and ∇f on numpy float64 vectors, L where it exists, f*."""

from __future__ import annotations

from abc import ABC, abstractmethod
from functools import cached_property

import numpy as np


class Problem(ABC):
    """A convex test problem ``min_x f(x)`` over ``R^dim``.

    ``L`` is the global Lipschitz constant of ∇f (``None`` when f is not globally smooth);
    ``mu`` a strong-convexity modulus (0 when none is known); ``f_star`` the optimal value to
    high accuracy (closed form or a high-precision solve, computed once per instance).
    """

    name: str
    dim: int
    L: float | None
    mu: float = 0.0

    @abstractmethod
    def value_and_grad(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        """``(f(x), ∇f(x))`` sharing their common work."""

    def fun(self, x: np.ndarray) -> float:
        """f(x)."""
        return self.value_and_grad(x)[0]

    def jac(self, x: np.ndarray) -> np.ndarray:
        """∇f(x)."""
        return self.value_and_grad(x)[1]

    @abstractmethod
    def starting_point(self, seed: int) -> np.ndarray:
        """A reproducible starting point; seed 0 is the conventional one (often the origin)."""

    @abstractmethod
    def _optimal_value(self) -> float:
        """f* computed without caching."""

    @cached_property
    def f_star(self) -> float:
        """The optimal value f* (cached)."""
        return self._optimal_value()
