"""Round-robin matrix updates of sharded tensors equal the single-process computation."""

import pytest
import torch
import torch.distributed as dist
from torch.distributed.device_mesh import init_device_mesh
from torch.distributed.tensor import Replicate, Shard, distribute_tensor

from theoropt.bench.spawn import run_distributed
from theoropt.optim.matrix_functions import newton_schulz_polar
from theoropt.optim.sharded import matrix_updates

SHAPES = [(5, 16), (3, 7), (16, 8), (5, 16), (1, 4), (6, 2, 3)]


def matrices() -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    return [torch.randn(shape, generator=generator, dtype=torch.float64) for shape in SHAPES]


def polar(batch: torch.Tensor) -> torch.Tensor:
    return newton_schulz_polar(batch, 5)


CASES = [(placement, stacked) for placement in ("rows", "replicated") for stacked in (False, True)]


def sharded_updates(rank: int, world: int) -> dict[tuple[str, bool], list[torch.Tensor]]:
    """Every case's whole updates, reassembled from the ranks' local parts."""
    mesh = init_device_mesh("cpu", (world,))
    results = {}
    for placement, stacked in CASES:
        placements = [Shard(0)] if placement == "rows" else [Replicate()]
        tensors = [distribute_tensor(t, mesh, placements) for t in matrices()]
        local = matrix_updates(tensors, stacked, polar)
        if placement == "rows":
            pieces = [None] * world
            dist.all_gather_object(pieces, local)
            local = [torch.cat([piece[i] for piece in pieces]) for i in range(len(local))]
        results[placement, stacked] = local
    return results


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
