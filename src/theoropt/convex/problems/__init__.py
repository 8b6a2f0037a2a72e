"""Convex test problems, each with f, ∇f, its optimal value f* and (where it exists) L.

``get_problem(name)`` returns a cached instance; ``PROBLEMS`` lists the names:

- ``logreg-{mushrooms,w8a,a9a}`` (``l2 = L/(10 n)``) and ``logreg-...-weak``
  (``l2 = L/(10^4 n)``): :mod:`.logistic`
- ``quadratic-random`` and ``quadratic-nesterov``: :mod:`.quadratic`
- ``quartic`` and ``cosh`` ((L0, L1)-smooth, not globally smooth): :mod:`.l0l1`
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache, partial

from theoropt.convex.problems.base import Problem
from theoropt.convex.problems.l0l1 import Cosh, Quartic
from theoropt.convex.problems.logistic import LogisticRegression, logistic_problem
from theoropt.convex.problems.quadratic import Quadratic, nesterov_worst_case, random_quadratic

_FACTORIES: dict[str, Callable[[], Problem]] = {
    **{
        f"logreg-{data}": partial(logistic_problem, data, 10.0)
        for data in ("mushrooms", "w8a", "a9a")
    },
    **{
        f"logreg-{data}-weak": partial(logistic_problem, data, 1e4)
        for data in ("mushrooms", "w8a", "a9a")
    },
    "quadratic-random": random_quadratic,
    "quadratic-nesterov": nesterov_worst_case,
    "quartic": Quartic,
    "cosh": Cosh,
}
PROBLEMS = tuple(_FACTORIES)
WITHOUT_GLOBAL_L = frozenset({"quartic", "cosh"})  # known without building the problem


@cache
def get_problem(name: str) -> Problem:
    """The problem called ``name`` (built once per process)."""
    if name not in _FACTORIES:
        raise ValueError(f"unknown problem {name!r}; choose one of {', '.join(PROBLEMS)}")
    return _FACTORIES[name]()


__all__ = [
    "PROBLEMS",
    "WITHOUT_GLOBAL_L",
    "Cosh",
    "LogisticRegression",
    "Problem",
    "Quadratic",
    "Quartic",
    "get_problem",
    "logistic_problem",
    "nesterov_worst_case",
    "random_quadratic",
]
