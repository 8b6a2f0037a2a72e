"""Optimizer step time and state memory on the parameters of character GPTs (CPU or CUDA).

Every ratio is against a reference timed in the same process on the same parameters and
gradients: SoftSignum vs ``torch.optim.AdamW(foreach=True)`` (target <= 1.0x); our Muon vs
``torch.optim.Muon`` (<= 0.1x) and vs a plain float32 five-step Newton–Schulz Muon written
here (<= 1.1x); SoftMuon in its transition vs that plain Muon (<= 1.5x). Muon-type methods are
timed on the matrices only (``torch.optim.Muon`` takes 2-D parameters only). Also: the
Newton–Schulz FLOP rate as a fraction of the float32 matmul rate measured here, and optimizer
state bytes per parameter.

    python -m benchmarks.optim_step_time [--sets small,large] [--json F] [--markdown F]
"""

from __future__ import annotations

import argparse
import json
import math
import time
from collections.abc import Callable
from pathlib import Path

import torch
from tabulate import tabulate
from torch import Tensor

from theoropt.optim import Muon, Signum, SoftMuon, SoftSignum
from theoropt.optim.matrix_functions import QUINTIC_COEFFICIENTS, newton_schulz_polar
from theoropt.optim.models import CharGPT, GPTConfig
from theoropt.optim.soft_maps import TanhMap

SETS = {
    "small": GPTConfig(vocab_size=65, context=256, n_layer=4, n_head=8, d_model=256),
    "large": GPTConfig(vocab_size=65, context=512, n_layer=6, n_head=6, d_model=384),
}


class ExactTanhMap(TanhMap):
    """``torch.tanh`` itself: the alternative to the sigmoid form, timed for the decision."""

    gain = 1.0
    offset = 0.0

    def finish_(self, tensors: list[Tensor], foreach: bool) -> None:
        torch._foreach_tanh_(tensors)

    def prefactor(self, scale: float) -> float:
        return scale


class PlainMuon(torch.optim.Optimizer):
    """Reference Muon: per-matrix float32 quintic Newton–Schulz, five steps, Nesterov EMA."""

    def __init__(self, params, lr: float = 0.02, momentum: float = 0.95) -> None:
        super().__init__(params, dict(lr=lr, momentum=momentum))

    @torch.no_grad()
    def step(self) -> None:
        a, b, c = QUINTIC_COEFFICIENTS
        for group in self.param_groups:
            for p in group["params"]:
                state = self.state[p]
                if "m" not in state:
                    state["m"] = p.grad.clone()
                state["m"].lerp_(p.grad, 1 - group["momentum"])
                X = p.grad.lerp(state["m"], group["momentum"]).float()
                transposed = X.shape[0] > X.shape[1]
                X = X.T if transposed else X
                X = X / (X.norm() + 1e-7)
                for _ in range(5):
                    A = X @ X.T
                    X = a * X + (b * A + c * A @ A) @ X
                X = X.T if transposed else X
                p.add_(X, alpha=-group["lr"] * max(1.0, p.shape[0] / p.shape[1]) ** 0.5)


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


def time_interleaved(
    steps: dict[str, Callable[[], None]], device: torch.device, reps: int
) -> dict[str, float]:
    """Best wall time (ms) of each callable, timed in interleaved rounds after one warm-up call.

    Interleaving exposes every method to the same machine load; the best of ``reps`` rounds is
    the time least disturbed by other processes.
    """
    best = dict.fromkeys(steps, math.inf)
    for round_ in range(reps + 1):
        for name, step in steps.items():
            if device.type == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            step()
            if device.type == "cuda":
                torch.cuda.synchronize()
            if round_:  # round 0 is the warm-up
                best[name] = min(best[name], 1e3 * (time.perf_counter() - start))
    return best


def state_bytes_per_param(optimizer: torch.optim.Optimizer, params: list[Tensor]) -> float:
    total = sum(
        t.numel() * t.element_size()
        for state in optimizer.state.values()
        for t in state.values()
        if isinstance(t, Tensor)
    )
    return total / sum(p.numel() for p in params)


