"""Paired-only baselines for conditional models: regression to the mean and a linear-Gaussian.

Both fit on pairs only. ``MeanRegression`` predicts ``E[y|x]`` (RBF kernel ridge, regularisation
and bandwidth chosen by cross-validation); as a conditional model it is a point mass, so it is
scored by sample distances only. ``LinearGaussian`` is ``y | x ~ N(W x + c, S)`` by ridge
regression with the residual covariance (shrunk towards its diagonal), with an exact density.
"""

from __future__ import annotations

import numpy as np
from sklearn.kernel_ridge import KernelRidge
from sklearn.model_selection import GridSearchCV, KFold

from theoropt.ot._arrays import check_positive


class MeanRegression:
    """``E[y | x]`` by RBF kernel ridge regression (grid search, k-fold CV on the pairs)."""

    def fit(self, x: np.ndarray, y: np.ndarray, seed: int = 0) -> MeanRegression:
        folds = KFold(n_splits=min(5, len(x)), shuffle=True, random_state=seed)
        grid = {"alpha": [1e-3, 1e-2, 1e-1, 1.0], "gamma": [0.01, 0.1, 1.0, 10.0]}
        search = GridSearchCV(KernelRidge(kernel="rbf"), grid, cv=folds)
        self.model_ = search.fit(x, y).best_estimator_
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.model_.predict(x)

    def sample(self, x: np.ndarray, n_samples: int) -> np.ndarray:
        """The point prediction repeated: (n, n_samples, dim_y)."""
        return np.repeat(self.predict(x)[:, None, :], n_samples, axis=1)


class LinearGaussian:
    """``y | x ~ N(W x + c, S)``: ridge regression plus a shrunk residual covariance."""

    def __init__(self, ridge: float = 1.0, shrinkage: float = 0.1):
        self.ridge = check_positive("ridge", ridge)
        self.shrinkage = float(shrinkage)

    def fit(self, x: np.ndarray, y: np.ndarray) -> LinearGaussian:
        design = np.hstack([x, np.ones((len(x), 1))])
        penalty = self.ridge * np.eye(design.shape[1])
        penalty[-1, -1] = 0.0
        self.coef_ = np.linalg.solve(design.T @ design + penalty, design.T @ y)
        residual = y - design @ self.coef_
        cov = residual.T @ residual / len(x)
        target = np.diag(np.diag(cov)) + 1e-4 * np.eye(len(cov))
        self.cov_ = (1 - self.shrinkage) * cov + self.shrinkage * target
        self.chol_ = np.linalg.cholesky(self.cov_)
        return self

    def _mean(self, x: np.ndarray) -> np.ndarray:
        return np.hstack([x, np.ones((len(x), 1))]) @ self.coef_

    def log_prob(self, y: np.ndarray, x: np.ndarray) -> np.ndarray:
        white = np.linalg.solve(self.chol_, (y - self._mean(x)).T).T
        log_det = 2 * np.log(np.diag(self.chol_)).sum()
        return -0.5 * ((white**2).sum(1) + log_det + y.shape[1] * np.log(2 * np.pi))

    def sample(self, x: np.ndarray, n_samples: int, seed: int = 0) -> np.ndarray:
        rng = np.random.default_rng(seed)
        noise = rng.standard_normal((len(x), n_samples, self.cov_.shape[0])) @ self.chol_.T
        return self._mean(x)[:, None, :] + noise
