"""Step time and communication of each optimizer under FSDP2 with 2 CPU (gloo) processes.

A 4-layer, d=256 character GPT is ``fully_shard`` ed per block (parameters become row-sharded
``DTensor`` s). For AdamW (``torch.optim.AdamW(foreach=True)``), Signum, SoftSignum, Muon and
SoftMuon (the soft methods in their transition) the benchmark times the forward/backward and
the optimizer step, and counts the bytes each rank puts into ``torch.distributed``'s
collective functions during each (the input of an all-gather or reduce-scatter, FSDP2's own
included; what a rank sends to a gather; the list a scatter's source sends). The once-only
gather of the temperature statistics happens in the warm-up steps and is not in the means.
Ratios are against AdamW measured in the same run.

    python -m benchmarks.distributed_fsdp [--steps 5] [--markdown F] [--json F]
"""

from __future__ import annotations

import argparse
import functools
import inspect
import json
import time
from pathlib import Path

import torch
import torch.distributed as dist
from tabulate import tabulate
from torch.distributed.fsdp import fully_shard
from torch.nn import functional as F

from theoropt.bench.spawn import run_distributed
from theoropt.optim import Muon, Signum, SoftMuon, SoftSignum, split_params
from theoropt.optim.models import CharGPT, GPTConfig

CONFIG = GPTConfig(vocab_size=65, context=64, n_layer=4, n_head=8, d_model=256)


CONTRIBUTED = {
    # collective -> its argument holding what this rank puts in (a source's list for scatter)
    "all_gather_single": "input_tensor",
    "reduce_scatter_single": "input",
    "all_gather_into_tensor": "input_tensor",
    "reduce_scatter_tensor": "input",
    "all_reduce": "tensor",
    "gather": "tensor",
    "scatter": "scatter_list",
}


METHODS = ("adamw", "signum", "softsignum", "muon", "softmuon")
WARMUP = 3  # the soft methods enter their transition after 2 steps


class ByteCounter:
    """Adds up the bytes each wrapped collective call takes from this rank (``CONTRIBUTED``)."""

    def __init__(self) -> None:
        self.bytes = 0

    def wrap(self, function, argument: str):
        signature = inspect.signature(function)

        @functools.wraps(function)
        def counted(*args, **kwargs):
            value = signature.bind(*args, **kwargs).arguments.get(argument)
            for tensor in (
                value if isinstance(value, list) else [value] if value is not None else []
            ):
                self.bytes += tensor.numel() * tensor.element_size()
            return function(*args, **kwargs)

        return counted


def make_optimizer(method: str, model: torch.nn.Module, total_steps: int):
    soft = dict(total_steps=total_steps, sign_fraction=2 / total_steps)
    if method == "adamw":
        return torch.optim.AdamW(model.parameters(), lr=1e-3, foreach=True)
    if method == "signum":
        return Signum(model.parameters(), lr=1e-4)
    if method == "softsignum":
        return SoftSignum(model.parameters(), lr=1e-4, **soft)
    groups = split_params(model)
    if method == "muon":
        return Muon(groups, lr=0.02, variant="exact")  # the variant of docs/distributed.md's table
    return SoftMuon(groups, lr=0.02, variant="exact", **soft)


def measure(rank: int, world: int, steps: int) -> dict[str, dict[str, float]]:
    """Per method: mean seconds and bytes sent by this rank, forward/backward and step."""
    counter = ByteCounter()
    for name, argument in CONTRIBUTED.items():
        setattr(dist, name, counter.wrap(getattr(dist, name), argument))
    results = {}
    for method in METHODS:
        torch.manual_seed(0)
        model = CharGPT(CONFIG)
        for block in model.blocks:
            fully_shard(block)
        fully_shard(model)
        optimizer = make_optimizer(method, model, WARMUP + steps + 10)
        generator = torch.Generator().manual_seed(rank)
        totals = {"fwd_bwd_s": 0.0, "step_s": 0.0, "fwd_bwd_bytes": 0.0, "step_bytes": 0.0}
        for step in range(WARMUP + steps):
            ids = torch.randint(0, CONFIG.vocab_size, (8, CONFIG.context + 1), generator=generator)
            dist.barrier()
            counter.bytes, started = 0, time.perf_counter()
            optimizer.zero_grad(set_to_none=True)
            logits = model(ids[:, :-1])
            F.cross_entropy(logits.flatten(0, 1), ids[:, 1:].flatten()).backward()
            middle, fwd_bwd_bytes = time.perf_counter(), counter.bytes
            optimizer.step()
            ended = time.perf_counter()
            if step >= WARMUP:
                totals["fwd_bwd_s"] += middle - started
                totals["step_s"] += ended - middle
                totals["fwd_bwd_bytes"] += fwd_bwd_bytes
                totals["step_bytes"] += counter.bytes - fwd_bwd_bytes
        results[method] = {key: value / steps for key, value in totals.items()}
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--markdown", type=Path)
    args = parser.parse_args(argv)
    ranks = run_distributed(measure, 2, args.steps)
    slowest = {m: {k: max(r[m][k] for r in ranks) for k in ranks[0][m]} for m in METHODS}
    base = slowest["adamw"]
    rows = [
        [
            method,
            f"{1e3 * r['step_s']:.1f}",
            f"{r['step_s'] / base['step_s']:.2f}x",
            f"{r['step_bytes'] / 2**20:.2f}",
            f"{1e3 * r['fwd_bwd_s']:.1f}",
            f"{r['fwd_bwd_bytes'] / 2**20:.2f}",
        ]
        for method, r in slowest.items()
    ]
    headers = [
        "method",
        "optimizer step ms",
        "vs AdamW",
        "step MiB sent/rank",
        "fwd+bwd ms",
        "fwd+bwd MiB sent/rank",
    ]
    table = tabulate(rows, headers=headers, tablefmt="github")
    parameters = sum(p.numel() for p in CharGPT(CONFIG).parameters())
    heading = (
        f"FSDP2, 2 gloo processes on the CPU, {parameters:,} parameters, "
        f"slowest rank, mean over {args.steps} steps"
    )
    print(f"{heading}\n\n{table}")
    if args.json:
        args.json.write_text(json.dumps({"ranks": ranks, "slowest": slowest}, indent=1))
    if args.markdown:
        args.markdown.write_text(f"{heading}\n\n{table}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
