"""The experiments: one module each, exposing ``EXPERIMENT`` (see theoropt.bench.registry)."""
