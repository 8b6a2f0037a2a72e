"""Problems with a known conditional: Gaussian -> Swiss roll through an entropic OT plan.

The ground truth is the semi-discrete entropic OT coupling between ``x ~ N(0, I_2)`` and a fixed
Swiss-roll point set ``Y = {y_j}`` (uniform weights ``b_j``) for a cost ``c``:
``pi(y_j | x) ∝ exp((g_j - c(x, y_j)) / eps)`` where ``g`` is the y-side potential of our
``sinkhorn`` (whose plan is ``exp((f_i + g_j - c_ij) / eps)``: the weights are absorbed in the
potentials; with them outside, as often written, this is ``b_j exp((g'_j - c) / eps)``).
``g`` is computed by Sinkhorn between a large Gaussian sample and ``Y``; the conditional formula
then defines the truth exactly for every x, so pairs, unpaired samples and held-out conditionals
are all drawn from the same joint law (x-marginal exactly N(0, I); y-marginal ≈ uniform on Y).

Two costs:

* :func:`entropic_swiss_roll` — ``||x - y||^2 / 2`` (eps 0.1 here): exactly LightSB's model,
  so it is well specified for LightSB;
* :func:`rotation_swiss_roll` — the EBiEOT authors' Swiss-roll benchmark (their
  ``conf/dataset/synthetic/swiss_roll.yaml``: cost ``rotation-v2``, reg 0.05, cost not
  normalised): ``c(x, y) = min(||x - R y||, ||x - R^T y||)`` with ``R`` the rotation by +90°,
  a distance, not squared, and not of LightSB's form. The authors draw their pairs from the
  entropic plan between 128 x and 128 y samples; here the plan is computed once on a large
  support, so that conditionals are exact.
"""

from __future__ import annotations

from collections.abc import Callable
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


def half_squared_distance(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``||x_i - y_j||^2 / 2`` for all pairs."""
    return 0.5 * squared_distances(x, y)


def rotation_cost(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``min(||x_i - R y_j||, ||x_i - R^T y_j||)`` for all pairs, ``R y = (-y_2, y_1)`` (the
    rotation by +90°; ``R^T y = -R y``): the EBiEOT authors' ``rotation-v2`` cost, written
    there with row vectors as ``min(||x + y R_{+90}||, ||x + y R_{-90}||)``."""
    rotated = torch.stack([-y[:, 1], y[:, 0]], dim=1)
    return torch.minimum(torch.cdist(x, rotated), torch.cdist(x, -rotated))


@dataclass(frozen=True)
class EntropicSwissRoll:
    """The ground-truth coupling; build with :func:`entropic_swiss_roll` or
    :func:`rotation_swiss_roll` (cached)."""

    support: np.ndarray  # Y, (n_support, 2), uniform weights
    potential: np.ndarray  # g on Y (weights absorbed, as our sinkhorn returns it)
    eps: float
    cost: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = half_squared_distance

    def log_kernel(self, x: np.ndarray) -> np.ndarray:
        """``(g_j - c(x_i, y_j)) / eps`` for all i, j: the unnormalised log conditional; on
        the reference points its log-sum-exp over j is ``log a_i - f_i / eps`` (the plan's row
        mass ``a_i`` and x-side potential ``f_i``)."""
        cost = self.cost(torch.from_numpy(x), torch.from_numpy(self.support))
        return ((torch.from_numpy(self.potential) - cost) / self.eps).numpy()

    def conditional_log_weights(self, x: np.ndarray) -> np.ndarray:
        """``log pi(y_j | x_i)`` for all i, j (rows sum to one after exp)."""
        return torch.log_softmax(torch.from_numpy(self.log_kernel(x)), dim=1).numpy()

    def sample_x(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return rng.standard_normal((n, 2))

    def sample_conditional(
        self, x: np.ndarray, n_samples: int, rng: np.random.Generator
    ) -> np.ndarray:
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


def semi_discrete_plan(
    cost: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    eps: float,
    n_support: int,
    n_reference: int,
    seed: int,
) -> EntropicSwissRoll:
    """Sinkhorn (our ``sinkhorn``, tol 1e-9) between ``n_reference`` Gaussian points and
    ``n_support`` Swiss-roll points (fixed ``seed``) for ``cost``; keeps the y-potential."""
    rng = np.random.default_rng(seed)
    support = swiss_roll(n_support, seed)
    reference = rng.standard_normal((n_reference, 2))
    matrix = cost(torch.from_numpy(reference), torch.from_numpy(support))
    _, info = sinkhorn(None, None, matrix, eps, tol=1e-9, log=True)
    return EntropicSwissRoll(support, info["g"].numpy(), eps, cost)


@cache
def entropic_swiss_roll(
    eps: float = 0.1, n_support: int = 2048, n_reference: int = 4096, seed: int = 0
) -> EntropicSwissRoll:
    """Ground truth for the cost ``||x - y||^2 / 2`` and ``eps`` (LightSB's model)."""
    return semi_discrete_plan(half_squared_distance, eps, n_support, n_reference, seed)


@cache
def rotation_swiss_roll(
    reg: float = 0.05, n_support: int = 2048, n_reference: int = 4096, seed: int = 0
) -> EntropicSwissRoll:
    """Ground truth of the authors' benchmark: the rotation cost at ``reg`` (their 0.05)."""
    return semi_discrete_plan(rotation_cost, reg, n_support, n_reference, seed)
