"""AdaNAG, the adaptive Nesterov accelerated gradient method of Suh & Ma ("An adaptive and
parameter-free Nesterov's accelerated gradient method for convex optimization",
arXiv:2505.11670, 2025), in its generalized form (we could read only the paper's abstract and
introduction; see docs/convex.md for what this transcription was checked against).

With parameter sequences ``tau_k >= 1`` and ``alpha_k > 0`` and

    A_k = alpha_{k+1} tau_{k+1} (tau_{k+1} - 1)   (A_{-1} = 0)
    B_k = alpha_k² tau_k² ((tau_k - 1)² / (alpha_{k-1} tau_{k-1}²) - 1)

each iteration is, from ``x_0 = z_0`` and ``s_0 = eta0``:

    y_{k+1} = x_k - s_k ∇f(x_k)
    z_{k+1} = z_k - s_k alpha_k tau_k ∇f(x_k)
    x_{k+1} = (1 - 1/tau_{k+1}) y_{k+1} + (1/tau_{k+1}) z_{k+1}
    s_{k+1} = min( (A_{k-1} + alpha_k tau_k) / A_k * s_k,
                   Λ(x_k; x_{k+1}) / (A_k/B_k + (B_{k+1} + alpha_{k+1}² tau_{k+1}²) / A_k) )

where Λ (see :mod:`..curvature`) is the inverse of the local smoothness estimate
``L_{k+1} = ||∇f(x_{k+1}) - ∇f(x_k)||² / (2 B_f(x_k; x_{k+1}))``; when Λ carries no
information (+inf: equal gradients or a Bregman term that is not positive) only the growth
bound applies. The sequences are ``tau_k = (k + 2 + m)/m`` and
``alpha_k = (tau_{k+1} - 1)² / (2 tau_k²)`` with ``m = 12`` by default ("AdaNAG-G12"; with
this alpha, B_k equals alpha_k² tau_k²). The per-iteration growth factor of s is then about
``1 + (m - 2)/k``: polynomial growth, s_k ~ k^(m-2), the behaviour Borodich & Kovalev contrast
with accelerated GRAAL's geometric growth. The reported iterate is ``x_k``, where f and ∇f are
evaluated (one evaluation per iteration); ``step`` is the ``s_k`` that produced it.
"""

from __future__ import annotations

from theoropt.convex.arrays import Array
from theoropt.convex.curvature import inverse_curvature
from theoropt.convex.methods.base import Iterate, Method
from theoropt.convex.oracle import Oracle
from theoropt.convex.validation import positive


class AdaNAG(Method):
    """AdaNAG; ``eta0`` (default 1e-10) the first stepsize s_0, ``m`` (default 12, must be
    > 2 for the stepsize to be able to grow) the parameter of ``tau_k = (k + 2 + m)/m``."""

    name = "adanag"

    def __init__(self, oracle: Oracle, x0: Array, *, eta0: float = 1e-10, m: float = 12.0):
        super().__init__(oracle, x0)
        self.s = positive("eta0", eta0)
        self.m = positive("m", m)
        if self.m <= 2:
            raise ValueError(f"m must be > 2 (otherwise the stepsize can never grow), got {m!r}")

    def tau(self, k: int) -> float:
        return (k + 2 + self.m) / self.m

    def alpha(self, k: int) -> float:
        return (self.tau(k + 1) - 1) ** 2 / (2 * self.tau(k) ** 2)

    def a(self, k: int) -> float:
        if k == -1:
            return 0.0
        return self.alpha(k + 1) * self.tau(k + 1) * (self.tau(k + 1) - 1)

    def b(self, k: int) -> float:
        ratio = (self.tau(k) - 1) ** 2 / (self.alpha(k - 1) * self.tau(k - 1) ** 2)
        return self.alpha(k) ** 2 * self.tau(k) ** 2 * (ratio - 1)

    def start(self) -> Iterate:
        self.k = 0
        self.x = self.z = self.x0
        self.f, self.grad = self.oracle(self.x)
        return Iterate(self.x, self.f, self.grad, self.s)

    def step(self) -> Iterate:
        k, s = self.k, self.s
        tau_next = self.tau(k + 1)
        y = self.x - s * self.grad
        self.z = self.z - (s * self.alpha(k) * self.tau(k)) * self.grad
        x = (1 - 1 / tau_next) * y + (1 / tau_next) * self.z
        f, grad = self.oracle(x)
        lam = inverse_curvature(self.x, self.f, self.grad, x, f, grad)
        a_k = self.a(k)
        growth = (self.a(k - 1) + self.alpha(k) * self.tau(k)) / a_k
        weight = a_k / self.b(k) + (self.b(k + 1) + self.alpha(k + 1) ** 2 * tau_next**2) / a_k
        self.s = min(growth * s, lam / weight)
        self.x, self.f, self.grad, self.k = x, f, grad, k + 1
        return Iterate(x, f, grad, s)
