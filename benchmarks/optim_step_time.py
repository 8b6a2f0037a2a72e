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
import statistics
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
    "large": GPTConfig(vocab_size=65, context=512, n_layer=8, n_head=8, d_model=512),
}


class ExactTanhMap(TanhMap):
    """``torch.tanh`` itself: the alternative to the sigmoid form, timed for the decision."""

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


def time_steps(step: Callable[[], None], device: torch.device, warmup: int, reps: int) -> float:
    """Median wall time of one call in milliseconds."""
    for _ in range(warmup):
        step()
    times = []
    for _ in range(reps):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


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


def matmul_rate(device: torch.device) -> float:
    """Float32 matmul FLOP/s on 1024 x 1024 matrices (the 'peak' of this run)."""
    x = torch.randn(1024, 1024, device=device)
    ms = time_steps(lambda: x @ x, device, warmup=2, reps=10)
    return 2 * 1024**3 / (ms / 1e3)


def bench_set(name: str, device: torch.device, reps: int, torch_muon_reps: int) -> list[dict]:
    config = SETS[name]
    rows: list[dict] = []

    def record(method, reference, ms, ref_ms, target, state=math.nan, note=""):
        ratio = ms / ref_ms if ref_ms else math.nan
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
    params = make_params(config, device, matrices_only=False)
    count = sum(p.numel() for p in params)
    adamw = torch.optim.AdamW(params, lr=1e-3, foreach=True)
    adamw_ms = time_steps(adamw.step, device, 3, reps)
    record(
        "torch AdamW (foreach)",
        "-",
        adamw_ms,
        adamw_ms,
        None,
        state_bytes_per_param(adamw, params),
        f"{count / 1e6:.2f} M parameters",
    )
    signum = Signum(params, lr=1e-3)
    record(
        "Signum",
        "AdamW",
        time_steps(signum.step, device, 3, reps),
        adamw_ms,
        None,
        state_bytes_per_param(signum, params),
    )
    for label, soft_map in (
        ("SoftSignum (transition)", "tanh"),
        ("SoftSignum, torch.tanh", ExactTanhMap()),
        ("SoftSignum, algebraic", "algebraic"),
    ):
        soft = SoftSignum(params, lr=1e-3, total_steps=2, sign_fraction=0.5, soft_map=soft_map)
        soft.step()  # past the sign phase: every timed step is a soft step
        target = 1.0 if soft_map == "tanh" else None
        record(
            label,
            "AdamW",
            time_steps(soft.step, device, 2, reps),
            adamw_ms,
            target,
            state_bytes_per_param(soft, params),
        )

    # Muon-type optimizers on the hidden matrices.
    matrices = make_params(config, device, matrices_only=True)
    plain = PlainMuon(matrices)
    plain_ms = time_steps(plain.step, device, 2, reps)
    record(
        "plain float32 Muon (5 NS steps)",
        "-",
        plain_ms,
        plain_ms,
        None,
        state_bytes_per_param(plain, matrices),
        f"{len(matrices)} matrices",
    )
    ours = Muon([{"params": matrices, "use_muon": True}])
    muon_ms = time_steps(ours.step, device, 2, reps)
    record(
        "Muon (ours)", "plain Muon", muon_ms, plain_ms, 1.1, state_bytes_per_param(ours, matrices)
    )
    soft_muon = SoftMuon([{"params": matrices, "use_muon": True}], total_steps=2, sign_fraction=0.5)
    soft_muon.step()
    soft_ms = time_steps(soft_muon.step, device, 1, reps)
    record(
        "SoftMuon (transition)",
        "plain Muon",
        soft_ms,
        plain_ms,
        1.5,
        state_bytes_per_param(soft_muon, matrices),
        f"tau = {soft_muon.temperatures()[0]:.3g}",
    )
    if torch_muon_reps > 0:
        reference = torch.optim.Muon(matrices, lr=0.02)
        torch_ms = time_steps(reference.step, device, 1 if name == "small" else 0, torch_muon_reps)
        record(
            "Muon (ours)",
            "torch.optim.Muon",
            muon_ms,
            torch_ms,
            0.1,
            state_bytes_per_param(ours, matrices),
            f"torch.optim.Muon: {torch_ms:.0f} ms",
        )
    # Newton–Schulz alone, batched as in Muon, as a share of the matmul rate.
    by_shape: dict[tuple[int, ...], list[Tensor]] = {}
    for p in matrices:
        by_shape.setdefault(tuple(p.shape), []).append(p.grad)
    stacks = [torch.stack(g) for g in by_shape.values()]
    ns_ms = time_steps(
        lambda: [newton_schulz_polar(s, 5, dtype=torch.float32) for s in stacks], device, 2, reps
    )
    rate = ns_flops(matrices) / (ns_ms / 1e3)
    peak = matmul_rate(device)
    rows.append(
        dict(
            set=name,
            method="Newton–Schulz FLOP rate",
            reference="matmul 1024^3",
            ms=ns_ms,
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
    parser.add_argument("--json", type=Path, help="write the rows as JSON")
    parser.add_argument("--markdown", type=Path, help="write the table as Markdown")
    args, _ = parser.parse_known_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    rows = []
    for name in args.sets.split(","):
        rows += bench_set(name.strip(), device, args.reps, args.torch_muon_reps)
    header = f"device {device}, torch {torch.__version__}, {torch.get_num_threads()} threads"
    text = header + "\n\n" + to_markdown(rows)
    print(text)
    if args.json:
        args.json.write_text(json.dumps(dict(header=header, rows=rows), indent=1))
    if args.markdown:
        args.markdown.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
