"""Quadratics ``f(x) = ½ x^T A x - b^T x`` with A symmetric positive semidefinite and b in
the range of A, so that ``f* = -½ b^T A^+ b`` is known in closed form."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from theoropt.convex.problems.base import Problem, one_blas_thread


class Quadratic(Problem):
    """A quadratic with Hessian ``A`` (dense or sparse) and linear term ``b``.

    ``f_star`` is passed in closed form by the constructors below; ``L = λ_max(A)`` and
    ``mu = λ_min(A)`` are given by them as well.
    """

    def __init__(
        self,
        hessian: np.ndarray | sp.spmatrix,
        linear: np.ndarray,
        *,
        L: float,
        mu: float,
        f_star: float,
        name: str,
        start_scale: float,
    ):
        self.A = hessian
        self.b = np.asarray(linear, dtype=np.float64)
        self.dim = self.b.size
        self.L, self.mu, self.name = float(L), float(mu), name
        self._f_star = float(f_star)
        self.start_scale = start_scale

    def value_and_grad(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        Ax = self.A @ x
        return float(0.5 * (x @ Ax) - self.b @ x), Ax - self.b

    def starting_point(self, seed: int) -> np.ndarray:
        """Seed 0: the origin; other seeds: Gaussian with norm ``start_scale``."""
        if seed == 0:
            return np.zeros(self.dim)
        direction = np.random.default_rng(seed).standard_normal(self.dim)
        return self.start_scale * direction / np.linalg.norm(direction)

    def _optimal_value(self) -> float:
        return self._f_star


@one_blas_thread
def random_quadratic(dim: int = 500, L: float = 1.0, seed: int = 0) -> Quadratic:
    """A dense random quadratic that is ill-conditioned and, in practice, not strongly convex.

    Eigenvalues ``L u²`` with u uniform on [0, 1] (dense near zero, like the worst case), and
    one eigenvalue set to exactly L; random orthogonal eigenvectors; ``b = A x_sol`` with
    ``x_sol ~ N(0, I)``; ``f* = -½ x_sol^T A x_sol``.
    """
    rng = np.random.default_rng(seed)
    eigenvalues = L * rng.uniform(0.0, 1.0, dim) ** 2
    eigenvalues[0] = L
    basis, _ = np.linalg.qr(rng.standard_normal((dim, dim)))
    hessian = (basis * eigenvalues) @ basis.T
    hessian = 0.5 * (hessian + hessian.T)
    solution = rng.standard_normal(dim)
    coordinates = basis.T @ solution
    f_star = -0.5 * float(np.sum(eigenvalues * coordinates**2))
    return Quadratic(
        hessian,
        hessian @ solution,
        L=L,
        mu=float(eigenvalues.min()),
        f_star=f_star,
        name=f"quadratic-random-d{dim}",
        start_scale=float(np.linalg.norm(solution)),
    )


def nesterov_worst_case(dim: int = 2001, L: float = 1.0) -> Quadratic:
    """Nesterov's worst-case quadratic (Lectures on Convex Optimization, 2018, §2.1.2):
    ``A = (L/4) tridiag(-1, 2, -1)``, ``b = (L/4) e_1``; ``x*_i = 1 - i/(dim+1)`` and
    ``f* = (L/8)(-1 + 1/(dim+1))``. Its eigenvalues are ``(L/2)(1 - cos(iπ/(dim+1)))``."""
    main = np.full(dim, 2.0)
    off = np.full(dim - 1, -1.0)
    hessian = (L / 4) * sp.diags([off, main, off], [-1, 0, 1], format="csr")
    linear = np.zeros(dim)
    linear[0] = L / 4
    angles = np.pi * np.array([1, dim]) / (dim + 1)
    mu, top = (L / 2) * (1 - np.cos(angles))
    return Quadratic(
        hessian,
        linear,
        L=float(top),
        mu=float(mu),
        f_star=(L / 8) * (-1 + 1 / (dim + 1)),
        name=f"quadratic-nesterov-d{dim}",
        start_scale=float(np.sqrt(dim / 3)),
    )
