"""Edge inputs a POT user may pass: array layouts, mixed numpy/torch inputs, unreadable values,
warm starts of the wrong shape, costs far from zero. References are POT's plans, plans computed
from the returned potentials, or the same call on a plain copy of the input."""

from __future__ import annotations

import numpy as np
import ot

from theoropt.ot import EBiEOT, sinkhorn

REG = 0.1


def random_problem(n: int = 6, m: int = 5, seed: int = 0):
    rng = np.random.default_rng(seed)
    a, b = rng.random(n) + 0.5, rng.random(m) + 0.5
    return a / a.sum(), b / b.sum(), rng.random((n, m))


def pot_plan(a, b, M, reg: float = REG) -> np.ndarray:
    return ot.sinkhorn(a, b, M, reg, method="sinkhorn_log", stopThr=1e-14, numItermax=10**5)


def test_reversed_numpy_views_are_read_like_copies() -> None:
    """``M[::-1]`` has a negative stride, which torch cannot wrap: every entry point raised
    torch's "negative strides are not currently supported" instead of solving."""
    a, b, M = random_problem()
    plan = sinkhorn(a[::-1], b, M[::-1], REG, tol=1e-12)
    np.testing.assert_allclose(plan, pot_plan(a, b, M)[::-1], atol=1e-11)
    x, y = np.random.default_rng(1).normal(size=(2, 6, 2))
    lazy = sinkhorn(None, None, (x[::-1], y[:, ::-1]), 0.5, cost="sqeuclidean", tol=1e-12)
    reference = pot_plan(np.full(6, 1 / 6), np.full(6, 1 / 6), ot.dist(x[::-1], y[:, ::-1]), 0.5)
    np.testing.assert_allclose(lazy.to_dense(), reference, atol=1e-11)
    model = EBiEOT(steps=2, n_potentials=3, n_costs=2, batch_size=4, progress=False)
    model.fit(x[::-1], y[::-1, :1])
    np.testing.assert_array_equal(
        model.log_prob(y[::-1, :1], x[::-1]), model.log_prob(y[:, :1], x)[::-1]
    )
