"""Optimizer step time against the best peers, with the physical floor beside it (CPU or CUDA).

On the parameters (fixed random gradients) of a character GPT, every ratio is against a peer
timed in the same process, interleaved with it, at each thread count asked for:

* Signum and SoftSignum (mid-transition) against ``torch.optim.AdamW(fused=True)``, the AdamW
  users pick (target <= 1.0x), and against the **floor**: the bytes a step must move at the
  memory bandwidth of ``a += b`` measured in the same run (SoftSignum and Signum: 5 words per
  parameter — read parameter, gradient, momentum; write parameter, momentum; fused AdamW: 7);
* our Muon (``ns_dtype="auto"``), in each variant (``"exact"``, theoropt's, and ``"paper"``,
  the Softsign authors'), against ``torch.optim.Muon`` (target <= 0.8x), on the hidden
  matrices only (torch's Muon takes 2-D parameters only), and SoftMuon mid-transition against
  our Muon of the same variant (target <= 1.25x); the dtype "auto" chose is printed, and
  whether bfloat16 is emulated;
* with ``--ddp``: the Muon step of 2 gloo processes (1 thread each) sharing the matrices
  (``distributed_mesh``) against the single-process step at 1 thread (target <= 0.75x).

A ratio is of the best times over interleaved rounds; beside it, where the rounds are paired
(one process, the same rounds), the 10th-90th percentile of the ratio within a round: the run's
noise, against which a ratio near its target is read.

    python -m benchmarks.optim_step_time [--sets small,large] [--threads 1,2] [--ddp]
                                         [--clock wall|cpu] [--json F] [--markdown F]
                                         [--out DIR] [--quick]
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.distributed as dist
from tabulate import tabulate
from torch import Tensor

from theoropt.bench.spawn import run_distributed
from theoropt.optim import Muon, Signum, SoftMuon, SoftSignum, native_kernel
from theoropt.optim.fused import use_fused
from theoropt.optim.matrix_functions import arithmetic
from theoropt.optim.models import CharGPT, GPTConfig
from theoropt.optim.precision import DTYPES, auto_matmul_dtype

SETS = {
    "small": GPTConfig(vocab_size=65, context=256, n_layer=4, n_head=8, d_model=256),
    "large": GPTConfig(vocab_size=65, context=512, n_layer=6, n_head=6, d_model=384),
}
WORDS = {"AdamW": 7, "sign": 5}
"""Words moved per parameter per step by a one-pass implementation (the floor)."""


def make_params(config: GPTConfig, device: torch.device, matrices_only: bool) -> list[Tensor]:
    """The model's parameters (hidden matrices only, if asked) with fixed random gradients."""
    torch.manual_seed(0)
    model = CharGPT(config).to(device)
    params = [
        p
        for name, p in model.named_parameters()
        if not matrices_only or (p.ndim == 2 and "embedding" not in name and "head" not in name)
    ]
    for p in params:
        p.grad = torch.randn_like(p) * 1e-3
    return params


CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}
"""``wall``: elapsed time. ``cpu``: CPU time of this process (all its threads), for runs with
one thread on a shared machine, where waiting for a core would count as wall time."""


def time_rounds(
    steps: dict[str, Callable[[], object]],
    device: torch.device,
    reps: int,
    clock: Callable[[], float] = time.perf_counter,
) -> dict[str, list[float]]:
    """Times (ms) of each callable in ``reps`` interleaved rounds after one warm-up round.

    Interleaving exposes every method to the same machine load: the times of one round are
    paired (:func:`paired_ratio_range`), and the best of a method's rounds is the time least
    disturbed by other processes (:func:`time_interleaved`).
    """
    times: dict[str, list[float]] = {name: [] for name in steps}
    for round_ in range(reps + 1):
        for name, step in steps.items():
            _synchronize(device)
            start = clock()
            step()
            _synchronize(device)
            if round_:  # round 0 is the warm-up
                times[name].append(1e3 * (clock() - start))
    return times


def time_interleaved(
    steps: dict[str, Callable[[], object]],
    device: torch.device,
    reps: int,
    clock: Callable[[], float] = time.perf_counter,
) -> dict[str, float]:
    """Best time (ms) of each callable over ``reps`` interleaved rounds (:func:`time_rounds`)."""
    return {name: min(t) for name, t in time_rounds(steps, device, reps, clock).items()}


