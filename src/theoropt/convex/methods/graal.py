"""Adaptive golden ratio algorithm, aGRAAL (Malitsky, "Golden ratio algorithms for variational
inequalities", Math. Program. 2020, Algorithm 2), applied to the operator F = ∇f:

    lam_k     = min( rho lam_{k-1},
                     phi theta_{k-1} / (4 lam_{k-1}) ||z_k - z_{k-1}||² / ||F z_k - F z_{k-1}||²,
                     lam_max )
    zbar_k    = ((phi - 1) z_k + zbar_{k-1}) / phi
    z_{k+1}   = zbar_k - lam_k F(z_k),      theta_k = phi lam_k / lam_{k-1},

with ``rho = 1/phi + 1/phi²``, ``z_1 = z_0 - eta0 F(z_0)``, ``zbar_0 = z_1``, ``theta_0 = 1``.
"""

from __future__ import annotations

import math

from theoropt.convex.arrays import Array, norm
from theoropt.convex.methods.base import Iterate, Method, usable_step
from theoropt.convex.oracle import Oracle
from theoropt.convex.validation import in_interval, positive

GOLDEN_RATIO = (1 + math.sqrt(5)) / 2


class GRAAL(Method):
    """aGRAAL; ``phi`` in (1, golden ratio] (default 1.5), ``eta0`` (default 1e-10) the first
    stepsize, ``lam_max`` (default 1e6) the stepsize cap the convergence proof of the 2020 paper
    needs."""

    name = "graal"

    def __init__(
        self,
        oracle: Oracle,
        x0: Array,
        *,
        eta0: float = 1e-10,
        phi: float = 1.5,
        lam_max: float = 1e6,
    ):
        super().__init__(oracle, x0)
        self.lam = positive("eta0", eta0)
        self.phi = in_interval("phi", phi, 1.0, GOLDEN_RATIO, closed_high=True)
        self.lam_max = positive("lam_max", lam_max, allow_inf=True)
        self.rho = 1 / self.phi + 1 / self.phi**2
        self.theta = 1.0

    def start(self) -> Iterate:
        self.z_prev = self.x0
        f, self.grad_prev = self.oracle(self.z_prev)
        self.z = self.z_prev - self.lam * self.grad_prev
        self.zbar = self.z
        return Iterate(self.z_prev, f, self.grad_prev, self.lam)

    def step(self) -> Iterate:
        f, grad = self.oracle(self.z)
        gap = norm(grad - self.grad_prev) ** 2
        local = (
            self.phi * self.theta / (4 * self.lam) * norm(self.z - self.z_prev) ** 2 / gap
            if gap > 0
            else math.inf
        )
        lam = usable_step(min(self.rho * self.lam, local, self.lam_max))
        self.theta, self.lam = self.phi * lam / self.lam, lam
        self.zbar = ((self.phi - 1) * self.z + self.zbar) / self.phi
        current = Iterate(self.z, f, grad, lam)
        self.z_prev, self.grad_prev = self.z, grad
        self.z = self.zbar - lam * grad
        return current
