"""The dtype of the Newton–Schulz iteration: chosen by what the machine does fast, not a constant.

:func:`auto_matmul_dtype` resolves, once per device, to bfloat16 where bfloat16 matrix
products are native and float32 elsewhere:

* **CUDA**: bfloat16 when the GPU computes it natively (tensor cores from compute capability
  8.0, ``torch.cuda.is_bf16_supported(including_emulation=False)``), else float32;
* **x86 CPUs**: bfloat16 when the CPU has AVX512-BF16 or AMX instructions (torch's own
  ``cpuinfo`` probes), else float32 — without them torch's bfloat16 matmul is about ten times
  slower than float32 (measured on an AVX2 EPYC: 271 ms against 28 ms for 16
  ``256 x 1024`` Gram matrices, one thread);
* **anything else** (other CPUs, other accelerators): a one-off micro-measurement of a batched
  bfloat16 against a float32 matmul on that device; bfloat16 only if it takes at most
  ``0.75`` of the float32 time.

It is what ``ns_dtype="auto"`` (the default of :class:`~theoropt.optim.Muon` and
:class:`~theoropt.optim.SoftMuon`) means for ``variant="exact"``; for ``variant="paper"``
``"auto"`` is the authors' bfloat16 on every device
(:mod:`theoropt.optim.polar_variants`). Where this rule picks float32 on a CPU, a bfloat16
iteration asked for anyway is emulated at about float32 speed
(:func:`theoropt.optim.matrix_functions.arithmetic`).

A capability check is preferred to a measurement where one exists: it gives the same choice in
every run, so two runs on one machine compute the same numbers whatever the load. The choice is
cached per device and visible as ``Muon.ns_dtypes``; an explicit ``ns_dtype`` (a
``torch.dtype`` or its name, e.g. ``"float32"``) overrides it. The soft polar factor of
SoftMuon does not follow this rule: it runs in ``soft_polar_dtype`` (by default float32 for
the exact variant, whose converged iteration amplifies rounding, and bfloat16 for the paper
variant; see docs/optim.md).
"""

from __future__ import annotations

import functools
import time
from typing import Any

import torch

AUTO = "auto"

DTYPES: dict[str, torch.dtype] = {
    "float64": torch.float64,
    "float32": torch.float32,
    "bfloat16": torch.bfloat16,
    "float16": torch.float16,
}
"""The dtypes a matrix iteration may run in, by name."""

MEASURED_BF16_RATIO = 0.75
"""bfloat16 is chosen by measurement only if its matmul takes at most this share of float32's."""


def dtype_name(value: Any, name: str, *, allow_auto: bool = True) -> str:
    """The canonical name of a dtype setting: ``"auto"`` or a key of :data:`DTYPES`.

    Accepts ``torch.dtype`` objects and their names (``"float32"``, ``"torch.float32"``).
    """
    if isinstance(value, torch.dtype):
        value = str(value)
    if isinstance(value, str):
        key = value.removeprefix("torch.")
        if key in DTYPES or (allow_auto and key == AUTO):
            return key
    choices = ([AUTO] if allow_auto else []) + list(DTYPES)
    raise ValueError(f"{name} must be one of {choices} or a matching torch.dtype, got {value!r}")


# A constant for torch.compile: a user's compiled step reads the cached choice instead of
# tracing the capability probes (which would break its graph).
@torch.compiler.assume_constant_result
def auto_matmul_dtype(device: torch.device | str) -> torch.dtype:
    """bfloat16 where ``device`` multiplies bfloat16 matrices natively, float32 elsewhere."""
    device = torch.device(device)
    index = device.index
    if device.type == "cuda" and index is None:
        index = torch.cuda.current_device()
    return _auto_matmul_dtype(device.type, index)


@functools.cache
def _auto_matmul_dtype(device_type: str, index: int | None) -> torch.dtype:
    if device_type == "cuda":
        with torch.cuda.device(index):
            native = torch.cuda.is_bf16_supported(including_emulation=False)
        return torch.bfloat16 if native else torch.float32
    if device_type == "cpu":
        native = cpu_has_native_bfloat16()
        if native is not None:
            return torch.bfloat16 if native else torch.float32
    device = torch.device(device_type, index) if index is not None else torch.device(device_type)
    return measured_matmul_dtype(device)


def cpu_has_native_bfloat16() -> bool | None:
    """Whether this CPU has bfloat16 matrix instructions (AVX512-BF16 or AMX), if torch can tell.

    Uses torch's own ``cpuinfo`` probes (x86 only); ``None`` when they are unavailable.
    """
    names = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    if not all(hasattr(torch.cpu, name) for name in names):
        return None
    probes = [getattr(torch.cpu, name) for name in names]
    if torch.backends.cpu.get_cpu_capability() in ("DEFAULT", "NO AVX"):
        return None  # not an x86 CPU with vector extensions: the probes say nothing
    return any(bool(probe()) for probe in probes)


def measured_matmul_dtype(device: torch.device, *, size: int = 256, batch: int = 8) -> torch.dtype:
    """bfloat16 if a batched ``size x size`` bfloat16 matmul takes at most
    :data:`MEASURED_BF16_RATIO` of the float32 time on ``device``, float32 otherwise."""
    seconds = matmul_seconds(device, (torch.float32, torch.bfloat16), size=size, batch=batch)
    if seconds[torch.bfloat16] <= MEASURED_BF16_RATIO * seconds[torch.float32]:
        return torch.bfloat16
    return torch.float32


def matmul_seconds(
    device: torch.device, dtypes: tuple[torch.dtype, ...], *, size: int, batch: int
) -> dict[torch.dtype, float]:
    """Best time of a ``(batch, size, size)`` matmul in each dtype: 5 interleaved rounds after a
    warm-up (interleaving exposes every dtype to the same load)."""
    operands = {dtype: torch.randn(batch, size, size, device=device).to(dtype) for dtype in dtypes}
    best = dict.fromkeys(dtypes, float("inf"))
    for round_ in range(6):
        for dtype, x in operands.items():
            _synchronize(device)
            start = time.perf_counter()
            x @ x
            _synchronize(device)
            if round_:
                best[dtype] = min(best[dtype], time.perf_counter() - start)
    return best


def _synchronize(device: torch.device) -> None:
    module = getattr(torch, device.type, None)
    synchronize = getattr(module, "synchronize", None)
    if device.type != "cpu" and synchronize is not None:
        synchronize()
