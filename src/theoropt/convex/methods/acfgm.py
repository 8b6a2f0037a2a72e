"""Auto-conditioned fast gradient method, AC-FGM (Li & Lan, "A simple uniformly optimal method
without line search for convex optimization", Math. Program. 2025), line-search-free variant:

    z_t = y_{t-1} - eta_t ∇f(x_{t-1})
    y_t = (1 - beta) y_{t-1} + beta z_t
    x_t = (z_t + tau_t x_{t-1}) / (1 + tau_t),          tau_1 = 0, tau_t = t/2 (t >= 2)

with the local smoothness estimate ``L_t = 1/Λ(x_{t-1}; x_t)`` (see :mod:`..curvature`) and

    eta_1 = eta0,   eta_2 = min(2 eta_1, beta / (2 L_1)),
    eta_t = min((tau_{t-1} + 1)/tau_t eta_{t-1}, tau_{t-1} / (4 L_{t-1}))   (t >= 3),

so the stepsize can grow by at most the factor (t+1)/t = 1 + 1/t per iteration. The paper
starts with a line search for eta_1; here eta_1 is given (the growth cap on eta_2 is ours, it
keeps a cancellation-dominated L_1 from a tiny eta_1 harmless). ``x_t`` is the output.
"""

from __future__ import annotations

import math

from theoropt.convex.arrays import Array
from theoropt.convex.curvature import inverse_curvature
from theoropt.convex.methods.base import Iterate, Method
from theoropt.convex.oracle import Oracle
from theoropt.convex.validation import in_interval, positive

MAX_BETA = 1 - math.sqrt(3) / 2


class ACFGM(Method):
    """AC-FGM; ``eta0`` (default 1e-10) the first stepsize, ``beta`` in (0, 1 - sqrt(3)/2]
    (default the upper end, ≈ 0.134)."""

    name = "ac-fgm"

    def __init__(self, oracle: Oracle, x0: Array, *, eta0: float = 1e-10, beta: float = MAX_BETA):
        super().__init__(oracle, x0)
        self.eta = positive("eta0", eta0)
        self.beta = in_interval("beta", beta, 0.0, MAX_BETA, closed_high=True)

    def start(self) -> Iterate:
        self.x = self.y = self.x0
        self.f, self.grad = self.oracle(self.x)
        self.t = 1
        return Iterate(self.x, self.f, self.grad, self.eta)

    def step(self) -> Iterate:
        t, eta = self.t, self.eta
        tau = 0.0 if t == 1 else t / 2
        z = self.y - eta * self.grad
        self.y = (1 - self.beta) * self.y + self.beta * z
        x = (z + tau * self.x) / (1 + tau)
        f, grad = self.oracle(x)
        smoothness = 1.0 / inverse_curvature(self.x, self.f, self.grad, x, f, grad)
        if t == 1:
            bound = self.beta / (2 * smoothness) if smoothness > 0 else math.inf
            self.eta = min(2 * eta, bound)
        else:
            bound = tau / (4 * smoothness) if smoothness > 0 else math.inf
            self.eta = min((tau + 1) / ((t + 1) / 2) * eta, bound)
        self.x, self.f, self.grad, self.t = x, f, grad, t + 1
        return Iterate(x, f, grad, eta)
