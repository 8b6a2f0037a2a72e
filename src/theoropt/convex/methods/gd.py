"""Gradient descent with the constant stepsize 1/L (Nesterov, *Lectures on Convex
Optimization*, 2018, §2.1.5): ``x_{k+1} = x_k - ∇f(x_k)/L``, with
``f(x_k) - f* <= L ||x_0 - x*||² / (2k)`` for convex L-smooth f."""

from __future__ import annotations

from theoropt.convex.arrays import Array
from theoropt.convex.methods.base import Iterate, Method
from theoropt.convex.oracle import Oracle
from theoropt.convex.validation import positive


class GradientDescent(Method):
    """Gradient descent; ``L`` (required) is the Lipschitz constant of the gradient."""

    name = "gd"

    def __init__(self, oracle: Oracle, x0: Array, *, L: float):
        super().__init__(oracle, x0)
        self.step_size = 1.0 / positive("L", L)

    def start(self) -> Iterate:
        self.x = self.x0
        self.f, self.grad = self.oracle(self.x)
        return Iterate(self.x, self.f, self.grad, self.step_size)

    def step(self) -> Iterate:
        self.x = self.x - self.step_size * self.grad
        self.f, self.grad = self.oracle(self.x)
        return Iterate(self.x, self.f, self.grad, self.step_size)
