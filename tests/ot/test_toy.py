"""The Swiss-roll ground truths: the rotation cost at hand-checked points, the reference
conditional's normalisation from the plan's potentials, and its samples against the plan."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from theoropt.ot import sinkhorn
from theoropt.ot.metrics import energy_distance
from theoropt.ot.toy import (
    entropic_swiss_roll,
    rotation_cost,
    rotation_swiss_roll,
    swiss_roll,
)


def test_rotation_cost_at_hand_checked_points() -> None:
    # R y = (-y2, y1): x = (1, 0), y = (0, 1) -> R y = (-1, 0), R^T y = (1, 0): min(2, 0)
    # x = 0, y = (3, 4): both rotations keep |y| = 5; x = (1, 1), y = (1, 0): R y = (0, 1)
    # at distance 1, R^T y = (0, -1) at distance sqrt(5); x = (2, 0), y = (0, -1): R y = (1, 0)
    # at distance 1, R^T y = (-1, 0) at 3
    x = torch.tensor([[1.0, 0.0], [0.0, 0.0], [1.0, 1.0], [2.0, 0.0]], dtype=torch.float64)
    y = torch.tensor([[0.0, 1.0], [3.0, 4.0], [1.0, 0.0], [0.0, -1.0]], dtype=torch.float64)
    expected = torch.tensor([0.0, 5.0, 1.0, 1.0], dtype=torch.float64)
    torch.testing.assert_close(torch.diagonal(rotation_cost(x, y)), expected)


def test_rotation_cost_is_the_row_vector_formula_of_the_description() -> None:
    """``min(||x + y R(+90°)||, ||x + y R(-90°)||)`` with row vectors and the usual matrices
    ``R(t) = [[cos t, -sin t], [sin t, cos t]]``, written out independently."""
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((6, 2)), rng.standard_normal((5, 2))

    def rotation(angle: float) -> np.ndarray:
        return np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])

    expected = np.array(
        [
            [min(np.linalg.norm(xi + yj @ rotation(s * np.pi / 2)) for s in (1, -1)) for yj in y]
            for xi in x
        ]
    )
    got = rotation_cost(torch.from_numpy(x), torch.from_numpy(y)).numpy()
    np.testing.assert_allclose(got, expected, atol=1e-12)


@pytest.fixture(scope="module")
def small_truth():
    return rotation_swiss_roll(0.05, n_support=300, n_reference=600)


def test_reference_conditional_integrates_to_one_from_the_potentials(small_truth) -> None:
    """On the reference points, ``sum_j exp((f_i + g_j - c_ij) / reg) / a_i = 1`` with ``f`` the
    Sinkhorn x-potential, solved again here: the unnormalised conditional built from the
    stored y-potential ``g`` has total mass one, i.e. ``g`` is the plan's potential."""
    reference = np.random.default_rng(0).standard_normal((600, 2))
    cost = rotation_cost(torch.from_numpy(reference), torch.from_numpy(swiss_roll(300, 0)))
    _, info = sinkhorn(None, None, cost, 0.05, tol=1e-10, log=True)
    f = info["f"].numpy()
    # our potentials carry the weights: P_ij = exp((f_i + g_j - c_ij) / reg) with rows
    # summing to a_i = 1/600, so the conditional is 600 P_ij
    mass = np.exp(small_truth.log_kernel(reference) + f[:, None] / 0.05 + np.log(600.0))
    np.testing.assert_allclose(mass.sum(1), 1.0, atol=1e-8)
    assert np.exp(small_truth.conditional_log_weights(reference)).sum(1) == pytest.approx(1.0)


def test_reference_conditional_matches_samples_of_the_plan(small_truth) -> None:
    """Pairs drawn from the discrete Sinkhorn plan (rows = Gaussian reference points) and
    pairs drawn from ``sample_pairs`` (fresh x ~ N(0, I), y from the conditional formula) have
    the same joint law: their energy distance in R^4 is as small as that between two
    independent draws from the plan."""
    reference = np.random.default_rng(0).standard_normal((600, 2))
    support = swiss_roll(300, 0)
    plan = sinkhorn(
        None,
        None,
        rotation_cost(torch.from_numpy(reference), torch.from_numpy(support)),
        0.05,
        tol=1e-10,
    )
    rng = np.random.default_rng(3)
    flat = plan.numpy().ravel() / plan.numpy().sum()

    def from_plan(n: int) -> np.ndarray:
        index = rng.choice(flat.size, size=n, p=flat)
        return np.hstack([reference[index // 300], support[index % 300]])

    x, y = small_truth.sample_pairs(2000, rng)
    ours = np.hstack([x, y])
    between = energy_distance(from_plan(2000), ours)
    within = energy_distance(from_plan(2000), from_plan(2000))
    assert abs(between) < 3 * abs(within) + 0.01, (between, within)
    # and a wrong conditional (the quadratic-cost truth on the same support) is told apart
    wrong_x, wrong_y = entropic_swiss_roll(0.05, n_support=300, n_reference=600).sample_pairs(
        2000, rng
    )
    assert energy_distance(from_plan(2000), np.hstack([wrong_x, wrong_y])) > 10 * (
        abs(within) + 0.01
    )
