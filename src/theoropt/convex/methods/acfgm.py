"""Auto-conditioned fast gradient method, AC-FGM (Li & Lan, "A simple uniformly optimal method
without line search for convex optimization", Math. Program. 2025, arXiv:2310.10082), for
smooth f, in the form of the authors' reference implementation (github.com/tli432/
AC-FGM-Implementation, ``universal_AC_FGM`` with eps = 0), which has the parameter ``alpha``:

    first step (t = 1):  x_1 = z_1 = x_0 - eta_1 ∇f(x_0),   y_1 = y_0 = x_0
    for t >= 2:
      eta_2 = min((1 - beta) eta_1, 1 / (4 L_1))
      eta_t = min(4/3 eta_{t-1}, (tau_{t-2} + 1)/tau_{t-1} eta_{t-1}, tau_{t-1}/(4 L_{t-1}))  t >= 3
      tau_t = tau_{t-1} + alpha/2 + 2 (1 - alpha) eta_t L_{t-1} / tau_{t-1}
      z_t   = y_{t-1} - eta_t ∇f(x_{t-1})
      y_t   = (1 - beta) y_{t-1} + beta z_t
      x_t   = (z_t + tau_t x_{t-1}) / (1 + tau_t)

with ``tau_0 = 0``, ``tau_1 = 1`` and the local smoothness estimate
``L_t = 1/Λ(x_{t-1}; x_t)`` (see :mod:`..curvature`; 0 when no curvature is seen — equal
gradients or a Bregman term that is not positive — which leaves only the growth caps; the
reference code keeps eta unchanged at L_t = 0 and gets eta = 0 from a zero Bregman term with
unequal gradients). The stepsize grows by at most the factor
``min(4/3, 1 + 1/tau_{t-1})`` per iteration; ``x_t`` is the output.

The first stepsize: with ``eta0=None`` (the default) it comes from the authors' initial line
search: a local Lipschitz estimate ``L_0`` from one probe point (ours: a step of length
``1e-3 max(1, ||x_0||)`` along ``-∇f(x_0)``; the reference code probes ``x_0 - 0.1``), then
``L = 1.5^i L_0 / 4`` and ``eta_1 = 1/(2.5 L)`` for i = 0, 1, ... until
``||∇f(x_1) - ∇f(x_0)|| <= L ||x_1 - x_0||``, and ``L_1 = L``. Every trial costs one
evaluation; a trial where f or ∇f overflows counts as failed. With ``eta0`` given,
``eta_1 = eta0`` and ``L_1 = 1/Λ(x_0; x_1)`` (no line search): this is how the experiment
compares every parameter-free method from the same tiny first step.
"""

from __future__ import annotations

import math

from theoropt.convex.arrays import Array, norm
from theoropt.convex.curvature import inverse_curvature
from theoropt.convex.methods.base import Iterate, Method
from theoropt.convex.oracle import NonFiniteEvaluation, NumericalBreakdown, Oracle
from theoropt.convex.validation import in_interval, positive, real_number

THEORY_BETA = 1 - math.sqrt(6) / 3
"""The largest ``beta`` of the paper's analysis (≈ 0.18350); the authors' code uses 0.184 and
allows any beta in (0, 1)."""
MAX_GROWTH = 4 / 3
LINE_SEARCH_TRIALS = 200
PROBE_DISTANCE = 1e-3  # relative to max(1, ||x_0||): where the line search's L_0 is measured


class ACFGM(Method):
    """AC-FGM; ``beta`` in (0, 1) (default ``1 - sqrt(6)/3`` ≈ 0.18350, the largest value of the
    paper's analysis; the authors' implementation defaults to 0.184), ``alpha`` in [0, 1]
    (default 0.1, the authors' default); ``eta0`` the first stepsize (default ``None``: the
    initial line search of the module docstring)."""

    name = "ac-fgm"

    def __init__(
        self,
        oracle: Oracle,
        x0: Array,
        *,
        eta0: float | None = None,
        beta: float = THEORY_BETA,
        alpha: float = 0.1,
    ):
        super().__init__(oracle, x0)
        self.eta0 = None if eta0 is None else positive("eta0", eta0)
        self.beta = in_interval("beta", beta, 0.0, 1.0, closed_high=False)
        self.alpha = real_number("alpha", alpha)
        if not 0.0 <= self.alpha <= 1.0:
            raise ValueError(f"alpha must lie in [0, 1], got {alpha!r}")

    def start(self) -> Iterate:
        self.x = self.y = self.x0
        self.f, self.grad = self.oracle(self.x)
        self.t, self.tau_prev, self.tau = 1, 0.0, 1.0
        self.eta = math.nan if self.eta0 is None else self.eta0
        return Iterate(self.x, self.f, self.grad, self.eta)

    def step(self) -> Iterate:
        if self.t == 1:
            x, f, grad = self._first_step()
        else:
            x, f, grad = self._accelerated_step()
        self.x, self.f, self.grad, self.t = x, f, grad, self.t + 1
        return Iterate(x, f, grad, self.eta)

    def _first_step(self) -> tuple[Array, float, Array]:
        if self.eta0 is not None:
            x = self.x - self.eta * self.grad
            f, grad = self.oracle(x)
            self.smoothness = 1 / inverse_curvature(self.x, self.f, self.grad, x, f, grad)
            return x, f, grad
        guess = self._probe_lipschitz()
        for trial in range(LINE_SEARCH_TRIALS):
            smoothness = 1.5**trial * guess / 4
            self.eta = 1 / (2.5 * smoothness)
            x = self.x - self.eta * self.grad
            try:
                f, grad = self.oracle(x)
            except NonFiniteEvaluation:
                continue  # an overflowing trial fails the test like any other
            if norm(grad - self.grad) <= smoothness * norm(x - self.x):
                self.smoothness = smoothness
                return x, f, grad
        raise NumericalBreakdown(f"the initial line search failed in {LINE_SEARCH_TRIALS} trials")

    def _probe_lipschitz(self) -> float:
        """``||∇f(p) - ∇f(x_0)|| / ||p - x_0||`` at a probe point p along -∇f(x_0) (1 if the
        gradient is zero or does not change there)."""
        direction = norm(self.grad)
        if direction == 0.0:
            return 1.0
        distance = PROBE_DISTANCE * max(1.0, norm(self.x))
        probe = self.x - (distance / direction) * self.grad
        _, grad = self.oracle(probe)
        ratio = norm(grad - self.grad) / distance
        return ratio if ratio > 0.0 else 1.0

    def _accelerated_step(self) -> tuple[Array, float, Array]:
        cap = self.tau / (4 * self.smoothness) if self.smoothness > 0 else math.inf
        if self.t == 2:
            self.eta = min((1 - self.beta) * self.eta, cap)
        else:
            growth = min(MAX_GROWTH, (self.tau_prev + 1) / self.tau)
            self.eta = min(growth * self.eta, cap)
        increment = self.alpha / 2 + 2 * (1 - self.alpha) * self.eta * self.smoothness / self.tau
        self.tau_prev, self.tau = self.tau, self.tau + increment
        z = self.y - self.eta * self.grad
        self.y = (1 - self.beta) * self.y + self.beta * z
        x = (z + self.tau * self.x) / (1 + self.tau)
        f, grad = self.oracle(x)
        self.smoothness = 1 / inverse_curvature(self.x, self.f, self.grad, x, f, grad)
        return x, f, grad
