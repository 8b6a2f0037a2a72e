"""Adaptive gradient descent, AdGD (Malitsky & Mishchenko, "Adaptive gradient descent without
descent", ICML 2020, Algorithm 1):

    lam_k   = min( sqrt(1 + theta_{k-1}) lam_{k-1},
                   ||x_k - x_{k-1}|| / (2 ||∇f(x_k) - ∇f(x_{k-1})||) )
    x_{k+1} = x_k - lam_k ∇f(x_k),   theta_k = lam_k / lam_{k-1},

with ``lam_0 = eta0``, ``theta_0 = +inf`` and ``x_1 = x_0 - lam_0 ∇f(x_0)``. When neither bound
is finite (no curvature seen while theta is still +inf: equal gradients, e.g. x_1 = x_0 because
eta0 is below the float resolution of x_0) the step is kept, so theta becomes 1 and the growth
bound sqrt(1 + theta) lets the step grow from then on (the authors' code, with finite initial
theta and lam_{-1} = 1, grows it too); keeping theta at +inf froze such a run at x_0.
"""

from __future__ import annotations

import math

from theoropt.convex.arrays import Array, norm
from theoropt.convex.methods.base import Iterate, Method, usable_step
from theoropt.convex.oracle import Oracle
from theoropt.convex.validation import positive


class AdGD(Method):
    """AdGD; ``eta0`` (default 1e-10) is the first stepsize, tiny so that no knowledge of L
    is assumed."""

    name = "adgd"

    def __init__(self, oracle: Oracle, x0: Array, *, eta0: float = 1e-10):
        super().__init__(oracle, x0)
        self.lam = positive("eta0", eta0)
        self.theta = math.inf

    def start(self) -> Iterate:
        self.x = self.x0
        self.f, self.grad = self.oracle(self.x)
        self.previous: tuple[Array, Array] | None = None  # x and its gradient, one step back
        return Iterate(self.x, self.f, self.grad, self.lam)

    def step(self) -> Iterate:
        if self.previous is not None:
            x_prev, grad_prev = self.previous
            gap = norm(self.grad - grad_prev)
            local = norm(self.x - x_prev) / (2 * gap) if gap > 0 else math.inf
            lam = usable_step(min(math.sqrt(1 + self.theta) * self.lam, local))
            if not math.isfinite(lam):  # both bounds infinite: no information, keep the step
                lam = self.lam
            self.theta, self.lam = lam / self.lam, lam
        self.previous = self.x, self.grad
        self.x = self.x - self.lam * self.grad
        self.f, self.grad = self.oracle(self.x)
        return Iterate(self.x, self.f, self.grad, self.lam)