def paired_ratio_range(times: list[float], reference: list[float]) -> tuple[float, float] | None:
    """10th and 90th percentiles over the rounds of ``time / reference time in the same round``:
    how far the run-to-run noise of this machine moves the ratio of the best times (``None``
    from a single round)."""
    ratios = [t / r for t, r in zip(times, reference, strict=True)]
    if len(ratios) < 2:
        return None
    deciles = statistics.quantiles(ratios, n=10, method="inclusive")
    return deciles[0], deciles[-1]


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def memory_bandwidth(
    device: torch.device, numel: int, reps: int, clock: Callable[[], float]
) -> float:
    """Bytes per second of ``a += b`` on float32 buffers of ``numel`` entries (3 words moved:
    unlike a copy, whose stores also read their destination first, it moves what it counts)."""
    a = torch.randn(numel, device=device)
    b = torch.randn_like(a)
    ms = time_interleaved({"a += b": lambda: a.add_(b)}, device, reps, clock)["a += b"]
    return 3 * 4 * numel / (ms / 1e3)


def state_bytes_per_param(optimizer: torch.optim.Optimizer, params: list[Tensor]) -> float:
    total = sum(
        t.numel() * t.element_size()
        for state in optimizer.state.values()
        for t in state.values()
        if isinstance(t, Tensor) and t.ndim > 0
    )
    return total / sum(p.numel() for p in params)


def soft_at(optimizer_cls, params, position: int, **settings) -> Callable[[], None]:
    """A step of a soft method at transition step ``position`` of 100 (schedule fitted first)."""
    optimizer = optimizer_cls(params, total_steps=200, sign_fraction=0.5, **settings)
    group = optimizer.param_groups[0]
    group["step"] = 100
    optimizer.step()  # fits the schedule, not timed

    def step() -> None:
        group["step"] = 100 + position
        optimizer.step()

    step.optimizer = optimizer  # type: ignore[attr-defined]
    return step


def with_inductor_kernel(step: Callable[[], object]) -> Callable[[], None]:
    """``step`` with the fused path's C++ kernel switched off: inductor's kernel instead."""

    def run() -> None:
        native_kernel.enabled = False
        try:
            step()
        finally:
            native_kernel.enabled = True

    return run


def row(
    label,
    ms,
    reference,
    ref_ms,
    target=None,
    state=math.nan,
    floor=math.nan,
    note="",
    spread=None,
):
    """A table row; ``spread``: :func:`paired_ratio_range` where the rounds were paired."""
    ratio = ms / ref_ms
    return dict(
        method=label,
        ms=ms,
        reference=reference,
        ratio=ratio,
        paired_p10_p90=spread,
        target=target,
        met=(ratio <= target) if target else None,
        floor_ms=floor,
        state_bytes_per_param=state,
        note=note,
    )


