"""The few array operations the solvers need, for numpy arrays and torch tensors alike.

The solvers combine iterates with ``+``, ``-`` and scalar ``*`` (shared by both libraries) and
reduce with :func:`inner` and :func:`norm`, which return Python floats: stepsize rules are
scalar logic. Numpy inputs are computed in float64; torch tensors keep their floating dtype and
device (float64 is recommended when high accuracy is needed).
"""

from __future__ import annotations

from typing import Any, TypeAlias

import numpy as np
import scipy.sparse as sp
import torch

Array: TypeAlias = "np.ndarray | torch.Tensor"


def as_iterate(x0: Any) -> Array:
    """A private copy of the starting point as a float64 numpy array or a floating torch tensor.

    Raises ``TypeError`` for sparse, complex, boolean or non-numeric input and ``ValueError``
    for an empty or non-finite starting point.
    """
    x: Array
    if sp.issparse(x0):
        raise TypeError("x0 is a sparse matrix; pass a dense numpy array or torch tensor")
    if isinstance(x0, torch.Tensor):
        if x0.is_complex():
            raise TypeError(f"x0 has complex dtype {x0.dtype}; only real inputs are supported")
        if x0.dtype == torch.bool:
            raise TypeError("x0 has dtype torch.bool; pass a floating-point tensor")
        x = x0.detach().clone()
        if not x.is_floating_point():
            x = x.to(torch.float64)
        finite = bool(torch.isfinite(x).all())
    else:
        array = np.asarray(x0)
        if np.iscomplexobj(array):
            raise TypeError(f"x0 has complex dtype {array.dtype}; only real inputs are supported")
        if array.dtype.kind not in "fiu":
            raise TypeError(f"x0 has dtype {array.dtype}; pass real numbers")
        x = np.array(array, dtype=np.float64)
        finite = bool(np.isfinite(x).all())
    size = x.numel() if isinstance(x, torch.Tensor) else x.size
    if x.ndim == 0 or size == 0:
        raise ValueError(f"x0 must be a non-empty array with at least one dimension, got {x!r}")
    if not finite:
        raise ValueError("x0 contains NaN or infinite values")
    return x


def copy_of(x: Array) -> Array:
    """A copy of an iterate (what user callables receive, so that they cannot modify it)."""
    return x.clone() if isinstance(x, torch.Tensor) else x.copy()


def inner(a: Array, b: Array) -> float:
    """Euclidean inner product of two arrays of the same shape, as a Python float."""
    if isinstance(a, torch.Tensor) != isinstance(b, torch.Tensor):
        raise TypeError("inner: pass two numpy arrays or two torch tensors, not one of each")
    if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor):
        return float(torch.vdot(a.reshape(-1), b.reshape(-1)))
    return float(np.vdot(a, b))


def norm(a: Array) -> float:
    """Euclidean norm of an array (all entries), as a Python float."""
    if isinstance(a, torch.Tensor):
        return float(torch.linalg.vector_norm(a))
    return float(np.linalg.norm(a.reshape(-1)))


def all_finite(a: Array) -> bool:
    """True when every entry is finite."""
    if isinstance(a, torch.Tensor):
        return bool(torch.isfinite(a).all())
    return bool(np.isfinite(a).all())


def to_float(value: Any) -> float:
    """A scalar objective value (Python, numpy or one-element tensor) as a Python float."""
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            shape = tuple(value.shape)
            raise ValueError(f"fun must return a scalar, got a tensor of shape {shape}")
        return float(value.detach())
    try:
        array = np.asarray(value)
    except ValueError:  # ragged nested sequences
        raise ValueError(f"fun must return a scalar, got {value!r}") from None
    if array.size != 1:
        raise ValueError(f"fun must return a scalar, got an array of shape {array.shape}")
    if np.iscomplexobj(array):
        raise TypeError("fun returned a complex value; only real objectives are supported")
    if array.dtype.kind not in "biuf":  # strings, objects
        raise TypeError(f"fun must return a real number, got {value!r}")
    return float(array.reshape(()))
