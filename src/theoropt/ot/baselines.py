"""Paired-only baselines for conditional models: regression to the mean, a linear-Gaussian and
a small conditional normalising flow.

All fit on pairs only. ``MeanRegression`` predicts ``E[y|x]`` (RBF kernel ridge, regularisation
and bandwidth chosen by cross-validation); as a conditional model it is a point mass, so it is
scored by sample distances only. ``LinearGaussian`` is ``y | x ~ N(W x + c, S)`` by ridge
regression with the residual covariance (shrunk towards its diagonal), with an exact density.
``ConditionalFlow`` is a conditional RealNVP (exact density and sampling).
"""

from __future__ import annotations

import copy
import math
from typing import cast

import numpy as np
import torch
from sklearn.kernel_ridge import KernelRidge
from sklearn.model_selection import GridSearchCV, KFold
from torch import nn

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


class _Coupling(nn.Module):
    """Affine coupling (Dinh et al., ICLR 2017) conditioned on x: the coordinates in ``mask``
    pass unchanged and set, with x, the shift and log-scale (tanh-bounded) of the others."""

    mask: torch.Tensor

    def __init__(self, mask: torch.Tensor, dim_x: int, hidden: int):
        super().__init__()
        self.register_buffer("mask", mask)
        dim_y = len(mask)
        self.net = nn.Sequential(
            nn.Linear(dim_y + dim_x, hidden), nn.ReLU(), nn.Linear(hidden, 2 * dim_y)
        )

    def forward(self, z: torch.Tensor, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``y = T(z; x)`` and ``log |det dT/dz|`` per row."""
        shift, raw = self.net(torch.cat([z * self.mask, x], 1)).chunk(2, dim=1)
        log_scale = torch.tanh(raw) * (1 - self.mask)
        y = z * self.mask + (1 - self.mask) * (z * log_scale.exp() + shift)
        return y, log_scale.sum(1)

    def inverse(self, y: torch.Tensor, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``z = T^{-1}(y; x)`` and ``log |det dT^{-1}/dy|`` per row."""
        shift, raw = self.net(torch.cat([y * self.mask, x], 1)).chunk(2, dim=1)
        log_scale = torch.tanh(raw) * (1 - self.mask)
        z = y * self.mask + (1 - self.mask) * (y - shift) * (-log_scale).exp()
        return z, -log_scale.sum(1)


class ConditionalFlow(nn.Module):
    """A small conditional normalising flow on pairs (ours, after the EBiEOT authors'
    conditional RealNVP baseline): base ``N(mu(x), diag sigma(x)^2)`` from an MLP of x, then
    ``n_layers`` affine couplings with alternating masks, each conditioned on x. Fitted by
    maximum likelihood (Adam) with early stopping on a held-out quarter of the pairs (the
    state with the lowest held-out NLL, checked every ``eval_every`` steps); exact
    ``log_prob`` and sampling."""

    def __init__(
        self,
        n_layers: int = 4,
        hidden: int = 64,
        steps: int = 2000,
        lr: float = 1e-3,
        batch_size: int = 128,
        eval_every: int = 20,
        seed: int = 0,
    ):
        super().__init__()
        self.n_layers, self.hidden, self.steps = n_layers, hidden, steps
        self.lr, self.batch_size, self.eval_every, self.seed = lr, batch_size, eval_every, seed

    def _build(self, dim_x: int, dim_y: int) -> None:
        self.base = nn.Sequential(
            nn.Linear(dim_x, self.hidden), nn.ReLU(), nn.Linear(self.hidden, 2 * dim_y)
        )
        masks = [torch.arange(dim_y) % 2 == k % 2 for k in range(self.n_layers)]
        self.layers = nn.ModuleList(
            _Coupling(m.to(torch.float64), dim_x, self.hidden) for m in masks
        )
        self.double()

    def _base(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean, log_std = self.base(x).chunk(2, dim=1)
        return mean, log_std

    def _log_prob(self, y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        log_det = torch.zeros(len(y), dtype=y.dtype)
        for layer in reversed(self.layers):
            y, step = cast(_Coupling, layer).inverse(y, x)
            log_det = log_det + step
        mean, log_std = self._base(x)
        white = (y - mean) * (-log_std).exp()
        base = -0.5 * (white**2).sum(1) - log_std.sum(1) - 0.5 * y.shape[1] * math.log(2 * math.pi)
        return base + log_det

    def fit(self, x: np.ndarray, y: np.ndarray) -> ConditionalFlow:
        generator = torch.Generator().manual_seed(self.seed)
        xs, ys = torch.as_tensor(x, dtype=torch.float64), torch.as_tensor(y, dtype=torch.float64)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            self._build(xs.shape[1], ys.shape[1])
        order = torch.randperm(len(xs), generator=generator)
        n_val = max(1, len(xs) // 4) if len(xs) > 1 else 0
        val, train = order[:n_val], order[n_val:] if n_val else order
        optimizer = torch.optim.Adam(self.parameters(), lr=self.lr)
        best, best_state = math.inf, None
        for step in range(self.steps):
            index = train[torch.randint(len(train), (self.batch_size,), generator=generator)]
            loss = -self._log_prob(ys[index], xs[index]).mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if n_val and (step + 1) % self.eval_every == 0:
                with torch.no_grad():
                    held_out = -self._log_prob(ys[val], xs[val]).mean().item()
                if held_out < best:
                    best, best_state = held_out, copy.deepcopy(self.state_dict())
        if best_state is not None:
            self.load_state_dict(best_state)
        return self

    def log_prob(self, y: np.ndarray, x: np.ndarray) -> np.ndarray:
        """``log p(y_i | x_i)`` per row (inputs read as float64, the flow's precision)."""
        ys, xs = (torch.as_tensor(np.asarray(v), dtype=torch.float64) for v in (y, x))
        with torch.no_grad():
            return self._log_prob(ys, xs).numpy()

    def sample(self, x: np.ndarray, n_samples: int, seed: int = 0) -> np.ndarray:
        """``n_samples`` draws per row of ``x``: (n, n_samples, dim_y)."""
        xs = torch.as_tensor(x, dtype=torch.float64).repeat_interleave(n_samples, 0)
        generator = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            mean, log_std = self._base(xs)
            z = mean + log_std.exp() * torch.randn(
                mean.shape, generator=generator, dtype=mean.dtype
            )
            for layer in self.layers:
                z, _ = layer(z, xs)
        return z.reshape(len(x), n_samples, -1).numpy()
