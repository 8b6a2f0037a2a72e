"""Local curvature estimates from two first-order evaluations, with the float-cancellation guard.

Notation of docs/convex.md and Borodich & Kovalev (2026): the Bregman divergence
``B_f(x; z) = f(x) - f(z) - <∇f(z), x - z>`` and the local inverse curvature
``Λ(x; z) = 2 B_f(x; z) / ||∇f(x) - ∇f(z)||²``. For an L-smooth convex f, ``Λ >= 1/L``.
"""

from __future__ import annotations

import math

from theoropt.convex.arrays import Array, inner, norm


def inverse_curvature(x: Array, fx: float, gx: Array, z: Array, fz: float, gz: Array) -> float:
    """``Λ(x; z)``, or ``+inf`` when it carries no information.

    ``+inf`` is returned when the gradients are equal (no curvature seen) and when the computed
    Bregman term is not positive. For a convex f, ``B_f >= 0`` exactly; a non-positive value
    comes from cancellation in ``f(x) - f(z)`` when x and z are close (e.g. a stepsize of
    1e-10). Treating it as "no curvature seen" keeps every stepsize positive; using the
    negative value would make the next step negative and the run diverge.
    """
    gradient_gap = norm(gx - gz) ** 2
    if gradient_gap == 0.0:
        return math.inf
    bregman = fx - fz - inner(gz, x - z)
    if not bregman > 0.0:
        return math.inf
    return 2.0 * bregman / gradient_gap
