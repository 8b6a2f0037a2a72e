"""theoropt: SoftSignum/SoftMuon, adaptive convex solvers and inverse entropic OT."""

__version__ = "0.1.0.dev0"
