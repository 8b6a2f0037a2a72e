"""Value + gradient time of our entropic losses against POT and GeomLoss, in one run.

Part 1 — ``sinkhorn2`` (linear value ``<P*, M>``, implicit gradient) against POT's
``ot.sinkhorn2`` with the torch backend (autodiff through its iterations; its default
``method="sinkhorn"`` and ``"sinkhorn_log"``), on ``M = ||x_i - y_j||^2`` of uniform points
(gradient in the points, through ``M``). ``value_err``/``grad_err``: relative error of the value
and largest error of the point gradients (relative to their largest entry) against a reference
(ours at tol 1e-12).

Part 2 — ``sinkhorn_divergence(value="regularized")`` (Feydy's debiased divergence, lazy,
envelope gradient) against GeomLoss ``SamplesLoss("sinkhorn", p=2, blur=sqrt(reg/2),
backend="tensorized")`` (the same quantity, halved). GeomLoss anneals with ``scaling`` and has
no tolerance.

Equal accuracy: for each peer setting, ``x_peer`` = our time at the loosest of our tolerances
whose value and gradient errors are both at most the peer's, divided by the peer's time.

    python -m benchmarks.sinkhorn_loss_speed [--quick] [--out DIR] [--threads 2]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import ot
import torch

from benchmarks._report import emit
from theoropt.ot import sinkhorn2, sinkhorn_divergence


def points(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    rng = np.random.default_rng(seed)
    return torch.from_numpy(rng.random((n, 2))), torch.from_numpy(rng.random((n, 2)))


def best_time(run, repeats: int) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = run()
        best = min(best, time.perf_counter() - start)
    return best, result


def value_and_gradient(loss_fn, x: torch.Tensor, y: torch.Tensor):
    """Run ``loss_fn(x, y)`` with fresh leaves and return (value, grad_x, grad_y)."""
    xs, ys = x.clone().requires_grad_(), y.clone().requires_grad_()
    loss = loss_fn(xs, ys)
    gx, gy = torch.autograd.grad(loss, (xs, ys))
    return loss.item(), gx, gy


def relative_errors(result, reference) -> tuple[float, float]:
    value_err = abs(result[0] - reference[0]) / abs(reference[0])
    scale = max(float(reference[1].abs().max()), float(reference[2].abs().max()))
    grad_err = max(
        float((r - g).abs().max()) for r, g in zip(result[1:], reference[1:], strict=True)
    )
    return value_err, grad_err / scale


TOLERANCES = (1e-2, 3e-3, 1e-3, 3e-4, 1e-4, 3e-5, 1e-5, 3e-6, 1e-6, 1e-7, 1e-8)


def our_runs(loss_for_tol, x, y, reference, repeats: int) -> list[tuple]:
    """(tol, seconds, value_err, grad_err) of ours at each tolerance."""
    runs = []
    for tol in TOLERANCES:
        seconds, result = best_time(
            lambda tol=tol: value_and_gradient(loss_for_tol(tol), x, y), repeats
        )
        runs.append((tol, seconds, *relative_errors(result, reference)))
    return runs


def matched_row(peer: str, seconds: float, errors: tuple[float, float], runs) -> list:
    """The peer's numbers and ours at the loosest tolerance at least as accurate."""
    matching = [r for r in runs if r[2] <= errors[0] and r[3] <= errors[1]]
    tol, ours_s, ours_v, ours_g = matching[0] if matching else runs[-1]
    return [
        peer, f"{seconds:.3g}", f"{errors[0]:.1e}", f"{errors[1]:.1e}", f"tol {tol:g}",
        f"{ours_s:.3g}", f"{ours_v:.1e}", f"{ours_g:.1e}",
        f"{ours_s / seconds:.3g}" if matching else "n/a",
    ]  # fmt: skip


def pot_part(n: int, reg: float, repeats: int) -> list[list]:
    x, y = points(n, 0)

    def pot(method: str, tol: float):
        return lambda p, q: ot.sinkhorn2(
            ot.utils.unif(n, type_as=p), ot.utils.unif(n, type_as=p), ot.dist(p, q), reg,
            method=method, stopThr=tol, numItermax=10**6,
        )  # fmt: skip

    def ours(tol: float):
        return lambda p, q: sinkhorn2(None, None, ot.dist(p, q), reg, tol=tol, max_iter=10**6)

    reference = value_and_gradient(ours(1e-12), x, y)
    runs = our_runs(ours, x, y, reference, repeats)
    rows = []
    for method in ("sinkhorn", "sinkhorn_log"):
        for tol in (1e-4, 1e-6):
            solve = pot(method, tol)
            seconds, result = best_time(
                lambda solve=solve: value_and_gradient(solve, x, y), repeats
            )
            errors = relative_errors(result, reference)
            rows.append([n, reg, *matched_row(f"{method}, stopThr {tol:g}", seconds, errors, runs)])
    return rows


def geomloss_part(n: int, reg: float, repeats: int) -> list[list]:
    from geomloss import SamplesLoss

    x, y = points(n, 1)
    y = 0.5 * y + 0.25

    def ours(tol: float):
        return lambda p, q: sinkhorn_divergence(
            p, q, reg, value="regularized", tol=tol, max_iter=10**6, warn=False
        )

    reference = value_and_gradient(ours(1e-12), x, y)
    runs = our_runs(ours, x, y, reference, repeats)
    rows = []
    for scaling in (0.5, 0.7, 0.9, 0.95):
        loss = SamplesLoss("sinkhorn", p=2, blur=(reg / 2) ** 0.5, scaling=scaling,
                           backend="tensorized")  # fmt: skip
        seconds, result = best_time(
            lambda loss=loss: value_and_gradient(lambda p, q: 2 * loss(p, q), x, y), repeats
        )
        errors = relative_errors(result, reference)
        rows.append([n, reg, *matched_row(f"scaling {scaling}", seconds, errors, runs)])
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--repeats", type=int, default=2)
    args, _ = parser.parse_known_args()
    torch.set_num_threads(args.threads)
    setup = (f"torch {torch.__version__}, POT {ot.__version__}, {args.threads} threads, "
             "float64, CPU")  # fmt: skip
    sizes = [200] if args.quick else [300, 1000]
    pot_rows = []
    for n in sizes:
        for reg in (0.05, 0.01):
            pot_rows += pot_part(n, reg, args.repeats)
    headers = ["n", "reg", "peer", "peer_s", "peer_value_err", "peer_grad_err", "ours",
               "ours_s", "ours_value_err", "ours_grad_err", "x_peer"]  # fmt: skip
    note = "ours: loosest tol at least as accurate in value and gradient; x_peer = ours_s / peer_s"
    emit(
        "sinkhorn_loss_speed_pot",
        f"sinkhorn2 value + gradient vs POT's sinkhorn2 (torch backend, autodiff); {setup}",
        headers,
        pot_rows,
        ["target: x_peer <= 0.5 at equal accuracy", note],
        args.out,
    )
    geo_rows = []
    for n in [300] if args.quick else [500, 2000]:
        geo_rows += geomloss_part(n, 0.01, args.repeats)
    emit(
        "sinkhorn_loss_speed_geomloss",
        f"Sinkhorn divergence value + gradient vs GeomLoss (tensorized); {setup}",
        headers,
        geo_rows,
        ["target: x_peer <= 1.0 at equal accuracy", note],
        args.out,
    )


if __name__ == "__main__":
    main()
