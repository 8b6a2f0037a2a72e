"""Accelerated GRAAL (Borodich & Kovalev, "Nesterov finds GRAAL: optimal and adaptive gradient
method for convex optimization", ICLR 2026). With g = ∇f and Λ from :mod:`..curvature`:

    alpha_{k+1} = (1 + gamma) eta_k / (H_k + (1 + gamma) eta_k)
    x_{k+1}     = x_k - eta_k g(xt_k)
    xb_{k+1}    = beta_k xt_k + (1 - beta_k) xb_k
    xh_{k+1}    = x_{k+1} + theta (x_{k+1} - x_k)
    xt_{k+1}    = alpha_{k+1} xh_{k+1} + (1 - alpha_{k+1}) xb_{k+1}
    lam_{k+1}   = min(Λ(xb_{k+1}; xt_k), Λ(xb_{k+1}; xt_{k+1}))
    eta_{k+1}   = min((1 + gamma) eta_k, nu H_{k-1} lam_{k+1} / eta_{k-1})
    H_{k+1}     = H_k + eta_{k+1},    beta_{k+1} = eta_{k+1} / (alpha_{k+1} H_{k+1})

with ``4 nu theta (1 + gamma)² = gamma``, ``alpha_0 = beta_0 = 1``,
``H_0 = H_{-1} = eta_{-1} = eta_0`` and ``xt_0 = xb_0 = x_0``; the output is ``xb_k``. Each
iteration evaluates f and g at ``xt_{k+1}`` and ``xb_{k+1}`` (two gradient evaluations; the
first iteration reuses the evaluation at x_0 because ``xb_1 = x_0``). This recursion was
checked numerically (accelerated rate, see docs/convex.md); the defaults
``theta = 0.5, gamma = 1`` (``nu = 1/8``) were chosen by the experiment documented there.

Safeguards (ours, not in the paper; the evaluations they spend are counted):

- ``restart_on_overflow``: if f or ∇f overflows at a trial point (e.g. eta0 = 1e4 on an
  exponential objective), restart from the last finite output ``xb`` with ``eta0 = eta_k / 10``
  (off: the run stops as diverged).
- ``restart_on_large_eta0``: the paper's complexity bound (its Corollary 2) assumes
  ``eta0 L <= 1``. Since ``Λ >= 1/L`` for every L-smooth convex f, a first step after a
  (re)start with ``lam_1 < eta0 / 2`` proves ``eta0 L > 2``; the method then restarts from
  ``xb`` (x0 unless an overflow restart came first) with ``eta0 = max(lam_1, eta0 / 10)``, and
  checks again. The factor 2 keeps rounding noise in ``lam`` from triggering restarts; the
  decrease by at most 10 per restart keeps one far-away trial point (where the curvature may be
  huge, e.g. on cosh) from setting a needlessly tiny step. Without it a too large eta0 inflates
  ``H_k`` for the whole run (measured: 4-17x more evaluations from eta0 = 1e4); with it each
  restart costs one evaluation. It never fires from a tiny eta0.
"""

from __future__ import annotations

import math

from theoropt.convex.arrays import Array
from theoropt.convex.curvature import inverse_curvature
from theoropt.convex.methods.base import Iterate, Method
from theoropt.convex.oracle import NonFiniteEvaluation, NumericalBreakdown, Oracle
from theoropt.convex.validation import positive

DEFAULT_THETA = 0.5
DEFAULT_GAMMA = 1.0


def coupled_nu(theta: float, gamma: float) -> float:
    """The ``nu`` that satisfies ``4 nu theta (1 + gamma)² = gamma``."""
    return gamma / (4 * theta * (1 + gamma) ** 2)


