"""A tiny model trained by one process and by 2 gloo ranks (DDP or FSDP2) on the same batches."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
import torch.distributed.checkpoint as dcp
from torch import nn
from torch.distributed.checkpoint.state_dict import get_state_dict, set_state_dict
from torch.distributed.fsdp import fully_shard
from torch.nn.parallel import DistributedDataParallel

from theoropt.optim import SoftMuon, SoftSignum, split_params

VOCAB, WIDTH, HIDDEN, BATCH, LENGTH = 13, 12, 22, 8, 6
TOTAL_STEPS, SIGN_FRACTION = 10, 0.5  # 5 sign steps, then 5 transition steps


class TinyModel(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(VOCAB, WIDTH)
        self.up = nn.Linear(WIDTH, HIDDEN)
        self.down = nn.Linear(HIDDEN, WIDTH)
        self.norm = nn.LayerNorm(WIDTH)
        self.head = nn.Linear(WIDTH, VOCAB)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        h = self.embed(ids)
        h = self.norm(h + self.down(torch.nn.functional.gelu(self.up(h))))
        return self.head(h)


def make_model() -> TinyModel:
    torch.manual_seed(0)
    return TinyModel()


def batches(steps: int) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    return [torch.randint(0, VOCAB, (BATCH, LENGTH + 1), generator=generator) for _ in range(steps)]


def make_optimizer(name: str, model: nn.Module, mesh=None) -> torch.optim.Optimizer:
    """``mesh``: the process group that shares out SoftMuon's matrices (DDP work sharding)."""
    if name.startswith("softsignum"):
        return SoftSignum(
            model.parameters(),
            lr=0.01,
            total_steps=TOTAL_STEPS,
            sign_fraction=SIGN_FRACTION,
            normalized=name.endswith("normalized"),
        )
    if name == "softmuon-paper":
        return SoftMuon(
            split_params(model),
            lr=0.02,
            total_steps=TOTAL_STEPS,
            sign_fraction=SIGN_FRACTION,
            variant="paper",
        )
    return SoftMuon(
        split_params(model),
        lr=0.02,
        total_steps=TOTAL_STEPS,
        sign_fraction=SIGN_FRACTION,
        variant="exact",
        soft_polar_dtype=torch.float64,
        ns_tol=1e-10,
        distributed_mesh=mesh,
    )


def train_steps(model: nn.Module, optimizer, data: list[torch.Tensor], parts: int = 1) -> None:
    """One step per batch; ``parts > 1`` accumulates the mean loss of equal slices of it."""
    for ids in data:
        optimizer.zero_grad()
        for piece in ids.chunk(parts):
            logits = model(piece[:, :-1])
            targets = piece[:, 1:].reshape(-1)
            loss = nn.functional.cross_entropy(logits.reshape(-1, VOCAB), targets) / parts
            loss.backward()
        optimizer.step()


def full_parameters(model: nn.Module) -> dict[str, torch.Tensor]:
    out = {}
    for name, p in model.named_parameters():
        value = p.full_tensor() if hasattr(p, "full_tensor") else p
        out[name.removeprefix("module.")] = value.detach().clone()
    return out


def momenta(model: nn.Module, optimizer) -> dict[str, torch.Tensor]:
    """Full momentum buffers by parameter name (for explaining sign flips)."""
    out = {}
    for name, p in model.named_parameters():
        buffer = optimizer.state[p].get("momentum_buffer")
        if buffer is not None:
            value = buffer.full_tensor() if hasattr(buffer, "full_tensor") else buffer
            out[name.removeprefix("module.")] = value.detach().clone()
    return out


def snapshot(model: nn.Module, optimizer) -> dict[str, Any]:
    return {
        "params": full_parameters(model),
        "momenta": momenta(model, optimizer),
        "temperatures": optimizer.temperatures(),
    }


