import pytest

from tests.torch_threads import one_torch_thread
from theoropt.optim import precision


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny tensors: one thread is faster and not slowed down by other processes on the CPU."""
    with one_torch_thread():
        yield


@pytest.fixture
def fresh_choice():
    """Forget the cached per-device ``ns_dtype="auto"`` choices before and after the test."""
    precision._auto_matmul_dtype.cache_clear()
    yield
    precision._auto_matmul_dtype.cache_clear()
