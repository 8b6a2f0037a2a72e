"""POT's calling conventions for the Sinkhorn entry points: keyword and method aliases, the
``log`` dictionary's keys, ``verbose`` printing, and tolerances the inputs' precision can reach.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import torch

from theoropt.ot._arrays import SinkhornConvergenceWarning, check_non_negative, real_number
from theoropt.ot._scaling import Monitor

DEFAULT_TOL = 1e-9
DEFAULT_MAX_ITER = 10_000

# POT's method names and ours. All reach the same entropic plan; the algorithm behind POT's
# names here is ours (log-stabilised scaling), and "sinkhorn_epsilon_scaling" turns on
# epsilon scaling. POT's greenkhorn and screenkhorn are different algorithms, not provided.
METHOD_ALIASES = {
    "log": "log",
    "sns": "sns",
    "sinkhorn": "log",
    "sinkhorn_log": "log",
    "sinkhorn_stabilized": "log",
    "sinkhorn_epsilon_scaling": "log",
}
EPSILON_SCALING_METHOD = "sinkhorn_epsilon_scaling"
DEFAULT_EPSILON_RATIO = 0.5


class SinkhornPrecisionWarning(UserWarning):
    """The requested tolerance is below what the inputs' precision allows; a reachable one is
    used instead (see :func:`reachable_tolerance`)."""


def canonical_method(method: str) -> str:
    """Our method for ``method`` (ours or POT's name, any case), else a ``ValueError``."""
    name = str(method).lower()
    if name not in METHOD_ALIASES:
        raise ValueError(
            f"unknown method {method!r}; choose one of {sorted(METHOD_ALIASES)} "
            "(POT's greenkhorn/screenkhorn are not provided)"
        )
    return METHOD_ALIASES[name]


def epsilon_ratio(eps_scaling: Any) -> float | None:
    """``eps_scaling`` as a ratio in (0, 1), or ``None`` (no epsilon scaling). A ratio of 1 or
    more would never bring the schedule down to ``reg``."""
    if eps_scaling is None:
        return None
    ratio = real_number("eps_scaling", eps_scaling)
    if not 0.0 < ratio < 1.0:
        raise ValueError(f"eps_scaling must be a ratio in (0, 1), got {eps_scaling!r}")
    return ratio


def pot_alias(name: str, value: Any, alias: str, alias_value: Any, default: Any) -> Any:
    """``value`` or its POT spelling ``alias_value`` (never both), else ``default``."""
    if value is not None and alias_value is not None:
        raise TypeError(f"got both {name} and its POT alias {alias}; pass one")
    if value is not None:
        return value
    return default if alias_value is None else alias_value


def precision_floor(dtype: torch.dtype, mass: float, size: int) -> float:
    """Smallest marginal L1 error worth asking for in ``dtype`` with ``size = n + m``: each
    marginal entry is a sum rounded to about ``eps`` relative, so the L1 error stalls at a few
    ``eps * mass``, growing slowly with the size (measured, float32, unit mass, reg 0.05 on
    unit-square clouds: 6e-8 at n = 50, 6.6e-7 at n = 2000). We take
    ``eps * mass * max(16, sqrt(size))``, 3-10x above those stalls."""
    return torch.finfo(dtype).eps * mass * max(16.0, math.sqrt(size))


def reachable_tolerance(
    tol: float | None,
    dtype: torch.dtype,
    mass: float,
    mass_gap: float,
    size: int,
    warn: bool = True,
) -> float:
    """The stopping tolerance to use: ``tol`` (default 1e-9), raised to what the inputs allow.

    A balanced problem whose masses differ by ``mass_gap`` (accepted up to 1e-6 relative) has
    a plan whose total mass misses one of them by ``mass_gap / 2`` at best and by
    ``mass_gap`` after each Sinkhorn half-step; rounding in ``dtype`` adds to it (the error
    measured is ``mass_gap`` plus rounding, so ``mass_gap`` alone is met only by luck). An
    explicit ``tol`` below the floor (``0`` included: POT's way of asking for all
    ``numItermax`` iterations) gives a :class:`SinkhornPrecisionWarning` when ``warn``;
    the default is raised silently.
    """
    rounding = precision_floor(dtype, mass, size)
    floor = rounding + mass_gap
    if tol is None:
        return max(DEFAULT_TOL * mass, floor)
    tol = check_non_negative("tol", tol)
    if tol < floor and warn:
        gap = f"masses that differ by {mass_gap:.2g}"
        reason = gap if mass_gap > rounding else f"{dtype} inputs"
        warnings.warn(
            f"tol={tol:.3g} cannot be reached with {reason}; stopping at marginal error "
            f"{floor:.3g} instead",
            SinkhornPrecisionWarning,
            stacklevel=3,
        )
    return max(tol, floor)


def verbose_monitor(enabled: bool) -> Monitor | None:
    """POT-style progress table (iteration, marginal error) when ``enabled``."""
    if not enabled:
        return None
    state = {"rows": 0}

    def monitor(n_iter: int, err: float) -> None:
        if state["rows"] % 20 == 0:
            print("{:5s}|{:12s}".format("It.", "Err") + "\n" + "-" * 19)
        state["rows"] += 1
        print(f"{n_iter:5d}|{err:8e}|")

    return monitor


def warn_not_converged(
    enabled: bool, what: str, err: float, tol: float, n_iter: int, advice: str
) -> None:
    """A :class:`SinkhornConvergenceWarning` (POT: ``warn=True``) when ``err > tol``."""
    if enabled and not err <= tol:
        warnings.warn(
            f"{what} stopped with marginal error {err:.3g} > tol={tol:.3g} after {n_iter} "
            f"iterations; {advice}",
            SinkhornConvergenceWarning,
            stacklevel=3,
        )