def bench_elementwise(
    config: GPTConfig, device: torch.device, reps: int, clock: Callable[[], float]
) -> list[dict]:
    """Signum / SoftSignum (default and multi-tensor paths) against fused and foreach AdamW,
    with the bandwidth floor."""
    params = make_params(config, device, matrices_only=False)
    count = sum(p.numel() for p in params)
    path = "fused" if use_fused(None, None, params, "") else "foreach"
    optimizers: dict[str, torch.optim.Optimizer] = {
        "torch AdamW (fused)": torch.optim.AdamW(params, lr=1e-3, fused=True),
        "torch AdamW (foreach)": torch.optim.AdamW(params, lr=1e-3, foreach=True),
        f"Signum (default: {path})": Signum(params, lr=1e-3),
        "Signum (foreach)": Signum(params, lr=1e-3, foreach=True),
    }
    steps: dict[str, Callable[[], object]] = {label: o.step for label, o in optimizers.items()}
    compile_started = clock()
    soft = {
        f"SoftSignum (default: {path})": soft_at(SoftSignum, params, 50),
        "SoftSignum (foreach)": soft_at(SoftSignum, params, 50, foreach=True),
        f"SoftSignum, algebraic map ({path})": soft_at(
            SoftSignum, params, 50, soft_map="algebraic"
        ),
        "SoftSignum, per-tensor loop": soft_at(SoftSignum, params, 50, foreach=False),
    }
    steps |= soft
    optimizers |= {label: step.optimizer for label, step in soft.items()}
    if path == "fused" and device.type == "cpu":  # the C++ kernel's peer: inductor's
        signum, soft_step = Signum(params, lr=1e-3), soft_at(SoftSignum, params, 50)
        for label, step, optimizer in (
            ("Signum (fused, inductor kernel)", signum.step, signum),
            ("SoftSignum (fused, inductor kernel)", soft_step, soft_step.optimizer),  # type: ignore[attr-defined]
        ):
            steps[label] = with_inductor_kernel(step)
            optimizers[label] = optimizer
    for step in steps.values():  # compiles the fused kernels of both phases
        step()
    setup_s = clock() - compile_started
    # Elementwise steps take milliseconds: many more rounds make their best time stable.
    rounds = time_rounds(steps, device, 8 * reps, clock)
    times = {label: min(t) for label, t in rounds.items()}
    bandwidth = memory_bandwidth(device, count, 8 * reps, clock)
    reference = times["torch AdamW (fused)"]
    rows = []
    for label, ms in times.items():
        spread = None
        if label != "torch AdamW (fused)":
            spread = paired_ratio_range(rounds[label], rounds["torch AdamW (fused)"])
        words = WORDS["AdamW"] if label.startswith("torch") else WORDS["sign"]
        floor = 1e3 * words * 4 * count / bandwidth
        target = 1.0 if "default" in label else None
        note = ""
        if label == "torch AdamW (fused)":
            note = f"{count / 1e6:.2f} M parameters"
        elif label.startswith("SoftSignum (default: fused"):
            note = f"set-up incl. compiling: {setup_s:.0f} s"
        state = state_bytes_per_param(optimizers[label], params)
        rows.append(row(label, ms, "AdamW fused", reference, target, state, floor, note, spread))
    rows.append(
        row(
            "a += b (bandwidth)",
            1e3 * 12 * count / bandwidth,
            "AdamW fused",
            reference,
            note=f"{bandwidth / 1e9:.1f} GB/s: floor = words x 4 B x params / this",
        )
    )
    return rows


VARIANTS = ("exact", "paper")
"""Muon / SoftMuon variants timed (:mod:`theoropt.optim.polar_variants`)."""
DDP_VARIANT = "exact"
"""The variant the DDP rows time (both share the sharding code)."""
PRECISIONS = ("float32", "bfloat16")
"""Explicit ``ns_dtype`` settings of Muon (exact) timed beside ``"auto"``."""


def _dtype_note(device: torch.device, dtype: torch.dtype) -> str:
    """How a Newton–Schulz dtype runs on ``device`` (bfloat16 is emulated on slow CPUs)."""
    name = str(dtype).removeprefix("torch.")
    emulated = arithmetic(dtype, device).work != dtype
    return f"{name}, emulated (float32 ops, bfloat16 rounding)" if emulated else name


