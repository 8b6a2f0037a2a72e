"""Wall time of our log-domain Sinkhorn and SNS against POT's ``sinkhorn_log`` (torch backend).

Targets (issue 5): ``sinkhorn(method="log")`` at most 0.5x POT's time at the same tolerance;
``method="sns"`` at most 0.5x POT and faster than our log Sinkhorn at reg = 5e-4 (relative to
max(M)), with the same plan. Every solver gets the same float64 CPU tensors; after each solve the
both-marginals L1 error of the returned plan is measured the same way for all (POT stops on its
own rule, the L2 error of the column marginal). Timings are the best of ``--repeats`` runs.

    python -m benchmarks.sinkhorn_speed [--sizes 500 1000] [--json out.json] [--markdown out.md]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import ot
import torch
from tabulate import tabulate

from theoropt.ot import sinkhorn


def problem(n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    rng = np.random.default_rng(seed)
    cost = torch.from_numpy(ot.dist(rng.random((n, 2)), rng.random((n, 2))))
    weights = torch.full((n,), 1.0 / n, dtype=torch.float64)
    return weights, weights.clone(), cost / cost.max()


def marginal_error(plan: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> float:
    return float(max((plan.sum(1) - a).abs().sum(), (plan.sum(0) - b).abs().sum()))


def timed(solve, repeats: int) -> tuple[float, torch.Tensor]:
    best, plan = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        plan = solve()
        best = min(best, time.perf_counter() - start)
    return best, plan


def measure(n: int, reg: float, tol: float, methods: list[str], repeats: int) -> list[dict]:
    a, b, cost = problem(n)
    solvers = {
        "pot": lambda: ot.sinkhorn(
            a, b, cost, reg, method="sinkhorn_log", stopThr=tol, numItermax=10**6, warn=False
        ),
        "log": lambda: sinkhorn(a, b, cost, reg, method="log", tol=tol, max_iter=10**6),
        "sns": lambda: sinkhorn(a, b, cost, reg, method="sns", tol=tol, max_iter=10**6),
    }
    rows, plans = [], {}
    for method in ["pot", *methods]:
        seconds, plan = timed(solvers[method], repeats)
        plans[method] = plan
        rows.append(
            {
                "n": n,
                "reg/max(M)": reg,
                "tol": tol,
                "method": method,
                "seconds": seconds,
                "marginal_err": marginal_error(plan, a, b),
            }
        )
    for row in rows:
        row["x_pot"] = row["seconds"] / rows[0]["seconds"]
        row["max_abs_diff_vs_pot"] = float((plans[row["method"]] - plans["pot"]).abs().max())
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[500, 1000])
    parser.add_argument("--regs", type=float, nargs="+", default=[1e-2, 1e-3])
    parser.add_argument("--tol", type=float, default=1e-6)
    parser.add_argument("--sns-reg", type=float, default=5e-4)
    parser.add_argument("--sns-tol", type=float, default=1e-9)
    parser.add_argument("--sns-size", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--markdown", type=Path)
    args = parser.parse_args()
    rows = []
    for n in args.sizes:
        for reg in args.regs:
            rows += measure(n, reg, args.tol, ["log"], args.repeats)
    rows += measure(args.sns_size, args.sns_reg, args.sns_tol, ["log", "sns"], args.repeats)
    table = tabulate(
        [{k: (f"{v:.3g}" if isinstance(v, float) else v) for k, v in r.items()} for r in rows],
        headers="keys",
        tablefmt="github",
    )
    header = f"torch {torch.__version__}, POT {ot.__version__}, {torch.get_num_threads()} threads"
    print(header)
    print(table)
    if args.json:
        args.json.write_text(json.dumps({"setup": header, "rows": rows}, indent=2))
    if args.markdown:
        args.markdown.write_text(f"{header}\n\n{table}\n")


if __name__ == "__main__":
    main()
