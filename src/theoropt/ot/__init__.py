"""Entropic optimal transport: log-stabilised Sinkhorn and Sinkhorn–Newton–Sparse, the entropic
loss ``sinkhorn2`` and the Sinkhorn divergence (differentiable, lazy for point clouds), and
EBiEOT / LightSB conditional models (docs/ot.md)."""

from theoropt.ot._arrays import SinkhornConvergenceWarning
from theoropt.ot._conventions import SinkhornPrecisionWarning
from theoropt.ot.divergence import sinkhorn_divergence
from theoropt.ot.ebieot import EBiEOT, LightSB
from theoropt.ot.lazy import LazyPlan, sinkhorn_points
from theoropt.ot.metrics import energy_distance, energy_score
from theoropt.ot.sinkhorn import sinkhorn, sinkhorn2

__all__ = [
    "EBiEOT",
    "LazyPlan",
    "LightSB",
    "SinkhornConvergenceWarning",
    "SinkhornPrecisionWarning",
    "energy_distance",
    "energy_score",
    "sinkhorn",
    "sinkhorn2",
    "sinkhorn_divergence",
    "sinkhorn_points",
]