def bench_matrices(
    config: GPTConfig,
    device: torch.device,
    reps: int,
    torch_muon_reps: int,
    clock: Callable[[], float],
) -> list[dict]:
    """Our Muon and SoftMuon in each variant (and Muon in each precision) against our Muon of
    the same variant and against torch.optim.Muon, on the matrices."""
    matrices = make_params(config, device, matrices_only=True)
    ours: dict[str, Callable[[], object]] = {}
    muon_dtypes: dict[str, torch.dtype] = {}
    for variant in VARIANTS:
        muon = Muon(matrices, variant=variant)
        muon_dtypes[variant] = muon.ns_dtypes[0]
        ours[f"Muon {variant}"] = muon.step
        for position, at in (("mid-transition", 50), ("first transition step", 0)):
            ours[f"SoftMuon {variant} ({position})"] = soft_at(
                SoftMuon, matrices, at, variant=variant
            )
    for name in PRECISIONS:
        ours[f"Muon exact, ns_dtype={name}"] = Muon(matrices, variant="exact", ns_dtype=name).step
    rounds = time_rounds(ours, device, reps, clock)
    times = {label: min(t) for label, t in rounds.items()}
    rows = []
    for variant in VARIANTS:
        reference, ref_ms = f"Muon {variant}", times[f"Muon {variant}"]
        note = f"auto: {_dtype_note(device, muon_dtypes[variant])}; {len(matrices)} matrices"
        rows.append(row(reference, ref_ms, reference, ref_ms, note=note))
        for position, target in (("mid-transition", 1.25), ("first transition step", None)):
            label = f"SoftMuon {variant} ({position})"
            tau = ours[label].optimizer.temperatures()[0]
            spread = paired_ratio_range(rounds[label], rounds[reference])
            rows.append(
                row(
                    label,
                    times[label],
                    reference,
                    ref_ms,
                    target,
                    note=f"tau={tau:.3g}",
                    spread=spread,
                )
            )
    for name in PRECISIONS:
        label, note = f"Muon exact, ns_dtype={name}", _dtype_note(device, DTYPES[name])
        spread = paired_ratio_range(rounds[label], rounds["Muon exact"])
        rows.append(
            row(label, times[label], "Muon exact", times["Muon exact"], note=note, spread=spread)
        )
    if torch_muon_reps > 0:
        peer = torch.optim.Muon(matrices, lr=0.02)
        steps = {"torch": peer.step} | {v: ours[f"Muon {v}"] for v in VARIANTS}
        peer_times = time_interleaved(steps, device, torch_muon_reps, clock)
        for variant in VARIANTS:
            note = f"torch.optim.Muon (bfloat16, torch's kernels): {peer_times['torch']:.0f} ms"
            rows.append(
                row(
                    f"Muon {variant}",
                    peer_times[variant],
                    "torch.optim.Muon",
                    peer_times["torch"],
                    0.8,
                    note=note,
                )
            )
    return rows


def _ddp_muon_steps(
    rank: int, world: int, config: GPTConfig, reps: int, clock_name: str
) -> dict[str, float]:
    """Per-step time of Muon on every matrix, with and without sharing (max over the ranks)."""
    clock = CLOCKS[clock_name]
    matrices = make_params(config, torch.device("cpu"), matrices_only=True)
    optimizers = {
        "shared": Muon(matrices, variant=DDP_VARIANT, distributed_mesh=dist.group.WORLD),
        "every rank all": Muon(matrices, variant=DDP_VARIANT),
    }
    best = dict.fromkeys(optimizers, math.inf)
    for round_ in range(reps + 1):
        for name, optimizer in optimizers.items():
            dist.barrier()
            start = clock()
            optimizer.step()
            elapsed = torch.tensor(clock() - start)
            dist.all_reduce(elapsed, op=dist.ReduceOp.MAX)
            if round_:
                best[name] = min(best[name], 1e3 * float(elapsed))
    return best


