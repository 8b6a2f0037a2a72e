"""Improved adaptive gradient descent (Malitsky & Mishchenko, "Adaptive proximal gradient method
for convex optimization", arXiv:2308.02261, 2023, Algorithm 2 without the proximal term), as in
the authors' code (github.com/ymalitsky/AdProxGD, ``AdProxGrad`` with ``ver = 2``):

    L_k     = ||∇f(x_k) - ∇f(x_{k-1})|| / ||x_k - x_{k-1}||
    lam_k   = min( sqrt(2/3 + theta_{k-1}) lam_{k-1},
                   lam_{k-1} / sqrt([2 lam_{k-1}² L_k² - 1]_+) )
    x_{k+1} = x_k - lam_k ∇f(x_k),   theta_k = lam_k / lam_{k-1},

with ``theta_0 = 1/3`` and ``x_1 = x_0 - lam_0 ∇f(x_0)``. The second bound is +inf while
``lam_{k-1} L_k <= 1/sqrt(2)`` (and when no curvature is seen: equal points or gradients), so
the step grows by up to ``sqrt(2/3 + theta)`` per iteration (at most about 1.37). Compared with
the 2020 AdGD (:mod:`.adgd`: bound ``1/(2 L_k)``) the step may reach ``1/(sqrt(2) L_k)`` and
beyond.

The first stepsize: by default (``eta0=None``) the authors' initial line search: from
``lam = 1e-2`` (their default), a
trial ``x_1 = x_0 - lam ∇f(x_0)`` is rejected and lam halved while ``lam L_1 > 2``; while no
trial has been rejected lam is multiplied by 10 until it exceeds 10. As in the authors' code,
the accepted lam_0 is the one after that last multiplication, i.e. ten times the trial step
that produced x_1 when the search ends by exceeding 10. Every trial costs one evaluation; a
trial where f or ∇f overflows counts as rejected (ours). A number ``eta0`` is used as lam_0
directly (no line search): this is how the experiment starts every parameter-free method from
the same tiny step. Where ``lam_{k-1}²`` or ``L_k²`` is beyond the float range (a step grown
without curvature, e.g. on an unbounded linear f) the second bound is evaluated as
``1 / (L_k sqrt(2 - 1/t²))`` with ``t = lam_{k-1} L_k``, the same number (ours).
"""

from __future__ import annotations

import math

from theoropt.convex.arrays import Array, norm
from theoropt.convex.methods.base import Iterate, Method, usable_step
from theoropt.convex.oracle import NonFiniteEvaluation, NumericalBreakdown, Oracle
from theoropt.convex.validation import positive

INITIAL_THETA = 1 / 3
LINE_SEARCH_START = 1e-2
LINE_SEARCH_TRIALS = 100


class AdGD2(Method):
    """Improved AdGD; ``eta0`` the first stepsize (default ``None``: the authors' initial line
    search of the module docstring)."""

    name = "adgd2"

    def __init__(self, oracle: Oracle, x0: Array, *, eta0: float | None = None):
        super().__init__(oracle, x0)
        self.eta0 = None if eta0 is None else positive("eta0", eta0)
        self.theta = INITIAL_THETA

    def start(self) -> Iterate:
        self.x = self.x0
        self.f, self.grad = self.oracle(self.x)
        self.previous: tuple[Array, Array] | None = None  # x and its gradient, one step back
        self.lam = math.nan if self.eta0 is None else self.eta0
        return Iterate(self.x, self.f, self.grad, self.lam)

    def step(self) -> Iterate:
        if self.previous is None:
            x, f, grad = self._first_step()
        else:
            lam = usable_step(self._next_stepsize(*self.previous))
            self.theta, self.lam = lam / self.lam, lam
            x = self.x - lam * self.grad
            f, grad = self.oracle(x)
        self.previous = self.x, self.grad
        self.x, self.f, self.grad = x, f, grad
        return Iterate(x, f, grad, self.lam)

    def _next_stepsize(self, x_prev: Array, grad_prev: Array) -> float:
        growth = math.sqrt(2 / 3 + self.theta) * self.lam
        distance = norm(self.x - x_prev)
        if distance == 0.0:
            return growth
        smoothness = norm(self.grad - grad_prev) / distance
        try:
            excess = 2 * self.lam**2 * smoothness**2 - 1
        except OverflowError:  # lam or L beyond 1e154: the same bound, with t = lam L factored
            t = self.lam * smoothness
            if t * t <= 0.5:
                return growth
            return min(growth, 1 / (smoothness * math.sqrt(2 - 1 / t / t)))
        return growth if excess <= 0 else min(growth, self.lam / math.sqrt(excess))

    def _first_step(self) -> tuple[Array, float, Array]:
        if self.eta0 is not None:
            x = self.x - self.eta0 * self.grad
            f, grad = self.oracle(x)
            return x, f, grad
        lam, large_steps = LINE_SEARCH_START, True
        for _ in range(LINE_SEARCH_TRIALS):
            x = self.x - lam * self.grad
            try:
                f, grad = self.oracle(x)
                distance = norm(x - self.x)
                accepted = distance == 0.0 or norm(grad - self.grad) <= 2 * distance / lam
            except NonFiniteEvaluation:
                accepted = False
            if not accepted:
                lam, large_steps = lam / 2, False
            elif large_steps:
                lam *= 10
                if lam > 10:
                    break
            else:
                break
        else:
            raise NumericalBreakdown(
                f"the initial line search failed in {LINE_SEARCH_TRIALS} trials"
            )
        self.lam = lam
        return x, f, grad