class AcceleratedGRAAL(Method):
    """Accelerated GRAAL.

    ``eta0`` (default 1e-10, the paper's suggestion: far below any 1/L, so no knowledge of L
    is used); ``theta`` (default 0.5) and ``gamma`` (default 1.0); ``nu`` defaults to the value
    the coupling ``4 nu theta (1 + gamma)² = gamma`` gives, and if passed must satisfy it;
    ``restart_on_overflow`` and ``restart_on_large_eta0`` (both default True) are the
    safeguards described in the module docstring.
    """

    name = "acc-graal"

    def __init__(
        self,
        oracle: Oracle,
        x0: Array,
        *,
        eta0: float = 1e-10,
        theta: float = DEFAULT_THETA,
        gamma: float = DEFAULT_GAMMA,
        nu: float | None = None,
        restart_on_overflow: bool = True,
        restart_on_large_eta0: bool = True,
    ):
        super().__init__(oracle, x0)
        self.eta = positive("eta0", eta0)
        self.restart_on_overflow = bool(restart_on_overflow)
        self.restart_on_large_eta0 = bool(restart_on_large_eta0)
        self.theta = positive("theta", theta)
        self.gamma = positive("gamma", gamma)
        self.nu = coupled_nu(self.theta, self.gamma)
        if nu is not None:
            given = positive("nu", nu)
            if not math.isclose(given, self.nu, rel_tol=1e-9):
                raise ValueError(
                    f"theta, gamma and nu must satisfy 4*nu*theta*(1+gamma)**2 = gamma; with "
                    f"theta={theta!r}, gamma={gamma!r} that needs nu={self.nu!r}, got nu={nu!r}"
                )

    def start(self) -> Iterate:
        f, grad = self.oracle(self.x0)
        self._restart(self.x0, f, grad, self.eta)
        return Iterate(self.xb, self.fb, self.gb, self.eta)

    def _restart(self, x: Array, f: float, grad: Array, eta: float) -> None:
        self.x = self.xt = self.xb = x
        self.ft, self.fb, self.gt, self.gb = f, f, grad, grad
        self.eta = self.H = self.H_prev = self.eta_prev = eta
        self.beta = 1.0
        self.fresh = True

    def step(self) -> Iterate:
        try:
            return self._step()
        except NonFiniteEvaluation:
            smaller = self.eta / 10
            if not self.restart_on_overflow or smaller <= 0.0:
                raise
            self._restart(self.xb, self.fb, self.gb, smaller)
            return Iterate(self.xb, self.fb, self.gb, smaller)

    def _step(self) -> Iterate:
        eta, growth = self.eta, 1 + self.gamma
        alpha = growth * eta / (self.H + growth * eta)
        x_next = self.x - eta * self.gt
        if self.beta == 1.0:
            xb, fb, gb = self.xt, self.ft, self.gt
        else:
            xb = self.beta * self.xt + (1 - self.beta) * self.xb
            fb, gb = self.oracle(xb)
        xt = alpha * (x_next + self.theta * (x_next - self.x)) + (1 - alpha) * xb
        ft, gt = self.oracle(xt)
        lam = min(
            inverse_curvature(xb, fb, gb, self.xt, self.ft, self.gt),
            inverse_curvature(xb, fb, gb, xt, ft, gt),
        )
        if self.fresh and self.restart_on_large_eta0 and lam < eta / 2:
            smaller = max(lam, eta / 10)
            self._restart(self.xb, self.fb, self.gb, smaller)
            return Iterate(self.xb, self.fb, self.gb, smaller)
        self.fresh = False
        eta_next = min(growth * eta, self.nu * self.H_prev * lam / self.eta_prev)
        if not (0.0 < eta_next < math.inf and 0.0 < alpha):
            raise NumericalBreakdown(f"stepsize eta={eta_next!r} (alpha={alpha!r}) is unusable")
        self.H_prev, self.H = self.H, self.H + eta_next
        self.eta_prev, self.eta = eta, eta_next
        self.beta = eta_next / (alpha * self.H)
        self.x, self.xt, self.ft, self.gt = x_next, xt, ft, gt
        self.xb, self.fb, self.gb = xb, fb, gb
        return Iterate(xb, fb, gb, eta)
