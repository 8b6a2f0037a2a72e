"""Data-parallel training of the character GPT with any theoropt optimizer, under ``torchrun``.

::

    torchrun --nproc-per-node 2 -m theoropt.optim.train_distributed --optimizer softmuon --fsdp

Every rank draws the same global batch (shared seed) and trains on its slice; gradients are
averaged by DistributedDataParallel (default) or by FSDP2 (``--fsdp``: each block, the head and
the root are ``fully_shard`` ed, parameters become ``DTensor`` s). Uses NCCL on CUDA (one GPU
per local rank) and gloo on the CPU. With ``--checkpoint DIR`` the model and optimizer
(temperature schedule included) are saved with ``torch.distributed.checkpoint`` every
``--save-every`` steps and at the end (or at ``--stop-at``), and a run started with an
existing checkpoint resumes from it: it replays the batch order and continues exactly.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
import torch.distributed.checkpoint as dcp
from torch import nn
from torch.distributed.checkpoint.state_dict import get_state_dict, set_state_dict
from torch.distributed.fsdp import fully_shard
from torch.nn import functional as F
from torch.nn.parallel import DistributedDataParallel

from theoropt.data.text import char_corpus
from theoropt.optim.models import CharGPT, GPTConfig
from theoropt.optim.training import make_optimizer

DEFAULT_LR = {
    "adamw": 3e-3,
    "signum": 3e-4,
    "softsignum": 3e-4,
    "muon": 0.02,
    "softmuon": 0.02,
    "muon-paper": 0.02,
    "softmuon-paper": 0.02,
}
"""The optimizers of this script (see :data:`theoropt.optim.training.METHODS`) and their rates."""


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--optimizer", choices=list(DEFAULT_LR), default="softmuon")
    parser.add_argument("--lr", type=float, default=None, help="default: per optimizer")
    parser.add_argument("--adamw-lr", type=float, default=3e-3)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--global-batch", type=int, default=32)
    parser.add_argument("--context", type=int, default=64)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--fsdp", action="store_true", help="FSDP2 instead of DDP")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--checkpoint", type=Path, default=None)
    parser.add_argument("--save-every", type=int, default=100)
    parser.add_argument(
        "--stop-at",
        type=int,
        default=None,
        help="stop after this step (saving a checkpoint), e.g. to fit a job's time limit; "
        "the schedule still plans --steps",
    )
    parser.add_argument("--log-every", type=int, default=20)
    parser.add_argument("--metrics", type=Path, default=None, help="rank 0 writes JSON here")
    args = parser.parse_args(argv)
    if args.steps < 1 or args.global_batch < 1 or args.save_every < 1 or args.log_every < 1:
        parser.error("--steps, --global-batch, --save-every and --log-every must be positive")
    return args


def wrap(model: CharGPT, use_fsdp: bool, device: torch.device) -> nn.Module:
    """DDP, or FSDP2 with one shard unit per block, the head, and the root."""
    if not use_fsdp:
        return DistributedDataParallel(
            model, device_ids=[device] if device.type == "cuda" else None
        )
    for block in model.blocks:
        fully_shard(block)
    fully_shard(model.head)
    fully_shard(model)
    return model


def _save(folder: Path, model: nn.Module, optimizer: torch.optim.Optimizer, step: int) -> None:
    model_state, optim_state = get_state_dict(model, optimizer)
    dcp.save({"model": model_state, "optim": optim_state, "step": step}, checkpoint_id=folder)


def _load(folder: Path, model: nn.Module, optimizer: torch.optim.Optimizer) -> int:
    model_state, optim_state = get_state_dict(model, optimizer)
    state: dict[str, Any] = {"model": model_state, "optim": optim_state, "step": 0}
    dcp.load(state, checkpoint_id=folder)
    set_state_dict(
        model, optimizer, model_state_dict=state["model"], optim_state_dict=state["optim"]
    )
    return int(state["step"])


def main(argv: Sequence[str] | None = None) -> dict[str, float]:
    args = parse_args(argv)
    use_cuda = torch.cuda.is_available()
    dist.init_process_group("nccl" if use_cuda else "gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    if args.global_batch % world:
        raise SystemExit(f"--global-batch {args.global_batch} is not divisible by {world} ranks")
    device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0))) if use_cuda else None
    device = device or torch.device("cpu")
    if use_cuda:
        torch.cuda.set_device(device)
    corpus = char_corpus()
    torch.manual_seed(args.seed)
    config = GPTConfig(corpus.vocab_size, args.context, args.layers, args.heads, args.width)
    model = wrap(CharGPT(config).to(device), args.fsdp, device)
    lr = args.lr if args.lr is not None else DEFAULT_LR[args.optimizer]
    optimizer = make_optimizer(args.optimizer, model, lr, args.steps, args.adamw_lr)
    start = 0
    if args.checkpoint is not None and (args.checkpoint / ".metadata").exists():
        start = _load(args.checkpoint, model, optimizer)
    share = slice(rank * args.global_batch // world, (rank + 1) * args.global_batch // world)
    rng = np.random.default_rng(args.seed)
    offsets = np.arange(args.context + 1)
    loss = torch.zeros((), device=device)
    stop = args.steps if args.stop_at is None else min(args.stop_at, args.steps)
    for step in range(stop):
        starts = rng.integers(0, len(corpus.train) - args.context - 1, args.global_batch)
        if step < start:
            continue  # replay the batch order of the steps already taken
        chunk = torch.from_numpy(corpus.train[starts[share, None] + offsets]).to(device)
        optimizer.zero_grad(set_to_none=True)
        # Call the wrapped model itself: DDP and FSDP2 hook into forward, not into .loss().
        logits = model(chunk[:, :-1])
        loss = F.cross_entropy(logits.flatten(0, 1), chunk[:, 1:].flatten())
        loss.backward()
        optimizer.step()
        if rank == 0 and (step + 1) % args.log_every == 0:
            temperature = getattr(optimizer, "temperatures", lambda: [None])()[0]
            print(f"step {step + 1}: loss {loss.item():.4f} temperature {temperature}", flush=True)
        if args.checkpoint is not None and (step + 1) % args.save_every == 0:
            _save(args.checkpoint, model, optimizer, step + 1)
    if args.checkpoint is not None:
        _save(args.checkpoint, model, optimizer, stop)
    summary = torch.stack([loss.detach().float()])
    dist.all_reduce(summary)
    metrics = {"mean_final_train_loss": summary.item() / world, "world_size": world, "step": stop}
    if rank == 0 and args.metrics is not None:
        args.metrics.write_text(json.dumps(metrics))
    del model, optimizer  # a DDP module alive past destroy_process_group hangs the exit
    dist.destroy_process_group()
    return metrics


if __name__ == "__main__":
    main()