def ns_flops(params: list[Tensor], steps: int = 5) -> float:
    """Multiply-add FLOPs of ``steps`` quintic steps on every matrix (smaller side n)."""
    total = 0.0
    for p in params:
        n, m = sorted(p.shape[:2])
        total += steps * (4 * n * n * m + 2 * n**3)
    return total


def matmul_rate(device: torch.device, reps: int) -> float:
    """Float32 matmul FLOP/s on 1024 x 1024 matrices (the 'peak' of this run)."""
    x = torch.randn(1024, 1024, device=device)
    ms = time_interleaved({"matmul": lambda: x @ x}, device, 2 * reps)["matmul"]
    return 2 * 1024**3 / (ms / 1e3)


def soft_muon_at(matrices: list[Tensor], position: int) -> Callable[[], None]:
    """A SoftMuon step at transition step ``position`` of 100 (schedule fitted beforehand)."""
    optimizer = SoftMuon(
        [{"params": matrices, "use_muon": True}], total_steps=200, sign_fraction=0.5
    )
    group = optimizer.param_groups[0]
    group["step"] = 100
    optimizer.step()  # fits the schedule (one SVD per matrix), not timed

    def step() -> None:
        group["step"] = 100 + position
        optimizer.step()

    step.optimizer = optimizer  # type: ignore[attr-defined]
    return step


def bench_set(name: str, device: torch.device, reps: int, torch_muon_reps: int) -> list[dict]:
    """Rows of the table for one parameter set."""
    rows: list[dict] = []

    def record(method, reference, ms, ref_ms, target, state=math.nan, note=""):
        ratio = ms / ref_ms
        rows.append(
            dict(
                set=name,
                method=method,
                reference=reference,
                ms=ms,
                ratio=ratio,
                target=target,
                met=(ratio <= target) if target else None,
                state_bytes_per_param=state,
                note=note,
            )
        )

    # Elementwise optimizers on every parameter.
    params = make_params(SETS[name], device, matrices_only=False)
    elementwise = {
        "torch AdamW (foreach)": torch.optim.AdamW(params, lr=1e-3, foreach=True),
        "Signum": Signum(params, lr=1e-3),
        "SoftSignum (transition)": SoftSignum(params, total_steps=2, sign_fraction=0.5),
        "SoftSignum, torch.tanh": SoftSignum(
            params, total_steps=2, sign_fraction=0.5, soft_map=ExactTanhMap()
        ),
        "SoftSignum, algebraic": SoftSignum(
            params, total_steps=2, sign_fraction=0.5, soft_map="algebraic"
        ),
        "SoftSignum, per-tensor path": SoftSignum(
            params, total_steps=2, sign_fraction=0.5, foreach=False
        ),
    }
    for optimizer in elementwise.values():
        optimizer.step()  # SoftSignum: past its single sign step
    fit_start = time.perf_counter()
    elementwise["SoftSignum (transition)"].step()  # the first transition step fits the schedule
    fit_ms = 1e3 * (time.perf_counter() - fit_start)
    # Elementwise steps take milliseconds: many more rounds make their best time stable.
    times = time_interleaved({k: o.step for k, o in elementwise.items()}, device, 8 * reps)
    adamw_ms = times["torch AdamW (foreach)"]
    count = sum(p.numel() for p in params)
    for label, optimizer in elementwise.items():
        target = 1.0 if label == "SoftSignum (transition)" else None
        reference = "-" if label.startswith("torch") else "AdamW"
        note = f"{count / 1e6:.2f} M parameters" if reference == "-" else ""
        state = state_bytes_per_param(optimizer, params)
        record(label, reference, times[label], adamw_ms, target, state, note)

    record(
        "SoftSignum, first transition step",
        "AdamW",
        fit_ms,
        adamw_ms,
        None,
        note="once per run: median of all momentum entries + schedule",
    )

    # Muon-type optimizers on the hidden matrices.
    matrices = make_params(SETS[name], device, matrices_only=True)
    plain = PlainMuon(matrices)
    ours = Muon([{"params": matrices, "use_muon": True}])
    mid, first = soft_muon_at(matrices, 50), soft_muon_at(matrices, 0)
    stacks: dict[tuple[int, ...], list[Tensor]] = {}
    for p in matrices:
        stacks.setdefault(tuple(p.shape), []).append(p.grad)
    batched = [torch.stack(g) for g in stacks.values()]

    def newton_schulz_only() -> None:
        for stack in batched:
            newton_schulz_polar(stack, 5, dtype=torch.float32)

    times = time_interleaved(
        {
            "plain": plain.step,
            "ours": ours.step,
            "mid": mid,
            "first": first,
            "ns": newton_schulz_only,
        },
        device,
        reps,
    )
    plain_ms, muon_ms = times["plain"], times["ours"]
    record(
        "plain float32 Muon (5 NS steps)",
        "-",
        plain_ms,
        plain_ms,
        None,
        state_bytes_per_param(plain, matrices),
        f"{len(matrices)} matrices",
    )
    record(
        "Muon (ours)", "plain Muon", muon_ms, plain_ms, 1.1, state_bytes_per_param(ours, matrices)
    )
    for label, key, target in (
        ("SoftMuon (mid-transition)", "mid", 1.5),
        ("SoftMuon (first transition step)", "first", None),
    ):
        optimizer = (mid if key == "mid" else first).optimizer
        record(
            label,
            "plain Muon",
            times[key],
            plain_ms,
            target,
            state_bytes_per_param(optimizer, matrices),
            f"tau = {optimizer.temperatures()[0]:.3g}",
        )
    if torch_muon_reps > 0:
        reference = torch.optim.Muon(matrices, lr=0.02)
        torch_ms = time_interleaved({"torch": reference.step}, device, torch_muon_reps)["torch"]
        record(
            "Muon (ours)",
            "torch.optim.Muon",
            muon_ms,
            torch_ms,
            0.1,
            state_bytes_per_param(ours, matrices),
            f"torch.optim.Muon: {torch_ms:.0f} ms",
        )
    rate = ns_flops(matrices) / (times["ns"] / 1e3)
    peak = matmul_rate(device, reps)
    rows.append(
        dict(
            set=name,
            method="Newton–Schulz FLOP rate",
            reference="matmul 1024^3",
            ms=times["ns"],
            ratio=rate / peak,
            target=None,
            met=None,
            state_bytes_per_param=math.nan,
            note=f"{rate / 1e9:.1f} vs {peak / 1e9:.1f} GFLOP/s",
        )
    )
    return rows


