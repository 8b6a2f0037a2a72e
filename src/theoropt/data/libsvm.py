"""Loader for the shipped LIBSVM binary-classification files."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from sklearn.datasets import load_svmlight_file

from theoropt.data.registry import describe, verified_path
from theoropt.errors import DataError


@lru_cache(maxsize=8)
def _load_cached(name: str, directory: Path | None) -> tuple[sp.csr_matrix, np.ndarray]:
    entry = describe(name)
    if entry.kind != "libsvm":
        raise DataError(f"data set {name!r} is {entry.kind}, not a LIBSVM classification set")
    path = verified_path(name, directory)
    features, labels = load_svmlight_file(str(path), n_features=entry.n_features)
    classes = np.unique(labels)
    if classes.size != 2:
        raise DataError(f"{path} has {classes.size} label values, expected 2")
    # Map the larger label to +1 and the smaller to -1 (mushrooms uses 1/2, the others -1/+1).
    signs = np.where(labels == classes[1], 1.0, -1.0)
    return sp.csr_matrix(features, dtype=np.float64), signs


def load_libsvm(
    name: str, *, dense: bool = False, directory: Path | None = None
) -> tuple[np.ndarray | sp.csr_matrix, np.ndarray]:
    """Features ``X`` (n x d, float64) and labels ``y`` in {-1, +1} of a shipped LIBSVM set.

    ``name`` is one of ``"mushrooms"``, ``"w8a"``, ``"a9a"``. ``X`` is a CSR matrix unless
    ``dense=True``. The file's checksum is verified before it is parsed.
    """
    features, labels = _load_cached(name, directory)
    out = features.toarray() if dense else features.copy()
    return out, labels.copy()
