"""Adaptive GRAAL (after Alacaoglu, Böhm & Malitsky, "Beyond the golden ratio for variational
inequality algorithms", JMLR 2023): the aGRAAL recursion of :mod:`.graal` without the stepsize
cap ``lam_max``, which that work shows is not needed. Our reading of its constants is
unverified: we keep aGRAAL's ``phi`` range and growth factor ``rho = 1/phi + 1/phi²``."""

from __future__ import annotations

import math

from theoropt.convex.arrays import Array
from theoropt.convex.methods.graal import GRAAL
from theoropt.convex.oracle import Oracle


class AdaptiveGRAAL(GRAAL):
    """aGRAAL with no stepsize cap; ``phi`` (default 1.5) and ``eta0`` (default 1e-10)."""

    name = "adaptive-graal"

    def __init__(self, oracle: Oracle, x0: Array, *, eta0: float = 1e-10, phi: float = 1.5):
        super().__init__(oracle, x0, eta0=eta0, phi=phi, lam_max=math.inf)