def to_markdown(rows: list[dict]) -> str:
    headers = ["set", "method", "ms/step", "ratio", "vs", "target", "met", "state B/param", "note"]
    table = [
        [
            r["set"],
            r["method"],
            f"{r['ms']:.2f}",
            f"{r['ratio']:.3f}",
            r["reference"],
            f"<= {r['target']}" if r["target"] else "",
            {True: "yes", False: "NO", None: ""}[r["met"]],
            "" if math.isnan(r["state_bytes_per_param"]) else f"{r['state_bytes_per_param']:.1f}",
            r["note"],
        ]
        for r in rows
    ]
    return tabulate(table, headers=headers, tablefmt="github")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", default="small,large", help="comma-separated: small, large")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--reps", type=int, default=5, help="timed steps per method")
    parser.add_argument(
        "--torch-muon-reps",
        type=int,
        default=1,
        help="timed torch.optim.Muon steps (slow on CPU; 0 skips it)",
    )
    parser.add_argument(
        "--torch-muon-sets",
        default="small",
        help="sets on which torch.optim.Muon is timed (minutes per step on CPU)",
    )
    parser.add_argument("--json", type=Path, help="write the rows as JSON")
    parser.add_argument("--markdown", type=Path, help="write the table as Markdown")
    args, _ = parser.parse_known_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    rows = []
    for name in args.sets.split(","):
        name = name.strip()
        torch_reps = args.torch_muon_reps if name in args.torch_muon_sets.split(",") else 0
        rows += bench_set(name, device, args.reps, torch_reps)
        print(to_markdown([r for r in rows if r["set"] == name]), flush=True)
    header = f"device {device}, torch {torch.__version__}, {torch.get_num_threads()} threads"
    text = header + "\n\n" + to_markdown(rows)
    print("\n" + text)
    if args.json:
        args.json.write_text(json.dumps(dict(header=header, rows=rows), indent=1))
    if args.markdown:
        args.markdown.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
