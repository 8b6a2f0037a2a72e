"""SNS Newton stage with a dense vs a sparsified (CSR) Hessian: wall time to marginal error
1e-12 and the plans' difference (same warm-up, same problem).

    python -m benchmarks.sns_hessian [--sizes 500 1000] [--json out.json] [--markdown out.md]
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

import torch
from tabulate import tabulate

from benchmarks.sinkhorn_speed import marginal_error, problem
from theoropt.ot import sinkhorn


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[500, 1000])
    parser.add_argument("--regs", type=float, nargs="+", default=[1e-2, 1e-3])
    parser.add_argument("--json", type=Path)
    parser.add_argument("--markdown", type=Path)
    args = parser.parse_args()
    warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
    rows = []
    for n in args.sizes:
        a, b, cost = problem(n)
        for reg in args.regs:
            plans = {}
            for hessian in ("dense", "sparse"):
                start = time.perf_counter()
                plan, info = sinkhorn(
                    a, b, cost, reg, method="sns", tol=1e-12, hessian=hessian, log=True
                )
                plans[hessian] = plan
                rows.append(
                    {
                        "n": n,
                        "reg/max(M)": reg,
                        "hessian": hessian,
                        "seconds": time.perf_counter() - start,
                        "newton": info["n_newton"],
                        "cg": info["n_cg"],
                        "marginal_err": marginal_error(plan, a, b),
                    }
                )
            rows[-1]["x_dense"] = rows[-1]["seconds"] / rows[-2]["seconds"]
            rows[-1]["max_abs_diff"] = float((plans["sparse"] - plans["dense"]).abs().max())
    table = tabulate(
        [{k: (f"{v:.3g}" if isinstance(v, float) else v) for k, v in r.items()} for r in rows],
        headers="keys",
        tablefmt="github",
    )
    print(table)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    if args.markdown:
        args.markdown.write_text(table + "\n")


if __name__ == "__main__":
    torch.manual_seed(0)
    main()
