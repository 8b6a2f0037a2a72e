"""Small models and fixed gradient streams shared by the optimizer tests."""

from __future__ import annotations

import io
from collections.abc import Callable

import torch
from torch import nn


def tiny_model(seed: int = 0) -> nn.Module:
    """A small MLP with matrices, biases and a gain: every kind of parameter."""
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(6, 16), nn.LayerNorm(16), nn.Tanh(), nn.Linear(16, 3))


def regression_batch(step: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A deterministic batch of a fixed nonlinear regression task."""
    g = torch.Generator().manual_seed(1000 + step)
    x = torch.randn(32, 6, generator=g)
    target = torch.stack([x[:, 0] * x[:, 1], torch.sin(x[:, 2]), x[:, 3:].sum(1)], dim=1)
    return x, target


def loss_of(model: nn.Module, step: int) -> torch.Tensor:
    x, target = regression_batch(step)
    return nn.functional.mse_loss(model(x), target)


def train(
    model: nn.Module, optimizer: torch.optim.Optimizer, steps: range, scheduler=None
) -> list[float]:
    """Run ``steps`` of the regression task; return the losses."""
    losses = []
    for step in steps:
        optimizer.zero_grad()
        loss = loss_of(model, step)
        loss.backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        losses.append(loss.item())
    return losses


def roundtrip(state: dict) -> dict:
    """``state`` after torch.save / torch.load, as a resumed run would see it."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=False)


def resume_matches_unbroken(
    make: Callable[[nn.Module], torch.optim.Optimizer], total: int, split: int
) -> None:
    """Training ``total`` steps equals training ``split``, saving, reloading and finishing."""
    model = tiny_model()
    optimizer = make(model)
    train(model, optimizer, range(total))

    first = tiny_model()
    optimizer_first = make(first)
    train(first, optimizer_first, range(split))
    model_state = roundtrip(first.state_dict())
    optimizer_state = roundtrip(optimizer_first.state_dict())
    resumed = tiny_model(seed=123)
    resumed.load_state_dict(model_state)
    optimizer_resumed = make(resumed)
    optimizer_resumed.load_state_dict(optimizer_state)
    train(resumed, optimizer_resumed, range(split, total))
    for a, b in zip(model.parameters(), resumed.parameters(), strict=True):
        assert torch.equal(a, b)
    assert optimizer.temperatures() == optimizer_resumed.temperatures()


def train_eager_and_compiled(
    models: list[nn.Module],
    optimizers: list[torch.optim.Optimizer],
    compiled_step: Callable[[int], Callable[[], object]],
    steps: int = 14,
    after_step: Callable[[], object] = lambda: None,
) -> list[int]:
    """Train two copies of a :func:`tiny_model` on the same batches: the first optimizer steps
    eagerly, the second by ``compiled_step(step)`` (its one-off schedule fit eagerly);
    ``after_step`` runs after each step (e.g. schedulers). Returns dynamo's count of unique
    graphs after each step."""
    group = optimizers[1].param_groups[0]
    graphs = []
    for step in range(steps):
        for model, optimizer in zip(models, optimizers, strict=True):
            optimizer.zero_grad()
            x = torch.randn(8, 6, generator=torch.Generator().manual_seed(step))
            nn.functional.mse_loss(model(x), torch.zeros(8, 3)).backward()
        optimizers[0].step()
        if optimizers[1]._fits_schedule_now(group):  # the one-off schedule fit runs eagerly
            optimizers[1].step()
        else:
            compiled_step(step)()
        after_step()
        graphs.append(torch._dynamo.utils.counters["stats"]["unique_graphs"])
    return graphs
