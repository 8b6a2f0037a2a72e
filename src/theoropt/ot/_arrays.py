"""Input checking (arrays, OT weights, hyperparameters) and numpy/torch round trips shared by
the OT solvers and models.

Every public entry point accepts numpy arrays or torch tensors and answers in the kind it was
given (POT's convention): numpy in -> numpy out, a tensor on some device -> a tensor there.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

ArrayLike = Any  # numpy.ndarray | torch.Tensor | nested sequences of numbers


def is_numpy_input(value: ArrayLike) -> bool:
    """True when ``value`` is not a torch tensor, so results are given back as numpy arrays."""
    return not isinstance(value, torch.Tensor)


def to_tensor(
    name: str,
    value: ArrayLike,
    *,
    ndim: int | tuple[int, ...],
    dtype: torch.dtype | None = None,
    device: torch.device | None = None,
    keep_float32: bool = False,
    allow_inf: bool = False,
) -> torch.Tensor:
    """``value`` as a dense real torch tensor with ``ndim`` dimensions and finite entries.

    numpy and list inputs (any memory layout; reversed views are copied) become float64 tensors
    (numpy's default precision), except float32 numpy arrays when ``keep_float32``; a floating
    tensor keeps its dtype unless ``dtype`` is given. ``allow_inf`` accepts ``+inf`` entries
    (never NaN or ``-inf``). Raises ``TypeError`` for sparse or complex input and ``ValueError``
    for a wrong number of dimensions or non-finite entries, naming ``name``.
    """
    if isinstance(value, torch.Tensor):
        if value.layout != torch.strided:
            raise TypeError(f"{name} is a sparse tensor; pass a dense tensor")
        tensor = value
    else:
        if hasattr(value, "toarray") or type(value).__module__.startswith("scipy.sparse"):
            raise TypeError(f"{name} is a scipy sparse matrix; pass a dense array")
        try:
            array = np.asarray(value)
        except ValueError as error:  # ragged nested sequences
            raise ValueError(f"{name} could not be read as a numeric array: {error}") from None
        if np.iscomplexobj(array):
            raise TypeError(f"{name} is complex; only real inputs are supported")
        if array.dtype.kind not in "biuf":  # objects, strings, dates
            raise TypeError(f"{name} could not be read as a numeric array (dtype {array.dtype})")
        if any(stride < 0 for stride in array.strides):  # a reversed view, e.g. x[::-1]:
            array = array.copy()  # torch cannot wrap negative strides
        if dtype is None:
            dtype = torch.float32 if keep_float32 and array.dtype == np.float32 else torch.float64
        tensor = torch.as_tensor(array, dtype=dtype)
    if tensor.is_complex():
        raise TypeError(f"{name} is complex; only real inputs are supported")
    if not tensor.is_floating_point():
        tensor = tensor.to(torch.float64 if dtype is None else dtype)
    if dtype is not None and tensor.dtype != dtype:
        tensor = tensor.to(dtype)
    if device is not None and tensor.device != device:
        tensor = tensor.to(device)
    allowed = (ndim,) if isinstance(ndim, int) else ndim
    if tensor.ndim not in allowed:
        want = " or ".join(str(d) for d in allowed)
        raise ValueError(f"{name} must have {want} dimension(s), got shape {tuple(tensor.shape)}")
    if allow_inf:
        lowest = float(tensor.detach().min()) if tensor.numel() else 0.0  # NaN propagates
        if math.isnan(lowest) or lowest == -math.inf:
            raise ValueError(f"{name} contains NaN or -inf values (only +inf is allowed)")
    elif not bool(torch.isfinite(tensor).all()):
        raise ValueError(f"{name} contains NaN or infinite values")
    return tensor


def to_output(tensor: torch.Tensor, numpy_out: bool) -> ArrayLike:
    """``tensor`` detached, as a numpy array when the caller passed numpy input."""
    tensor = tensor.detach()
    return tensor.cpu().numpy() if numpy_out else tensor


def to_values(tensor: torch.Tensor, numpy_out: bool) -> Any:
    """Per-problem values (a 0-d or 1-d tensor): kept as a tensor (with its autograd graph) for
    tensor input; a float or a numpy array for numpy input."""
    if not numpy_out:
        return tensor
    array = tensor.detach().cpu().numpy()
    return array[()] if array.ndim == 0 else array


def check_gradient_kept(numpy_out: bool, decider: str, **inputs: Any) -> None:
    """With a numpy ``decider`` (``M``, or ``x`` for point clouds) the result is a numpy array
    without autograd graph, so a tensor input that requires grad would lose its gradient
    silently: an error (POT refuses mixed numpy and torch inputs altogether)."""
    if not numpy_out or not torch.is_grad_enabled():
        return
    for name, value in inputs.items():
        if isinstance(value, torch.Tensor) and value.requires_grad:
            raise ValueError(
                f"{name} requires grad but {decider} is a numpy array, so the result would be a "
                f"numpy array without gradient; pass {decider} as a torch tensor"
            )


def reject_grad(name: str, value: Any) -> None:
    """A hyperparameter given as a tensor that requires grad is an error: no gradient with
    respect to it is computed, and it would otherwise be dropped silently."""
    if isinstance(value, torch.Tensor) and value.requires_grad:
        raise ValueError(
            f"{name} is a tensor that requires grad, but no gradient with respect to {name} is "
            f"computed; pass a number (e.g. {name}.item())"
        )


def real_number(name: str, value: Any) -> float:
    """A Python, numpy or 0-d torch real number as a float; ``TypeError`` naming ``name`` for
    anything else (strings, booleans, ``None``, sequences, complex numbers)."""
    if isinstance(value, str | bool | np.bool_) or np.ndim(value) != 0:
        raise TypeError(f"{name} must be a real number, got {value!r}")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a real number, got {value!r}") from None


def _check_number(name: str, value: float, *, allow_zero: bool) -> float:
    reject_grad(name, value)
    number = real_number(name, value)
    if not np.isfinite(number) or number < 0 or (number == 0 and not allow_zero):
        kind = "non-negative" if allow_zero else "positive"
        raise ValueError(f"{name} must be a finite {kind} number, got {value!r}")
    return number


def _check_integer(name: str, value: int, *, minimum: int) -> int:
    number = real_number(name, value)
    if not number.is_integer() or number < minimum:
        kind = "positive" if minimum == 1 else "non-negative"
        raise ValueError(f"{name} must be a {kind} integer, got {value!r}")
    return int(value)


def check_positive(name: str, value: float) -> float:
    """``value`` as a float, or a ``ValueError`` when it is not a finite positive number."""
    return _check_number(name, value, allow_zero=False)


def check_non_negative(name: str, value: float) -> float:
    """``value`` as a float, or a ``ValueError`` when it is not a finite number ``>= 0``."""
    return _check_number(name, value, allow_zero=True)


def check_positive_int(name: str, value: int) -> int:
    """``value`` as an int, or a ``ValueError`` when it is not a positive integer."""
    return _check_integer(name, value, minimum=1)


def check_non_negative_int(name: str, value: int) -> int:
    """``value`` as an int, or a ``ValueError`` when it is not an integer ``>= 0``."""
    return _check_integer(name, value, minimum=0)


class SinkhornConvergenceWarning(UserWarning):
    """The solver stopped at ``max_iter`` before the marginal error reached ``tol``."""


def is_empty(value: ArrayLike | None) -> bool:
    """``None`` or an empty sequence/array: POT's way of asking for uniform weights."""
    if value is None:
        return True
    return value.numel() == 0 if isinstance(value, torch.Tensor) else len(value) == 0


def histogram(
    name: str, value: ArrayLike | None, size: int, like: torch.Tensor, *, ndim: int = 1
) -> torch.Tensor:
    """Weights ``value`` (uniform when ``None`` or empty) as a positive tensor like ``like``.

    ``ndim=2`` also accepts a batch of weight vectors (one per row); the last axis has ``size``
    entries.
    """
    if is_empty(value):
        return torch.full((size,), 1.0 / size, dtype=like.dtype, device=like.device)
    weights = to_tensor(
        name, value, ndim=tuple(range(1, ndim + 1)), dtype=like.dtype, device=like.device
    )
    if weights.shape[-1] != size:
        raise ValueError(f"{name} has {weights.shape[-1]} entries but the cost has {size} there")
    if bool((weights <= 0).any()):
        raise ValueError(f"{name} must be positive; drop the points that carry zero mass")
    return weights


def check_balanced(a: torch.Tensor, b: torch.Tensor) -> None:
    """Balanced OT needs equal total masses (to 1e-6 relative), per problem of a batch."""
    mass_a, mass_b = a.detach().sum(-1).reshape(-1), b.detach().sum(-1).reshape(-1)
    mass_a, mass_b = torch.broadcast_tensors(mass_a, mass_b)
    gap = (mass_a - mass_b).abs() - 1e-6 * torch.maximum(mass_a, mass_b)
    worst = int(gap.argmax())
    if float(gap[worst]) > 0:
        raise ValueError(
            f"a and b must have equal total mass, got {float(mass_a[worst])} and "
            f"{float(mass_b[worst])}" + (f" (problem {worst})" if gap.numel() > 1 else "")
        )
