"""The interface every solver implements; :func:`theoropt.convex.minimize` drives it."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

from theoropt.convex.arrays import Array
from theoropt.convex.oracle import NumericalBreakdown, Oracle


@dataclass
class Iterate:
    """What one iteration produced.

    ``x`` is the method's current approximate minimiser (the point its guarantee is about);
    ``f`` and ``grad`` are given when the method evaluated them at ``x`` itself, otherwise the
    driver evaluates them for monitoring. ``step`` is the stepsize used (eta_k / lambda_k).
    """

    x: Array
    f: float | None
    grad: Array | None
    step: float


class Method(ABC):
    """A first-order method: ``start()`` evaluates at x0, each ``step()`` is one iteration.

    Subclasses take their hyperparameters as keyword-only constructor arguments with
    documented defaults, validated in the constructor. All evaluations go through ``oracle``.
    """

    name: ClassVar[str]

    def __init__(self, oracle: Oracle, x0: Array):
        self.oracle = oracle
        self.x0 = x0

    @abstractmethod
    def start(self) -> Iterate:
        """Evaluate at the starting point and return iterate 0."""

    @abstractmethod
    def step(self) -> Iterate:
        """One iteration."""


def usable_step(step: float) -> float:
    """``step`` if it is a positive number (finite or not); otherwise the run cannot continue
    (e.g. a gradient difference overflowed and the local stepsize bound underflowed to 0)."""
    if not step > 0.0:
        raise NumericalBreakdown(f"stepsize {step!r} is unusable")
    return step
