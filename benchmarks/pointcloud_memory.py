"""Point-cloud Sinkhorn (``cost="sqeuclidean"``) at n = m = 50,000: the cost is computed in
chunks, so peak memory stays near ``batch_size * m`` floats instead of the 20 GB a dense float64
cost (or plan) would take. Reports peak resident memory and seconds per iteration.

    python -m benchmarks.pointcloud_memory [--n 50000] [--iterations 2] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import resource
import time
import warnings
from pathlib import Path

import numpy as np

from theoropt.ot import SinkhornConvergenceWarning, sinkhorn


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=50_000)
    parser.add_argument("--iterations", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--reg", type=float, default=0.05)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    x, y = rng.random((args.n, 2)), rng.random((args.n, 2))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SinkhornConvergenceWarning)
        plan, info = sinkhorn(
            None, None, (x, y), args.reg, cost="sqeuclidean", max_iter=args.iterations,
            log=True, batch_size=args.batch_size,
        )  # fmt: skip
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    result = {
        "n": args.n,
        "iterations": info["n_iter"],
        "seconds_per_iteration": seconds / info["n_iter"],
        "marginal_err": info["marginal_err"],
        "peak_rss_gib": peak,
        "rss_before_gib": before,
        "dense_float64_matrix_gib": args.n * args.n * 8 / 2**30,
        "plan_shape": list(plan.shape),
    }
    for key, value in result.items():
        print(f"{key:>26}: {value}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
