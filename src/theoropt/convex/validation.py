"""Checks of solver hyperparameters with messages that name the parameter and the rule."""

from __future__ import annotations

import math
import numbers


def real_number(name: str, value: object) -> float:
    """``value`` as a float; ``TypeError`` if it is not a real number (bools excluded)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    return float(value)


def positive(name: str, value: object, *, allow_inf: bool = False) -> float:
    """A float > 0 (finite unless ``allow_inf``)."""
    number = real_number(name, value)
    if math.isnan(number) or number <= 0 or (math.isinf(number) and not allow_inf):
        kind = "a positive number" if allow_inf else "a finite positive number"
        raise ValueError(f"{name} must be {kind}, got {value!r}")
    return number


def non_negative(name: str, value: object) -> float:
    """A finite float >= 0."""
    number = real_number(name, value)
    if not math.isfinite(number) or number < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return number


def in_interval(name: str, value: object, low: float, high: float, *, closed_high: bool) -> float:
    """A float in ``(low, high]`` (``closed_high``) or ``(low, high)``."""
    number = real_number(name, value)
    inside = low < number <= high if closed_high else low < number < high
    if not inside:
        bracket = "]" if closed_high else ")"
        raise ValueError(f"{name} must lie in ({low:g}, {high:g}{bracket}, got {value!r}")
    return number


def positive_int(name: str, value: object) -> int:
    """An int >= 1."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    return int(value)
