"""Train :class:`~theoropt.optim.models.CharGPT` on a character corpus with a named optimizer.

Used by the ``char-lm`` experiment; everything a run depends on is in :class:`TrainConfig` and
the seed (model initialisation and batch order), so a run is reproducible on one machine.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass

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

METHODS = ("adamw", "signum", "softsignum", "muon", "softmuon")
SOFT_METHODS = ("softsignum", "softmuon")


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
    device: str = "cpu"

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"unknown method {self.method!r}; expected one of {METHODS}")
        if self.steps < 1 or self.eval_every < 1 or self.batch_size < 1:
            raise ValueError("steps, eval_every and batch_size must be positive")

    def to_dict(self) -> dict:
        return asdict(self)


def make_optimizer(
    method: str, model: nn.Module, lr: float, steps: int, adamw_lr: float
) -> Optimizer:
    """The optimizer ``method`` with learning rate ``lr`` (Muon-type: AdamW at ``adamw_lr`` for
    embeddings, head, gains and biases). Weight decay is 0 for every method."""
    if method == "adamw":
        return torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.95), weight_decay=0.0)
    if method == "signum":
        return Signum(model.parameters(), lr=lr, momentum=0.9)
    if method == "softsignum":
        return SoftSignum(model.parameters(), lr=lr, momentum=0.9, total_steps=steps)
    groups = split_params(model)
    if method == "muon":
        return Muon(groups, lr=lr, adamw_lr=adamw_lr)
    if method == "softmuon":
        return SoftMuon(groups, lr=lr, adamw_lr=adamw_lr, total_steps=steps)
    raise ValueError(f"unknown method {method!r}; expected one of {METHODS}")


def warmup_cosine(steps: int, warmup_fraction: float, final_fraction: float):
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
    chunk = torch.from_numpy(ids[index]).to(device)
    return chunk[:, :-1], chunk[:, 1:]


@torch.no_grad()
def _evaluate(model: CharGPT, batches: list[tuple[torch.Tensor, torch.Tensor]]) -> float:
    model.eval()
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
    optimizer = make_optimizer(config.method, model, config.lr, config.steps, config.adamw_lr)
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
        curves["val_loss"].append(_evaluate(model, val_batches))

    record_eval(0)
    for step in range(1, config.steps + 1):
        x, y = _windows(
            corpus.train,
            rng.integers(0, len(corpus.train) - config.context - 1, config.batch_size),
            config.context,
            device,
        )
        start = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        loss = model.loss(x, y)
        loss.backward()
        before_step = time.perf_counter()
        optimizer.step()
        scheduler.step()
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
