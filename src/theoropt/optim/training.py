"""Train :class:`~theoropt.optim.models.CharGPT` on a character corpus with a named optimizer.

Used by the ``char-lm`` experiment; everything a run depends on is in :class:`TrainConfig` and
the seed (model initialisation and batch order), so a run is reproducible on one machine.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR

from theoropt.data.text import CharCorpus
from theoropt.optim.models import CharGPT, GPTConfig
from theoropt.optim.muon import Muon, SoftMuon
from theoropt.optim.param_split import split_params
from theoropt.optim.sign import Signum, SoftSignum

OptimizerFactory = Callable[[nn.Module, float, int, float, float], Optimizer]
"""``make(model, lr, steps, adamw_lr, sign_fraction)``: a method's optimizer for a model."""


@dataclass(frozen=True)
class Method:
    """A named optimizer: ``make(model, lr, steps, adamw_lr, sign_fraction)``.

    ``hard`` names the method whose update a soft method's sign phase is (``None`` for the hard
    methods); ``variant`` says whose algorithm it is: ``"paper"`` (the authors' code),
    ``"exact"`` (theoropt's) or ``""`` (no variants).
    """

    label: str
    make: OptimizerFactory
    hard: str | None = None
    variant: str = ""

    @property
    def soft(self) -> bool:
        return self.hard is not None


def _muon(variant: str, **options: Any) -> OptimizerFactory:
    def make(model: nn.Module, lr: float, steps: int, adamw_lr: float, fraction: float) -> Muon:
        return Muon(split_params(model), lr=lr, adamw_lr=adamw_lr, variant=variant, **options)

    return make


def _softmuon(variant: str) -> OptimizerFactory:
    def make(model: nn.Module, lr: float, steps: int, adamw_lr: float, fraction: float) -> SoftMuon:
        return SoftMuon(
            split_params(model),
            lr=lr,
            adamw_lr=adamw_lr,
            total_steps=steps,
            sign_fraction=fraction,
            variant=variant,
        )

    return make


METHODS: dict[str, Method] = {
    "adamw": Method(
        "AdamW",
        lambda model, lr, steps, adamw_lr, fraction: torch.optim.AdamW(
            model.parameters(), lr=lr, betas=(0.9, 0.95), weight_decay=0.0
        ),
    ),
    "signum": Method(
        "Signum", lambda model, lr, steps, adamw_lr, fraction: Signum(model.parameters(), lr=lr)
    ),
    "softsignum": Method(
        "SoftSignum",
        lambda model, lr, steps, adamw_lr, fraction: SoftSignum(
            model.parameters(), lr=lr, total_steps=steps, sign_fraction=fraction
        ),
        hard="signum",
    ),
    "signum-normalized": Method(
        "Signum, normalized",
        lambda model, lr, steps, adamw_lr, fraction: Signum(
            model.parameters(), lr=lr, normalized=True
        ),
    ),
    "softsignum-normalized": Method(
        "SoftSignum, normalized",
        lambda model, lr, steps, adamw_lr, fraction: SoftSignum(
            model.parameters(), lr=lr, total_steps=steps, sign_fraction=fraction, normalized=True
        ),
        hard="signum-normalized",
    ),
    "muon": Method("Muon+AdamW (exact)", _muon("exact"), variant="exact"),
    "softmuon": Method("SoftMuon+AdamW (exact)", _softmuon("exact"), hard="muon", variant="exact"),
    "muon-paper": Method("Muon+AdamW (paper)", _muon("paper"), variant="paper"),
    "softmuon-paper": Method(
        "SoftMuon+AdamW (paper)", _softmuon("paper"), hard="muon-paper", variant="paper"
    ),
}
"""The methods of the ``char-lm`` experiment. Signum-type methods use momentum 0.9 (SGD-style
buffer, no Nesterov); Muon-type methods momentum 0.95 with Nesterov and AdamW for embeddings,
head, gains and biases. ``(exact)`` / ``(paper)``: :mod:`theoropt.optim.polar_variants`."""

