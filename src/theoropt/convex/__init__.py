"""Adaptive first-order solvers for smooth convex minimisation: ``minimize(fun, x0, ...)``.

Methods: gradient descent and Nesterov's method with known L (baselines), AdGD and its improved
2023 rule, aGRAAL, adaptive GRAAL, AC-FGM, AdaNAG and accelerated GRAAL (Borodich & Kovalev,
ICLR 2026). Test problems live in :mod:`theoropt.convex.problems`.
"""

from theoropt.convex.curvature import inverse_curvature
from theoropt.convex.methods import METHODS
from theoropt.convex.minimize import minimize

__all__ = ["METHODS", "inverse_curvature", "minimize"]
