"""A real conditional task with no known coupling: complete the right half of an 8x8 digit
(scikit-learn's bundled ``load_digits``, 1,797 images) from its left half.

Pixels (0..16) are dequantised with uniform noise and scaled to (0, 1): ``(p + u) / 17``, so the
halves have densities and held-out log-likelihoods are finite and comparable between models.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.datasets import load_digits


@dataclass(frozen=True)
class DigitHalves:
    """Pairs (few), disjoint unpaired left and right halves, and held-out test pairs."""

    x_pairs: np.ndarray
    y_pairs: np.ndarray
    x_unpaired: np.ndarray
    y_unpaired: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def digit_halves(n_pairs: int, n_test: int = 300, seed: int = 0) -> DigitHalves:
    """Random split: ``n_test`` test pairs, ``n_pairs`` training pairs, and the remaining
    images cut into two disjoint groups giving the unpaired left halves and right halves."""
    images = load_digits().images  # (1797, 8, 8), values 0..16
    rng = np.random.default_rng(seed)
    images = (images + rng.random(images.shape)) / 17.0
    left = images[:, :, :4].reshape(len(images), -1)
    right = images[:, :, 4:].reshape(len(images), -1)
    order = rng.permutation(len(images))
    test, pairs, rest = np.split(order, [n_test, n_test + n_pairs])
    if len(rest) < 2:
        raise ValueError(f"n_pairs={n_pairs} leaves no unpaired images")
    rest_x, rest_y = np.array_split(rest, 2)
    return DigitHalves(
        left[pairs], right[pairs], left[rest_x], right[rest_y], left[test], right[test]
    )
