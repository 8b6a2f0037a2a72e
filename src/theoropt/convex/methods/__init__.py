"""The solvers, one module each, registered by their ``method=`` name."""

from theoropt.convex.methods.acc_graal import AcceleratedGRAAL
from theoropt.convex.methods.acfgm import ACFGM
from theoropt.convex.methods.adanag import AdaNAG
from theoropt.convex.methods.adaptive_graal import AdaptiveGRAAL
from theoropt.convex.methods.adgd import AdGD
from theoropt.convex.methods.adgd2 import AdGD2
from theoropt.convex.methods.base import Iterate, Method
from theoropt.convex.methods.gd import GradientDescent
from theoropt.convex.methods.graal import GRAAL
from theoropt.convex.methods.nesterov import Nesterov

METHODS: dict[str, type[Method]] = {
    cls.name: cls
    for cls in (
        GradientDescent,
        Nesterov,
        AdGD,
        AdGD2,
        GRAAL,
        AdaptiveGRAAL,
        ACFGM,
        AdaNAG,
        AcceleratedGRAAL,
    )
}

__all__ = [
    "ACFGM",
    "GRAAL",
    "METHODS",
    "AcceleratedGRAAL",
    "AdGD",
    "AdGD2",
    "AdaNAG",
    "AdaptiveGRAAL",
    "GradientDescent",
    "Iterate",
    "Method",
    "Nesterov",
]
