"""Nesterov's accelerated gradient method with known L (and optionally known mu).

``mu = 0`` (convex): the FISTA form of Beck & Teboulle (2009),
``x_{k+1} = y_k - ∇f(y_k)/L``, ``t_{k+1} = (1 + sqrt(1 + 4 t_k²))/2``,
``y_{k+1} = x_{k+1} + (t_k - 1)/t_{k+1} (x_{k+1} - x_k)``, with
``f(x_k) - f* <= 2 L ||x_0 - x*||² / (k + 1)²``.

``mu > 0`` (strongly convex): constant momentum ``(1 - sqrt(q))/(1 + sqrt(q))``, ``q = mu/L``
(Nesterov 2018, scheme 2.2.22), with
``f(x_k) - f* <= (1 - sqrt(q))^k (f(x_0) - f* + mu/2 ||x_0 - x*||²)``.
Gradients are evaluated at ``y_k``; the reported iterate is ``x_k``.
"""

from __future__ import annotations

import math

from theoropt.convex.arrays import Array
from theoropt.convex.methods.base import Iterate, Method
from theoropt.convex.oracle import Oracle
from theoropt.convex.validation import non_negative, positive


class Nesterov(Method):
    """Accelerated gradient; ``L`` required, ``mu`` (default 0) a known strong-convexity modulus."""

    name = "nesterov"

    def __init__(self, oracle: Oracle, x0: Array, *, L: float, mu: float = 0.0):
        super().__init__(oracle, x0)
        self.L = positive("L", L)
        self.mu = non_negative("mu", mu)
        if self.mu > self.L:
            raise ValueError(f"mu must not exceed L, got mu={mu!r} > L={L!r}")
        root = math.sqrt(self.mu / self.L)
        self.constant_momentum = (1 - root) / (1 + root) if self.mu > 0 else None

    def start(self) -> Iterate:
        self.x = self.y = self.x0
        self.t = 1.0
        f, self.grad_y = self.oracle(self.y)
        return Iterate(self.x, f, self.grad_y, 1.0 / self.L)

    def step(self) -> Iterate:
        x_next = self.y - self.grad_y / self.L
        if self.constant_momentum is None:
            t_next = (1 + math.sqrt(1 + 4 * self.t**2)) / 2
            momentum = (self.t - 1) / t_next
            self.t = t_next
        else:
            momentum = self.constant_momentum
        self.y = x_next + momentum * (x_next - self.x)
        self.x = x_next
        _, self.grad_y = self.oracle(self.y)
        return Iterate(self.x, None, None, 1.0 / self.L)