def bench_ddp(config: GPTConfig, reps: int, clock_name: str) -> list[dict]:
    """2 gloo processes of 1 thread sharing Muon's matrices, against 1 process of 1 thread.

    With the ``cpu`` clock each rank counts its own CPU time (its share of the work and the
    packing, not the time it waits for the other rank), the fair measure on a machine with
    fewer free cores than ranks; the ``wall`` clock includes the exchange."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    matrices = make_params(config, torch.device("cpu"), matrices_only=True)
    steps = {"muon": Muon(matrices, variant=DDP_VARIANT).step}
    single = time_interleaved(steps, torch.device("cpu"), reps, CLOCKS[clock_name])["muon"]
    torch.set_num_threads(threads)
    ranks = run_distributed(_ddp_muon_steps, 2, config, reps, clock_name)
    return [
        row("Muon, 1 process, 1 thread", single, "1 process", single),
        row(
            "Muon, 2 DDP ranks sharing (distributed_mesh)",
            ranks[0]["shared"],
            "1 process",
            single,
            0.75,
            note="per rank, 1 thread each, slowest rank",
        ),
        row(
            "Muon, 2 DDP ranks, each all matrices",
            ranks[0]["every rank all"],
            "1 process",
            single,
        ),
    ]


def to_markdown(rows: list[dict]) -> str:
    headers = ["set", "threads", "method", "ms/step", "ratio", "paired p10-p90", "vs", "target"]
    headers += ["met", "floor ms"]
    headers += ["state B/param", "note"]
    table = [
        [
            r["set"],
            r["threads"],
            r["method"],
            f"{r['ms']:.2f}",
            f"{r['ratio']:.3f}",
            "" if r["paired_p10_p90"] is None else "{:.2f}-{:.2f}".format(*r["paired_p10_p90"]),
            r["reference"],
            f"<= {r['target']}" if r["target"] else "",
            {True: "yes", False: "NO", None: ""}[r["met"]],
            "" if math.isnan(r["floor_ms"]) else f"{r['floor_ms']:.2f}",
            "" if math.isnan(r["state_bytes_per_param"]) else f"{r['state_bytes_per_param']:.1f}",
            r["note"],
        ]
        for r in rows
    ]
    return tabulate(table, headers=headers, tablefmt="github")


def machine() -> str:
    """The processor this run measured (the docs must say which machine a number is from)."""
    name = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return name


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sets", default="small,large", help="comma-separated: small, large (empty: none)"
    )
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", default="1,2", help="CPU thread counts, comma-separated")
    parser.add_argument("--reps", type=int, default=5, help="timed rounds per method")
    parser.add_argument(
        "--torch-muon-reps", type=int, default=2, help="timed torch.optim.Muon steps (0 skips)"
    )
    parser.add_argument(
        "--torch-muon-sets",
        default="small",
        help="sets on which torch.optim.Muon is timed (seconds per step on a CPU without bf16)",
    )
    parser.add_argument("--ddp", action="store_true", help="also time 2 DDP ranks (CPU, gloo)")
    parser.add_argument(
        "--clock",
        choices=list(CLOCKS),
        default="wall",
        help="wall: elapsed time; cpu: process CPU time (1 thread on a shared machine)",
    )
    parser.add_argument("--json", type=Path, help="write the rows as JSON")
    parser.add_argument("--markdown", type=Path, help="write the table as Markdown")
    parser.add_argument(
        "--out", type=Path, help="folder: write optim_step_time.json and .md there (as the others)"
    )
    parser.add_argument(
        "--quick", action="store_true", help="the small set, one thread count, 2 rounds"
    )
    args, _ = parser.parse_known_args(argv)  # `python -m benchmarks` passes its options to all
    if args.quick:
        args.sets, args.threads, args.reps = "small", args.threads.split(",")[0], 2
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        args.json = args.json or args.out / "optim_step_time.json"
        args.markdown = args.markdown or args.out / "optim_step_time.md"
    device = torch.device(args.device)
    rows: list[dict] = []
    thread_counts = [int(t) for t in args.threads.split(",")] if device.type == "cpu" else [0]
    for threads in thread_counts:
        if threads:
            torch.set_num_threads(threads)
            torch._dynamo.reset()  # inductor CPU kernels keep the thread count of their build
        for name in (s.strip() for s in args.sets.split(",") if s.strip()):
            torch_reps = args.torch_muon_reps if name in args.torch_muon_sets.split(",") else 0
            clock = CLOCKS[args.clock]
            new = bench_elementwise(SETS[name], device, args.reps, clock)
            new += bench_matrices(SETS[name], device, args.reps, torch_reps, clock)
            for r in new:
                r.update(set=name, threads=threads or "-")
            print(to_markdown(new), flush=True)
            rows += new
    if args.ddp:
        new = bench_ddp(SETS["small"], args.reps, args.clock)
        for r in new:
            r.update(set="small", threads=1)
        print(to_markdown(new), flush=True)
        rows += new
    header = f"{machine()}; device {device}; torch {torch.__version__}; {args.clock} clock"
    if device.type == "cuda":
        header += f"; {torch.cuda.get_device_name(device)}"
    header += f"; ns_dtype auto -> {auto_matmul_dtype(device)} (exact variant), bfloat16 (paper)"
    text = header + "\n\n" + to_markdown(rows)
    print("\n" + text)
    if args.json:
        args.json.write_text(json.dumps(dict(header=header, rows=rows), indent=1))
    if args.markdown:
        args.markdown.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
