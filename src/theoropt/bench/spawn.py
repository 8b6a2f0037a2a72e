"""Run a function in N gloo processes on the CPU and collect what each returns (tests, benchmarks).

``run_distributed(fn, world_size, *args)`` spawns ``world_size`` processes, initialises a gloo
process group in each, calls ``fn(rank, world_size, *args)`` and returns the list of the
values the ranks returned (saved with ``torch.save``). ``fn`` must be a module-level function.
"""

from __future__ import annotations

import os
import socket
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
import torch.multiprocessing as mp


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _worker(rank: int, world_size: int, port: int, folder: str, fn: Callable, args: tuple) -> None:
    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(port)
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world_size)
    try:
        result = fn(rank, world_size, *args)
        torch.save(result, Path(folder) / f"rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def run_distributed(fn: Callable[..., Any], world_size: int, *args: Any) -> list[Any]:
    """Results of ``fn(rank, world_size, *args)`` on each rank of a fresh gloo group."""
    with tempfile.TemporaryDirectory() as folder:
        mp.spawn(_worker, args=(world_size, _free_port(), folder, fn, args), nprocs=world_size)
        return [
            torch.load(Path(folder) / f"rank{rank}.pt", weights_only=False)
            for rank in range(world_size)
        ]
