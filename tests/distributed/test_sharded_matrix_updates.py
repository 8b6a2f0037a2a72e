"""Matrix updates shared out across ranks equal the single-process computation.

Row-sharded and replicated ``DTensor`` s (FSDP2: round-robin owners) and plain replicated
tensors with a process group (DDP work sharding: owners balanced by cost).
"""

import pytest
import torch
import torch.distributed as dist
from torch.distributed.device_mesh import init_device_mesh
from torch.distributed.tensor import Replicate, Shard, distribute_tensor

from theoropt.bench.spawn import run_distributed
from theoropt.optim.matrix_functions import newton_schulz_polar
from theoropt.optim.sharded import balanced_owners, matrix_cost, matrix_updates

SHAPES = [(5, 16), (3, 7), (16, 8), (5, 16), (1, 4), (6, 2, 3)]


def matrices() -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    return [torch.randn(shape, generator=generator, dtype=torch.float64) for shape in SHAPES]


def polar(batch: torch.Tensor) -> torch.Tensor:
    return newton_schulz_polar(batch, 5)


PLACEMENTS = ("rows", "replicated", "plain-shared")
CASES = [(placement, stacked) for placement in PLACEMENTS for stacked in (False, True)]


def sharded_updates(rank: int, world: int) -> dict[tuple[str, bool], list[torch.Tensor]]:
    """Every case's whole updates, reassembled from the ranks' local parts."""
    mesh = init_device_mesh("cpu", (world,))
    results = {}
    for placement, stacked in CASES:
        if placement == "plain-shared":
            seen = []
            local = matrix_updates(matrices(), stacked, counting(seen), dist.group.WORLD)
            results[placement, stacked] = local
            results["work", stacked] = seen
            continue
        placements = [Shard(0)] if placement == "rows" else [Replicate()]
        tensors = [distribute_tensor(t, mesh, placements) for t in matrices()]
        local = matrix_updates(tensors, stacked, polar)
        if placement == "rows":
            pieces = [None] * world
            dist.all_gather_object(pieces, local)
            local = [torch.cat([piece[i] for piece in pieces]) for i in range(len(local))]
        results[placement, stacked] = local
    return results


def counting(seen: list):
    """``polar`` recording the shape of every batch it receives."""

    def counted(batch: torch.Tensor) -> torch.Tensor:
        seen.append(tuple(batch.shape))
        return polar(batch)

    return counted


@pytest.fixture(scope="module")
def two_rank_results():
    return run_distributed(sharded_updates, 2)


@pytest.mark.parametrize(("placement", "stacked"), CASES)
def test_two_ranks_match_one_process(two_rank_results, placement, stacked):
    expected = matrix_updates(matrices(), stacked, polar)
    for rank_result in two_rank_results:
        for got, want in zip(rank_result[placement, stacked], expected, strict=True):
            assert got.shape == want.shape
            torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)


def test_stacked_treats_leading_dims_as_a_batch():
    (stack,) = [t for t in matrices() if t.ndim == 3]
    (update,) = matrix_updates([stack], True, polar)
    for k in range(stack.shape[0]):
        torch.testing.assert_close(update[k], polar(stack[k : k + 1])[0])
    (flat,) = matrix_updates([stack], False, polar)
    torch.testing.assert_close(flat, polar(stack.reshape(1, 6, 6))[0].reshape(6, 2, 3))


@pytest.mark.parametrize("stacked", [False, True])
def test_shared_out_work_is_split_by_cost_without_overlap(two_rank_results, stacked):
    """Each matrix is orthogonalised on exactly one rank; the ranks' costs are balanced."""
    views = [
        m.reshape(-1, m.shape[-2], m.shape[-1]) if stacked else m.reshape(1, m.shape[0], -1)
        for m in matrices()
    ]
    costs = [matrix_cost(v) for v in views]
    owners = balanced_owners(costs, 2)
    per_rank = [rank["work", stacked] for rank in two_rank_results]
    matrices_done = [sum(shape[0] for shape in seen) for seen in per_rank]
    assert sum(matrices_done) == sum(v.shape[0] for v in views)
    for r, seen in enumerate(per_rank):
        mine = [views[i] for i in range(len(views)) if owners[i] == r]
        assert sorted(seen) == sorted(_batches(mine))
    loads = [sum(c for c, o in zip(costs, owners, strict=True) if o == r) for r in (0, 1)]
    assert abs(loads[0] - loads[1]) <= max(costs)


def _batches(views):
    """Batch shapes of the views once equal matrix shapes are stacked."""
    count = {}
    for v in views:
        count[tuple(v.shape[1:])] = count.get(tuple(v.shape[1:]), 0) + v.shape[0]
    return [(k, *shape) for shape, k in count.items()]


def test_balanced_owners_is_longest_first_to_the_least_loaded_rank():
    assert balanced_owners([5, 3, 3, 2, 2, 1], 2) == [0, 1, 1, 0, 1, 0]  # loads 8 and 8
    assert balanced_owners([1, 1, 1, 1], 3) == [0, 1, 2, 0]
    assert balanced_owners([4], 2) == [0]
