"""Matrix updates for plain and sharded (``DTensor``) parameters, batched by shape.

Muon-type updates need whole matrices. For parameters sharded by FSDP2 (``fully_shard``: a
``DTensor`` split along dim 0 over a 1-D device mesh) the work is assigned round-robin: matrix
``i`` belongs to rank ``i mod world``. Its owner gathers the shards (``gather``), computes the
update together with its other matrices of the same shape, and sends each rank its rows back
(``scatter``). Per step and matrix this moves the matrix once in and once out, and every rank
orthogonalises only ``1/world`` of the matrices. Other placements fall back to gathering the
full matrix on every rank (``full_tensor``) and keeping the local part.

Plain tensors are updated locally, unless a process group is given (``distributed_mesh`` of
the optimizers): under DistributedDataParallel every rank holds the same parameters and the
same averaged gradients, so computing every update on every rank does ``world`` times the work
that is needed. With a group, the matrices are assigned to ranks by cost (longest first, each
to the least-loaded rank, cost ``k n^2 m`` for ``k`` matrices of sides ``n <= m``: the
multiply-adds of a Newton–Schulz step); each rank computes its share, batched by shape, and one
``all_gather`` per dtype gives every rank every update (each rank's results packed into one
buffer, padded to the largest share). Every rank then holds the owner's bits, so the
replicas stay identical.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor
from torch.distributed.device_mesh import DeviceMesh
from torch.distributed.tensor import DTensor, Shard, distribute_tensor

MatrixFunction = Callable[[Tensor], Tensor]
"""Maps a batch of matrices ``(k, rows, cols)`` to their updates, same shape."""


def process_group(mesh: Any) -> dist.ProcessGroup | None:
    """The process group of ``distributed_mesh``: a ``ProcessGroup``, a 1-D ``DeviceMesh`` or
    ``None`` (no work sharding)."""
    if mesh is None or isinstance(mesh, dist.ProcessGroup):
        return mesh
    if isinstance(mesh, DeviceMesh):
        if mesh.ndim != 1:
            raise ValueError(f"distributed_mesh must be a 1-D device mesh, got {mesh.ndim} dims")
        return mesh.get_group()
    raise TypeError(
        f"distributed_mesh must be a torch.distributed ProcessGroup or a 1-D DeviceMesh, "
        f"got {type(mesh).__name__}"
    )


def local(t: Tensor) -> Tensor:
    """The part of ``t`` stored on this process (``t`` itself unless it is a ``DTensor``)."""
    return t.to_local() if isinstance(t, DTensor) else t


def gathered(t: Tensor) -> Tensor:
    """The whole of ``t`` on every process (all-gather for a ``DTensor``)."""
    return t.full_tensor() if isinstance(t, DTensor) else t


def as_matrices(t: Tensor, stacked: bool) -> Tensor:
    """A batch ``(k, rows, cols)`` of matrices viewed from a parameter-shaped tensor.

    ``stacked=False``: one matrix, dim 0 against the rest flattened (linear and convolution
    weights). ``stacked=True``: the last two dims are the matrix and the leading ones index a
    stack (mixture-of-experts weights ``(experts, out, in)``).
    """
    if stacked:
        return t.reshape(-1, t.shape[-2], t.shape[-1])
    return t.reshape(1, t.shape[0], -1)


def _local_batched(tensors: Sequence[Tensor], stacked: bool, fn: MatrixFunction) -> list[Tensor]:
    """Updates of plain tensors, equal matrix shapes stacked into one call of ``fn``."""
    by_shape: dict[tuple[int, ...], list[int]] = defaultdict(list)
    views = [as_matrices(t, stacked) for t in tensors]
    for i, view in enumerate(views):
        by_shape[tuple(view.shape[1:])].append(i)
    updates: list[Tensor] = [torch.empty(0)] * len(tensors)
    for indices in by_shape.values():
        batch = fn(torch.cat([views[i] for i in indices]))
        offset = 0
        for i in indices:
            count = views[i].shape[0]
            updates[i] = batch[offset : offset + count].reshape(tensors[i].shape)
            offset += count
    return updates


def matrix_cost(view: Tensor) -> int:
    """Multiply-adds of one Newton–Schulz step on a batch ``(k, rows, cols)``: ``k n^2 m``."""
    k, rows, cols = view.shape
    n, m = sorted((rows, cols))
    return k * n * n * m


def balanced_owners(costs: Sequence[int], world: int) -> list[int]:
    """The rank that computes each item: largest cost first, each to the least-loaded rank.

    Longest-processing-time-first scheduling; ties go to the lower index and the lower rank, so
    every rank computes the same assignment from the same costs.
    """
    load = [0] * world
    owners = [0] * len(costs)
    for i in sorted(range(len(costs)), key=lambda i: (-costs[i], i)):
        rank = min(range(world), key=lambda r: (load[r], r))
        owners[i] = rank
        load[rank] += costs[i]
    return owners


def _shared_out(
    tensors: Sequence[Tensor], stacked: bool, fn: MatrixFunction, group: dist.ProcessGroup
) -> list[Tensor]:
    """Updates of replicated tensors: each rank computes its share, ``all_gather`` the rest."""
    world, rank = dist.get_world_size(group), dist.get_rank(group)
    owners = balanced_owners([matrix_cost(as_matrices(t, stacked)) for t in tensors], world)
    mine = [i for i, owner in enumerate(owners) if owner == rank]
    computed = dict(zip(mine, _local_batched([tensors[i] for i in mine], stacked, fn), strict=True))
    updates: list[Tensor] = [torch.empty(0)] * len(tensors)
    for dtype in dict.fromkeys(t.dtype for t in tensors):
        shares = [
            [i for i, t in enumerate(tensors) if t.dtype == dtype and owners[i] == r]
            for r in range(world)
        ]
        width = max(sum(tensors[i].numel() for i in share) for share in shares)
        device = tensors[shares[rank][0] if shares[rank] else 0].device
        send = torch.zeros(width, dtype=dtype, device=device)
        offset = 0
        for i in shares[rank]:
            send[offset : offset + tensors[i].numel()] = computed[i].reshape(-1)
            offset += tensors[i].numel()
        received = [torch.empty_like(send) for _ in range(world)]
        dist.all_gather(received, send, group=group)
        for share, buffer in zip(shares, received, strict=True):
            offset = 0
            for i in share:
                count = tensors[i].numel()
                updates[i] = buffer[offset : offset + count].view(tensors[i].shape)
                offset += count
    return updates


def _is_row_sharded(t: DTensor) -> bool:
    return t.device_mesh.ndim == 1 and tuple(t.placements) == (Shard(0),)


def _row_chunks(rows: int, world: int) -> list[int]:
    """Rows held by each rank under ``Shard(0)`` (``torch.chunk`` sizes, trailing zeros)."""
    size = math.ceil(rows / world)
    return [max(0, min(size, rows - r * size)) for r in range(world)]


def _padded(t: Tensor, rows: int) -> Tensor:
    if t.shape[0] == rows:
        return t.contiguous()
    out = t.new_zeros((rows, *t.shape[1:]))
    out[: t.shape[0]] = t
    return out


def _round_robin(tensors: Sequence[DTensor], stacked: bool, fn: MatrixFunction) -> list[Tensor]:
    """Local shards of the updates of row-sharded tensors, each computed by one owner rank."""
    mesh = tensors[0].device_mesh
    if any(t.device_mesh != mesh for t in tensors):
        raise ValueError("sharded matrix parameters of one group must share one device mesh")
    group = mesh.get_group()
    world, rank = dist.get_world_size(group), dist.get_rank(group)
    chunk_rows = [math.ceil(t.shape[0] / world) for t in tensors]
    gathered_parts: dict[int, list[Tensor]] = {}
    pending = []
    for i, t in enumerate(tensors):
        owner = i % world
        parts = None
        if rank == owner:
            parts = [t.to_local().new_empty((chunk_rows[i], *t.shape[1:])) for _ in range(world)]
            gathered_parts[i] = parts
        send = _padded(t.to_local(), chunk_rows[i])
        pending.append(dist.gather(send, parts, group=group, group_dst=owner, async_op=True))
    for work in pending:
        work.wait()
    owned = sorted(gathered_parts)
    full = [torch.cat(gathered_parts[i])[: tensors[i].shape[0]] for i in owned]
    owned_updates = dict(zip(owned, _local_batched(full, stacked, fn), strict=True))
    received = [
        t.to_local().new_empty((chunk_rows[i], *t.shape[1:])) for i, t in enumerate(tensors)
    ]
    pending = []
    for i in range(len(tensors)):
        owner = i % world
        parts = None
        if rank == owner:
            parts = list(_padded(owned_updates[i], chunk_rows[i] * world).split(chunk_rows[i]))
        pending.append(
            dist.scatter(received[i], parts, group=group, group_src=owner, async_op=True)
        )
    for work in pending:
        work.wait()
    return [received[i][: _row_chunks(t.shape[0], world)[rank]] for i, t in enumerate(tensors)]


def matrix_updates(
    tensors: Sequence[Tensor],
    stacked: bool,
    fn: MatrixFunction,
    group: dist.ProcessGroup | None = None,
) -> list[Tensor]:
    """``fn`` applied to the matrices of each tensor; returns tensors shaped like ``local(t)``.

    Plain tensors are batched by matrix shape, on this process alone or (with a process
    ``group`` of more than one rank: replicated parameters) shared out across the group's ranks;
    row-sharded ``DTensor`` s are computed round-robin by their owner ranks (see the module
    docstring); other ``DTensor`` s are gathered whole on every rank.
    """
    plain = [i for i, t in enumerate(tensors) if not isinstance(t, DTensor)]
    rows = [i for i, t in enumerate(tensors) if isinstance(t, DTensor) and _is_row_sharded(t)]
    other = [i for i in range(len(tensors)) if i not in set(plain) | set(rows)]
    updates: list[Tensor] = [torch.empty(0)] * len(tensors)
    plain_tensors = [tensors[i] for i in plain]
    if plain and group is not None and dist.get_world_size(group) > 1:
        plain_updates = _shared_out(plain_tensors, stacked, fn, group)
    else:
        plain_updates = _local_batched(plain_tensors, stacked, fn)
    for i, u in zip(plain, plain_updates, strict=True):
        updates[i] = u
    if rows:
        sharded = [t for t in tensors if isinstance(t, DTensor) and _is_row_sharded(t)]
        for i, u in zip(rows, _round_robin(sharded, stacked, fn), strict=True):
            updates[i] = u
    if other:
        full = [gathered(tensors[i]) for i in other]
        for i, u in zip(other, _local_batched(full, stacked, fn), strict=True):
            t = tensors[i]
            assert isinstance(t, DTensor)
            spread = distribute_tensor(u, t.device_mesh, t.placements, src_data_rank=None)
            updates[i] = spread.to_local()
    return updates