MUON_ABLATIONS: dict[str, Method] = {
    "muon-exact+zero-start": Method(
        "exact, momentum from zero",
        _muon("paper", ns_dtype=torch.float32, adamw_eps=1e-8),
        variant="exact",
    ),
    "muon-exact+bf16": Method(
        "exact, bfloat16 Newton–Schulz", _muon("exact", ns_dtype=torch.bfloat16), variant="exact"
    ),
    "muon-exact+eps1e-10": Method(
        "exact, AdamW eps 1e-10", _muon("exact", adamw_eps=1e-10), variant="exact"
    ),
    "muon-paper+gradient-start": Method(
        "paper, momentum from the first gradient",
        _muon("exact", ns_dtype=torch.bfloat16, adamw_eps=1e-10),
        variant="paper",
    ),
}
"""Muon (exact) with one difference from Muon (paper) each: the momentum started at zero
(``variant="paper"`` with float32 Newton–Schulz and AdamW eps 1e-8), bfloat16 Newton–Schulz,
AdamW ``eps`` 1e-10; and Muon (paper) with the momentum started at the first gradient
(``variant="exact"`` with bfloat16 Newton–Schulz and AdamW eps 1e-10). Used to find which
difference separates the two Muons."""

ALL_METHODS: dict[str, Method] = {**METHODS, **MUON_ABLATIONS}
PRECISIONS = ("float32", "bfloat16-autocast")


@dataclass(frozen=True)
class TrainConfig:
    """One training run: model size, token budget, optimizer and its learning rate."""

    method: str
    lr: float
    steps: int
    batch_size: int = 16
    context: int = 64
    n_layer: int = 2
    n_head: int = 4
    d_model: int = 64
    eval_every: int = 25
    eval_batches: int = 8
    warmup_fraction: float = 0.02
    final_lr_fraction: float = 0.1
    adamw_lr: float = 3e-3
    sign_fraction: float = 0.9
    precision: str = "float32"
    device: str = "cpu"

    def __post_init__(self) -> None:
        if self.method not in ALL_METHODS:
            known = ", ".join(ALL_METHODS)
            raise ValueError(f"unknown method {self.method!r}; expected one of {known}")
        if self.steps < 1 or self.eval_every < 1 or self.batch_size < 1:
            raise ValueError("steps, eval_every and batch_size must be positive")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")

    def to_dict(self) -> dict:
        return asdict(self)


def make_optimizer(
    method: str,
    model: nn.Module,
    lr: float,
    steps: int,
    adamw_lr: float,
    sign_fraction: float = 0.9,
) -> Optimizer:
    """The optimizer ``method`` (a key of :data:`ALL_METHODS`) with learning rate ``lr``
    (Muon-type: AdamW at ``adamw_lr`` for embeddings, head, gains and biases). Weight decay is
    0 for every method; the soft methods leave the sign phase after ``sign_fraction`` of the
    ``steps``."""
    if method not in ALL_METHODS:
        raise ValueError(f"unknown method {method!r}; expected one of {', '.join(ALL_METHODS)}")
    return ALL_METHODS[method].make(model, lr, steps, adamw_lr, sign_fraction)


def warmup_cosine(
    steps: int, warmup_fraction: float, final_fraction: float
) -> Callable[[int], float]:
    """LR multiplier: linear warm-up, then cosine decay to ``final_fraction``."""
    warmup = max(1, round(warmup_fraction * steps))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = min(1.0, (step - warmup) / max(1, steps - warmup))
        return final_fraction + (1 - final_fraction) * 0.5 * (1 + math.cos(math.pi * progress))

    return factor