def single_process(
    optimizer_name: str, checkpoints: tuple[int, ...], parts: int = 1
) -> list[dict[str, Any]]:
    """Snapshots after each number of steps in ``checkpoints``, whole batches, one process.

    With ``parts = world`` the gradient is the mean of the per-slice gradients, summed in the
    order data parallelism averages them; ``parts = 1`` is one backward pass over the batch.
    """
    model = make_model()
    optimizer = make_optimizer(optimizer_name, model)
    data = batches(max(checkpoints))
    snapshots, done = [], 0
    for k in checkpoints:
        train_steps(model, optimizer, data[done:k], parts)
        done = k
        snapshots.append(snapshot(model, optimizer))
    return snapshots


def _wrap(model: nn.Module, wrapper: str) -> nn.Module:
    if wrapper in ("ddp", "ddp-sharded"):
        return DistributedDataParallel(model)
    for module in (model.up, model.down, model.head):
        fully_shard(module)
    fully_shard(model)
    return model


def distributed(
    rank: int,
    world: int,
    optimizer_name: str,
    wrapper: str,
    checkpoints: tuple[int, ...],
    folder: str,
) -> dict[str, Any]:
    """The same training on this rank's half of each batch; then a checkpoint round trip.

    Returns the snapshots at ``checkpoints`` and, for the last one, the snapshot of a fresh
    model and optimizer that loaded a ``torch.distributed.checkpoint`` saved at the first
    checkpoint and trained on to the last.
    """
    share = slice(rank * BATCH // world, (rank + 1) * BATCH // world)
    data = [ids[share] for ids in batches(max(checkpoints))]
    mesh = dist.group.WORLD if wrapper == "ddp-sharded" else None
    model = _wrap(make_model(), wrapper)
    optimizer = make_optimizer(optimizer_name, model, mesh)
    if mesh is not None:
        optimizer._orthogonalise = _counting(optimizer._orthogonalise, counts := [])
    snapshots, done = [], 0
    for k in checkpoints:
        train_steps(model, optimizer, data[done:k])
        if done == 0:
            model_state, optim_state = get_state_dict(model, optimizer)
            dcp.save({"model": model_state, "optim": optim_state}, checkpoint_id=folder)
        done = k
        snapshots.append(snapshot(model, optimizer))
    dist.barrier()
    resumed_model = _wrap(make_model(), wrapper)
    resumed_optimizer = make_optimizer(optimizer_name, resumed_model, mesh)
    model_state, optim_state = get_state_dict(resumed_model, resumed_optimizer)
    state = {"model": model_state, "optim": optim_state}
    dcp.load(state, checkpoint_id=folder)
    set_state_dict(
        resumed_model,
        resumed_optimizer,
        model_state_dict=state["model"],
        optim_state_dict=state["optim"],
    )
    train_steps(resumed_model, resumed_optimizer, data[checkpoints[0] :])
    return {
        "snapshots": snapshots,
        "resumed": snapshot(resumed_model, resumed_optimizer),
        "checkpoint_files": sorted(p.name for p in Path(folder).iterdir()),
        "orthogonalised": counts if mesh is not None else None,
        "copy_shares_the_group": _copy_shares_the_group(optimizer) if mesh is not None else None,
    }


def _copy_shares_the_group(optimizer) -> bool:
    """A deep copy of a work-sharing optimizer uses the same process group (not a copy)."""
    return copy.deepcopy(optimizer)._distributed_group.value is optimizer._distributed_group.value


def _counting(orthogonalise, counts: list[int]):
    """``orthogonalise`` that records how many matrices each call receives."""

    def counted(G, *args):
        counts.append(G.shape[0])
        return orthogonalise(G, *args)

    return counted


def distributed_cases(
    rank: int, world: int, cases: list[tuple[str, str]], checkpoints: tuple[int, ...], folder: str
) -> dict[tuple[str, str], dict[str, Any]]:
    """:func:`distributed` for each ``(optimizer, wrapper)`` case in one process group."""
    results = {}
    for optimizer_name, wrapper in cases:
        case_folder = str(Path(folder) / f"{optimizer_name}-{wrapper}")
        results[optimizer_name, wrapper] = distributed(
            rank, world, optimizer_name, wrapper, checkpoints, case_folder
        )
        dist.barrier()
    return results
