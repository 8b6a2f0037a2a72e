"""L2-regularised logistic regression on the shipped LIBSVM sets.

``f(x) = (1/n) Σ_i log(1 + exp(-y_i a_i^T x)) + (l2/2) ||x||²`` with labels in {-1, +1}.
``L = ||A||_2² / (4n) + l2`` (the logistic loss has curvature at most 1/4); ``l2`` is set
relative to the data part, ``l2 = ||A||_2² / (4n) / (regularization_ratio * n)``: the
customary ``L/(10 n)`` (ratio 10) and a weakly regularised ``L/(10^4 n)`` (ratio 1e4).
f* comes from L-BFGS-B followed by Newton steps (exact Hessian, backtracking) until the gradient
norm is below 1e-12 (the dimensions of the shipped sets are at most 300).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.optimize import minimize as scipy_minimize
from scipy.sparse.linalg import svds
from scipy.special import expit

from theoropt.convex.problems.base import Problem
from theoropt.data import load_libsvm

NEWTON_GRADIENT_TOL = 1e-12


def spectral_norm_squared(matrix: sp.spmatrix) -> float:
    """``||A||_2²`` from a sparse truncated SVD (largest singular value)."""
    sigma = svds(matrix.astype(np.float64), k=1, return_singular_vectors=False, random_state=0)
    return float(sigma[0]) ** 2


class LogisticRegression(Problem):
    """Logistic regression with features ``A`` (CSR) and labels ``y`` in {-1, +1}."""

    def __init__(
        self,
        features: sp.spmatrix,
        labels: np.ndarray,
        l2: float,
        name: str,
        data_smoothness: float | None = None,
    ):
        """``data_smoothness`` (``||A||_2²/(4n)``) is computed when not given."""
        self.A = sp.csr_matrix(features, dtype=np.float64)
        self.AT = self.A.T.tocsr()  # row-major transpose: fast matvec for the gradient
        self.y = np.asarray(labels, dtype=np.float64)
        self.n, self.dim = self.A.shape
        self.l2 = float(l2)
        self.name = name
        if data_smoothness is None:
            data_smoothness = spectral_norm_squared(self.A) / (4 * self.n)
        self.L = data_smoothness + self.l2
        self.mu = self.l2

    def value_and_grad(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        margins = self.y * (self.A @ x)
        value = np.logaddexp(0.0, -margins).mean() + 0.5 * self.l2 * float(x @ x)
        weights = -self.y * expit(-margins) / self.n
        return float(value), self.AT @ weights + self.l2 * x

    def hessian(self, x: np.ndarray) -> np.ndarray:
        """Dense Hessian ``A^T diag(s(1-s)) A / n + l2 I`` (used for the f* solve)."""
        s = expit(self.y * (self.A @ x))
        weighted = self.A.multiply((s * (1 - s) / self.n)[:, None])
        return (self.AT @ weighted).toarray() + self.l2 * np.eye(self.dim)

    def starting_point(self, seed: int) -> np.ndarray:
        """Seed 0: the origin; other seeds: Gaussian with norm 10 (a far start)."""
        if seed == 0:
            return np.zeros(self.dim)
        direction = np.random.default_rng(seed).standard_normal(self.dim)
        return 10.0 * direction / np.linalg.norm(direction)

    def _optimal_value(self) -> float:
        x = scipy_minimize(
            self.value_and_grad,
            np.zeros(self.dim),
            jac=True,
            method="L-BFGS-B",
            options={"maxiter": 5_000, "gtol": 1e-7},
        ).x
        value, grad = self.value_and_grad(x)
        for _ in range(100):
            if np.linalg.norm(grad) <= NEWTON_GRADIENT_TOL:
                break
            direction = np.linalg.solve(self.hessian(x), grad)
            step = 1.0
            while True:  # backtracking (Armijo); the full step is taken near the solution
                trial_value, trial_grad = self.value_and_grad(x - step * direction)
                if trial_value <= value - 1e-4 * step * float(grad @ direction) or step < 1e-8:
                    break
                step /= 2
            x, value, grad = x - step * direction, trial_value, trial_grad
        norm = np.linalg.norm(grad)
        if norm > 1e-9:
            raise RuntimeError(f"{self.name}: the f* solve stalled at gradient norm {norm:.3g}")
        return value


def logistic_problem(dataset: str, regularization_ratio: float = 10.0) -> LogisticRegression:
    """Logistic regression on ``dataset`` ("mushrooms", "w8a", "a9a") with
    ``l2 = L_data / (regularization_ratio * n)``."""
    features, labels = load_libsvm(dataset)
    n = features.shape[0]
    data_smoothness = spectral_norm_squared(features) / (4 * n)
    l2 = data_smoothness / (regularization_ratio * n)
    name = f"logreg-{dataset}-l2=L/({regularization_ratio:g}n)"
    return LogisticRegression(features, labels, l2, name, data_smoothness)