def _windows(
    ids: np.ndarray, starts: np.ndarray, context: int, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs and next-character targets of the windows starting at ``starts``."""
    index = starts[:, None] + np.arange(context + 1)[None, :]
    chunk = torch.from_numpy(ids[index].astype(np.int64)).to(device)
    return chunk[:, :-1], chunk[:, 1:]


def _autocast(precision: str, device: torch.device) -> AbstractContextManager[Any]:
    """The forward passes' precision: float32, or bfloat16 autocast (float32 parameters)."""
    if precision == "bfloat16-autocast":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return nullcontext()


def _synchronize(device: torch.device) -> None:
    """Wait for the device's queued work, so that wall-clock times are those of the work."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@torch.no_grad()
def _evaluate(
    model: CharGPT, batches: list[tuple[torch.Tensor, torch.Tensor]], precision: str
) -> float:
    model.eval()
    with _autocast(precision, batches[0][0].device):
        total = sum(model.loss(x, y).item() for x, y in batches)
    model.train()
    return total / len(batches)


def train_char_lm(corpus: CharCorpus, config: TrainConfig, seed: int) -> tuple[dict, dict]:
    """Train and return ``(metrics, curves)``.

    Curves: ``tokens`` / ``val_loss`` at every evaluation (fixed validation windows spread over
    the validation text), ``train_tokens`` / ``train_loss`` (mean over each evaluation
    interval), and for the soft methods ``temperature_step`` / ``temperature`` over the
    transition (with metrics ``transition_at_tmax``, the share of those steps clamped at
    ``tmax``, and ``schedule_location`` / ``schedule_scale``, the fitted statistics).
    Metrics: ``final_val_loss``, ``best_val_loss``, ``tokens_per_s`` (training only),
    ``optimizer_ms`` (mean optimizer step), ``diverged`` (1 if the loss became non-finite; the
    run stops there).
    """
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    device = torch.device(config.device)
    model = CharGPT(
        GPTConfig(corpus.vocab_size, config.context, config.n_layer, config.n_head, config.d_model)
    ).to(device)
    optimizer = make_optimizer(
        config.method, model, config.lr, config.steps, config.adamw_lr, config.sign_fraction
    )
    scheduler = LambdaLR(
        optimizer, warmup_cosine(config.steps, config.warmup_fraction, config.final_lr_fraction)
    )
    n_val = config.eval_batches * config.batch_size
    val_starts = np.linspace(0, len(corpus.val) - config.context - 2, n_val).astype(np.int64)
    val_batches = [
        _windows(corpus.val, chunk, config.context, device)
        for chunk in np.array_split(val_starts, config.eval_batches)
    ]
    tokens_per_step = config.batch_size * config.context
    curves: dict[str, list[float]] = {
        k: [] for k in ("tokens", "val_loss", "train_tokens", "train_loss")
    }
    temperatures: list[tuple[int, float]] = []
    train_time = optimizer_time = 0.0
    window: list[float] = []
    diverged = False

    def record_eval(step: int) -> None:
        curves["tokens"].append(float(step * tokens_per_step))
        curves["val_loss"].append(_evaluate(model, val_batches, config.precision))

    record_eval(0)
    for step in range(1, config.steps + 1):
        x, y = _windows(
            corpus.train,
            rng.integers(0, len(corpus.train) - config.context - 1, config.batch_size),
            config.context,
            device,
        )
        _synchronize(device)
        start = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        with _autocast(config.precision, device):
            loss = model.loss(x, y)
        loss.backward()
        _synchronize(device)
        before_step = time.perf_counter()
        optimizer.step()
        scheduler.step()
        _synchronize(device)
        end = time.perf_counter()
        train_time += end - start
        optimizer_time += end - before_step
        value = loss.item()
        if not math.isfinite(value):
            diverged = True
            break
        window.append(value)
        tau = getattr(optimizer, "temperatures", lambda: [None])()[0]
        if tau is not None and math.isfinite(tau):
            temperatures.append((step, tau))
        if step % config.eval_every == 0 or step == config.steps:
            curves["train_tokens"].append(float(step * tokens_per_step))
            curves["train_loss"].append(float(np.mean(window)))
            window = []
            record_eval(step)
    if temperatures:
        curves["temperature_step"] = [float(s) for s, _ in temperatures]
        curves["temperature"] = [t for _, t in temperatures]
        group = optimizer.param_groups[0]
        at_max = [t >= group["tmax"] for _, t in temperatures]
        extra_metrics = {
            "transition_at_tmax": float(np.mean(at_max)),
            "schedule_location": group["schedule_statistics"][0],
            "schedule_scale": group["schedule_statistics"][1],
        }
    else:
        extra_metrics = {}
    done_steps = step if not diverged else step - 1
    final = math.nan if diverged else curves["val_loss"][-1]
    metrics = {
        "final_val_loss": final,
        "best_val_loss": float(np.nanmin(curves["val_loss"])) if not diverged else math.nan,
        "tokens_per_s": done_steps * tokens_per_step / train_time if train_time > 0 else math.nan,
        "optimizer_ms": 1e3 * optimizer_time / max(1, done_steps),
        "diverged": float(diverged),
        "parameters": float(sum(p.numel() for p in model.parameters())),
        **extra_metrics,
    }
    return metrics, curves
