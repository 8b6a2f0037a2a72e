import pytest
import torch

from theoropt.optim import precision


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny tensors: one thread is faster and not slowed down by other processes on the CPU."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def fresh_choice():
    """Forget the cached per-device ``ns_dtype="auto"`` choices before and after the test."""
    precision._auto_matmul_dtype.cache_clear()
    yield
    precision._auto_matmul_dtype.cache_clear()
