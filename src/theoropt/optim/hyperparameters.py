"""Checks of optimizer hyperparameters and parameters, raising errors that name the problem."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np
import torch
from torch import Tensor


def plain_number(value: Any) -> Any:
    """A NumPy scalar (``np.float32(1e-3)``, ``np.int64(10)``, also inside a tuple such as
    ``betas``) as the Python number it holds; anything else unchanged.

    ``torch.optim`` accepts NumPy scalars as hyperparameters; kept as Python numbers they pass
    the checks below and a ``state_dict`` stays loadable with ``torch.load(weights_only=True)``.
    """
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, tuple):
        return tuple(plain_number(v) for v in value)
    return value


def plain_numbers(settings: dict[str, Any]) -> dict[str, Any]:
    """``settings`` with every value through :func:`plain_number`."""
    return {key: plain_number(value) for key, value in settings.items()}


def check_range(
    name: str,
    value: Any,
    low: float,
    high: float = math.inf,
    *,
    low_open: bool = False,
    high_open: bool = False,
) -> None:
    """``value`` must be a finite real number in the interval from ``low`` to ``high``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    below = value <= low if low_open else value < low
    above = value >= high if high_open else value > high
    if math.isnan(value) or below or above or (math.isinf(value) and math.isinf(high)):
        left = "(" if low_open else "["
        right = ")" if high_open or math.isinf(high) else "]"
        raise ValueError(f"{name} must lie in {left}{low}, {high}{right}, got {value}")


def check_lr(lr: Any, name: str = "lr") -> None:
    """A learning rate: a real number or a 1-element tensor (as ``torch.optim``), ``>= 0``."""
    if isinstance(lr, Tensor):
        if lr.numel() != 1:
            raise ValueError(f"Tensor {name} must be 1-element")
        if lr.is_complex() or not lr.is_floating_point():
            raise TypeError(f"a Tensor {name} must be real floating point, got {lr.dtype}")
        lr = float(lr)
    check_range(name, lr, 0.0)


def check_bool(name: str, value: Any) -> None:
    """``value`` must be ``True`` or ``False``."""
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, got {value!r}")


def check_optional_bool(name: str, value: Any) -> None:
    """``value`` must be ``None``, ``True`` or ``False``."""
    if value is not None:
        check_bool(name, value)


def check_int(name: str, value: Any, low: int) -> None:
    """``value`` must be an integer ``>= low``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < low:
        raise ValueError(f"{name} must be >= {low}, got {value}")


def check_momentum(momentum: float, dampening: float, nesterov: bool) -> None:
    """SGD-style momentum settings (the same rules as ``torch.optim.SGD``)."""
    check_range("momentum", momentum, 0.0, 1.0, high_open=True)
    check_range("dampening", dampening, 0.0, 1.0)
    if nesterov and (momentum <= 0 or dampening != 0):
        raise ValueError("nesterov momentum requires momentum > 0 and dampening = 0")


def check_schedule(total_steps: Any, sign_fraction: Any, eps: Any, tmax: Any) -> None:
    """Settings of the Softsign phase schedule."""
    check_int("total_steps", total_steps, 1)
    check_range("sign_fraction", sign_fraction, 0.0, 1.0)
    check_range("eps", eps, 0.0, 1.0, low_open=True, high_open=True)
    if 1.0 - eps == 1.0:  # the soft map's inverse at 1 - eps would be infinite
        raise ValueError(
            f"eps must be at least 2**-53 (about 1.1e-16), so that 1 - eps is below 1 in "
            f"double precision, got {eps}"
        )
    check_range("tmax", tmax, 1.0)


ELEMENTWISE_TMAX = 1e38
"""The largest ``tmax`` of a soft map applied entry by entry (SoftSignum; SoftMuon's maps by
SVD): the temperature multiplies float32 entries (twice it, for tanh's ``2 sigmoid(2z) - 1``),
so a larger one is infinite there and a zero entry gives ``0 * inf = NaN``."""


def check_elementwise_tmax(tmax: float) -> None:
    """``tmax`` of a soft map applied entry by entry: at most :data:`ELEMENTWISE_TMAX`."""
    if tmax > ELEMENTWISE_TMAX:
        raise ValueError(
            f"tmax must be at most {ELEMENTWISE_TMAX:g} for a soft map applied entry by entry "
            "(the temperature multiplies float32 entries; beyond, it overflows and a zero "
            f"entry becomes NaN), got {tmax}"
        )


def check_fused_foreach(fused: bool | None, foreach: bool | None, optimizer: str) -> None:
    """``fused`` and ``foreach`` are each ``None`` or a bool, not both ``True`` (torch's error)."""
    check_optional_bool("foreach", foreach)
    check_optional_bool("fused", fused)
    if fused and foreach:
        raise RuntimeError(f"{optimizer}: `fused` and `foreach` cannot be `True` together.")


def check_params(params: Iterable[Tensor], optimizer: str) -> None:
    """Real floating-point dense parameters only."""
    for p in params:
        if not isinstance(p, Tensor):
            raise TypeError(f"{optimizer} params must be tensors, got {type(p).__name__}")
        if p.is_complex():
            raise TypeError(f"{optimizer} does not support complex parameters")
        if not p.is_floating_point():
            raise TypeError(f"{optimizer} needs floating-point parameters, got {p.dtype}")


def check_grad(p: Tensor, optimizer: str) -> Tensor:
    """The dense, real gradient of ``p`` (errors for sparse and complex gradients)."""
    grad = p.grad
    if grad is None:
        raise ValueError(f"{optimizer}: a parameter without a gradient reached the update")
    if grad.is_sparse:
        raise RuntimeError(f"{optimizer} does not support sparse gradients")
    if torch.is_complex(grad):
        raise RuntimeError(f"{optimizer} does not support complex gradients")
    return grad


def as_float(value: float | Tensor) -> float:
    """A hyperparameter that may be a 1-element tensor (a tensor ``lr``) as a Python float."""
    return float(value) if isinstance(value, Tensor) else value
