"""Peak memory of the point-cloud losses, value and backward, at n = m = 20,000 in float64.

``sinkhorn_divergence`` (linear value: implicit gradient, one conjugate-gradient solve per
problem in the backward; or the regularised value: envelope gradient) computes every pass over
the 20,000 x 20,000 cost in blocks of ``batch_size`` rows, so its extra memory should stay near
a few blocks (``batch_size * m`` floats each), far below the 3 GiB of one dense float64 matrix.
Memory does not depend on the number of iterations, so a few suffice (``--iterations``; the
adjoint solve gets the same cap). Reports the peak resident memory above the baseline after the
inputs are made (target: 1.5 GiB) and the seconds per pass over the cost.

    python -m benchmarks.pointcloud_loss_memory [--n 20000] [--value linear] [--out DIR]
"""

from __future__ import annotations

import argparse
import resource
import time
from pathlib import Path

import torch

from benchmarks._report import emit
from theoropt.ot import sinkhorn_divergence


def peak_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--iterations", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--value", choices=["linear", "regularized"], default="linear")
    parser.add_argument("--quick", action="store_true", help="n = 4000")
    parser.add_argument("--out", type=Path, default=None)
    args, _ = parser.parse_known_args()
    n = 4000 if args.quick else args.n
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(n, 2, dtype=torch.float64, generator=generator, requires_grad=True)
    y = torch.rand(n, 2, dtype=torch.float64, generator=generator) + 0.5
    y.requires_grad_()
    baseline = peak_gib()
    start = time.perf_counter()
    value = sinkhorn_divergence(
        x, y, 0.05, value=args.value, max_iter=args.iterations, warn=False,
        batch_size=args.batch_size,
    )  # fmt: skip
    forward = time.perf_counter() - start
    after_forward = peak_gib()
    value.backward()
    backward = time.perf_counter() - start - forward
    peak = peak_gib()
    finite = bool(torch.isfinite(x.grad).all() and torch.isfinite(y.grad).all())
    rows = [[
        n, args.value, args.iterations, args.batch_size, f"{forward:.1f}", f"{backward:.1f}",
        f"{after_forward - baseline:.3f}", f"{peak - baseline:.3f}", f"{n * n * 8 / 2**30:.2f}",
    ]]  # fmt: skip
    emit(
        f"pointcloud_loss_memory_{args.value}",
        f"Point-cloud Sinkhorn divergence, value + backward, float64, {torch.get_num_threads()} "
        "threads, CPU",
        [
            "n",
            "value",
            "iterations",
            "batch_size",
            "forward_s",
            "backward_s",
            "extra_gib_forward",
            "extra_gib_total",
            "dense_matrix_gib",
        ],
        rows,
        [
            "target: extra_gib_total <= 1.5 at n = 20,000 (float64)",
            f"gradient finite: {finite}",
        ],
        args.out,
    )


if __name__ == "__main__":
    main()
