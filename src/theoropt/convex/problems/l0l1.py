"""Two convex functions that are not globally L-smooth but are (L0, L1)-smooth
(``||∇²f(x)|| <= L0 + L1 ||∇f(x)||``, Zhang et al. 2020), each with f* known exactly.

- ``quartic``: ``f(x) = ¼ ||Ax - b||⁴`` with ``b = A x_sol``: ``f* = 0``; its Hessian
  ``||r||² A^T A + 2 A^T r r^T A`` grows like ``||r||²`` and vanishes at the solution (not
  strongly convex, not globally smooth).
- ``cosh``: ``f(x) = (1/m) Σ_j cosh(a_j^T x - b_j)`` with square invertible A and
  ``b = A x_sol``: ``f* = 1``; its curvature grows exponentially away from the solution. It is
  (L0, L1)-smooth with ``L0 = σ_max²/m`` and ``L1 = σ_max²/σ_min`` (from ``cosh <= 1 + |sinh|``).
"""

from __future__ import annotations

import numpy as np

from theoropt.convex.problems.base import Problem, one_blas_thread


def _matrix_with_singular_values(dim: int, low: float, high: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    left, _ = np.linalg.qr(rng.standard_normal((dim, dim)))
    right, _ = np.linalg.qr(rng.standard_normal((dim, dim)))
    return (left * np.geomspace(high, low, dim)) @ right.T


class _ResidualProblem(Problem):
    """Shared set-up: a square matrix A, a solution x_sol, ``b = A x_sol``, ``L = None``."""

    L = None

    @one_blas_thread
    def __init__(self, dim: int, low: float, high: float, seed: int, name: str, radius: float):
        self.dim, self.name, self.radius = dim, name, radius
        self.A = _matrix_with_singular_values(dim, low, high, seed)
        self.solution = np.random.default_rng(seed + 1).standard_normal(dim)
        self.b = self.A @ self.solution

    @one_blas_thread
    def starting_point(self, seed: int) -> np.ndarray:
        """``x_sol + d`` with the residual ``A d`` of Euclidean norm ``radius``; the
        direction is fixed for seed 0 and random for the others."""
        rng = np.random.default_rng(1000 + seed)
        residual = rng.standard_normal(self.dim)
        residual *= self.radius / np.linalg.norm(residual)
        return self.solution + np.linalg.solve(self.A, residual)


class Quartic(_ResidualProblem):
    """``f(x) = ¼ ||Ax - b||⁴`` (f* = 0)."""

    def __init__(self, dim: int = 200, seed: int = 0):
        super().__init__(dim, 0.1, 1.0, seed, f"quartic-d{dim}", radius=10.0)

    def value_and_grad(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        r = self.A @ x - self.b
        with np.errstate(over="ignore", invalid="ignore"):  # overflow -> inf, left to the solver
            squared = float(r @ r)
            return 0.25 * squared**2, squared * (self.A.T @ r)

    def _optimal_value(self) -> float:
        return 0.0


class Cosh(_ResidualProblem):
    """``f(x) = (1/m) Σ_j cosh(a_j^T x - b_j)`` (f* = 1)."""

    def __init__(self, dim: int = 200, seed: int = 0):
        super().__init__(dim, 0.1, 1.0, seed, f"cosh-d{dim}", radius=8.0 * np.sqrt(dim) / 4)

    def value_and_grad(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        r = self.A @ x - self.b
        with np.errstate(over="ignore", invalid="ignore"):  # overflow -> inf, left to the solver
            return float(np.cosh(r).mean()), self.A.T @ np.sinh(r) / self.dim

    def _optimal_value(self) -> float:
        return 1.0
