"""What a test problem provides: f and ∇f on numpy float64 vectors, L where it exists, f*."""

from __future__ import annotations

import functools
from abc import ABC, abstractmethod
from collections.abc import Callable
from functools import cached_property
from typing import ParamSpec, TypeVar

import numpy as np
from threadpoolctl import threadpool_limits

_P = ParamSpec("_P")
_R = TypeVar("_R")


def one_blas_thread(build: Callable[_P, _R]) -> Callable[_P, _R]:
    """Run ``build`` (a problem's data or starting point) with one BLAS/LAPACK thread.

    Multi-threaded BLAS rounds differently with the thread count, and the adaptive methods'
    evaluation counts follow last-bit changes of the data: measured on the 2-core EPYC,
    accelerated GRAAL on cosh from seed 0 needed 438 evaluations to 1e-6 from a starting point
    solved with two threads and 427 from the one solved with one (2 Dec 2026). With one
    thread the same seed gives the same bits whatever the caller's thread setting (tested).
    """

    @functools.wraps(build)
    def built_with_one_thread(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        with threadpool_limits(limits=1):
            return build(*args, **kwargs)

    return built_with_one_thread


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
