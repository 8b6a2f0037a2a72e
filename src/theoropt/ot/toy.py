"""Problems with a known conditional: Gaussian -> Swiss roll through an entropic OT plan.

The ground truth is the semi-discrete entropic OT coupling between ``x ~ N(0, I_2)`` and a fixed
Swiss-roll point set ``Y = {y_j}`` (uniform weights) for the cost ``||x - y||^2 / 2``:
``pi(y_j | x) ∝ b_j exp((g_j - ||x - y_j||^2 / 2) / eps)`` where ``g`` is the y-side potential.
``g`` is computed by Sinkhorn between a large Gaussian sample and ``Y``; the conditional formula
then defines the truth exactly for every x, so pairs, unpaired samples and held-out conditionals
are all drawn from the same joint law (x-marginal exactly N(0, I); y-marginal ≈ uniform on Y).
This mirrors the paper's setup, where pairs are drawn from an entropic OT plan.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np
import torch
from sklearn.datasets import make_swiss_roll

from theoropt.ot.lazy import squared_distances
from theoropt.ot.sinkhorn import sinkhorn


def swiss_roll(n: int, seed: int, noise: float = 0.8) -> np.ndarray:
    """2-D Swiss roll as in the LightSB / EBiEOT code: sklearn's (x, z) coordinates / 7.5."""
    points, _ = make_swiss_roll(n, noise=noise, random_state=seed)
    return points[:, [0, 2]] / 7.5


@dataclass(frozen=True)
class EntropicSwissRoll:
    """The ground-truth coupling; build with :func:`entropic_swiss_roll` (cached)."""

    support: np.ndarray  # Y, (n_support, 2)
    log_b: np.ndarray  # log weights of Y
    potential: np.ndarray  # g on Y
    eps: float

    def conditional_log_weights(self, x: np.ndarray) -> np.ndarray:
        """``log pi(y_j | x_i)`` for all i, j (rows sum to one after exp)."""
        cost = 0.5 * squared_distances(torch.from_numpy(x), torch.from_numpy(self.support))
        logits = torch.from_numpy(self.log_b + self.potential / self.eps) - cost / self.eps
        return torch.log_softmax(logits, dim=1).numpy()

    def sample_x(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return rng.standard_normal((n, 2))

    def sample_conditional(self, x: np.ndarray, n_samples: int, rng: np.random.Generator):
        """``n_samples`` draws of ``y | x`` for each row of x: (len(x), n_samples, 2)."""
        cumulative = np.cumsum(np.exp(self.conditional_log_weights(x)), axis=1)
        cumulative /= cumulative[:, -1:]
        offsets = np.arange(len(x))[:, None]  # row i searched in [i, i + 1]: one searchsorted
        uniforms = rng.random((len(x), n_samples)) + offsets
        flat = np.searchsorted((cumulative + offsets).ravel(), uniforms.ravel())
        index = flat.reshape(len(x), n_samples) - offsets * len(self.support)
        return self.support[np.clip(index, 0, len(self.support) - 1)]

    def sample_pairs(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """``n`` pairs from the joint law."""
        x = self.sample_x(n, rng)
        return x, self.sample_conditional(x, 1, rng)[:, 0]


@cache
def entropic_swiss_roll(
    eps: float = 0.1, n_support: int = 2048, n_reference: int = 4096, seed: int = 0
) -> EntropicSwissRoll:
    """Ground truth for ``eps``: Sinkhorn (our ``sinkhorn``, tol 1e-9) between ``n_reference``
    Gaussian points and ``n_support`` Swiss-roll points (fixed ``seed``)."""
    rng = np.random.default_rng(seed)
    support = swiss_roll(n_support, seed)
    reference = rng.standard_normal((n_reference, 2))
    cost = 0.5 * squared_distances(torch.from_numpy(reference), torch.from_numpy(support))
    _, info = sinkhorn(None, None, cost, eps, tol=1e-9, log=True)
    log_b = np.full(n_support, -np.log(n_support))
    return EntropicSwissRoll(support, log_b, info["g"].numpy(), eps)
