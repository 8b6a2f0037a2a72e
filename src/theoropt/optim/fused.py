"""One pass over the parameters per step: the sign-descent update in fused kernels.

The multi-tensor path performs a step as a sequence of ``torch._foreach_*`` operations, each a
pass over every parameter: about 14 words of memory traffic per parameter for SoftSignum. The
fused path runs the whole elementwise update of a group as one kernel per tensor that reads the
parameter, the gradient and the momentum once and writes the parameter and the momentum once —
5 words, the floor (fused AdamW moves 7)::

    m  <- beta m + c g                         (c = s (1 - dampening), s = -1 when maximising)
    d  = s g + beta m  (Nesterov)  or  m       (or s g without momentum)
    u  = sign(d)  or  phi(tau d)               (sign phase / transition: the group's soft map)
    p  <- (1 - lr wd) p - lr (u + (d - d))     (d - d: a NaN or inf in d makes p NaN)

On the CPU, groups of float32 or float64 tensors whose parameter, gradient and buffer share one
dense layout take the hand-written C++ kernel of :mod:`theoropt.optim.native_kernel` (built once
per machine); everything else — CUDA (triton), other dtypes and layouts, a soft map of the
user's own, a machine where that kernel does not build — the update below compiled by
``torch.compile`` (inductor). Both are tested against the multi-tensor path.

For inductor the scalars travel as one tensor (float64 for float64 parameters, float32
otherwise), so a new learning rate or temperature does not recompile. A kernel is compiled per
group layout (number, shapes and dtypes of the tensors), phase (sign or soft map), Nesterov,
momentum, weight decay or not, and ``c = s = 1`` or not (minimising without dampening, the
default). Where a factor is 1 the kernel leaves out its multiplications — without weight decay
``(1 - lr wd)``, by default ``c`` and ``s``, two per entry with Nesterov momentum: the
multiplies per entry are what bound the soft map's kernel on a CPU (the two of ``c`` and ``s``
took 9–12 % of the transition kernel's time: 1 Mi entries in cache, one thread, CPU time, paired
median over 40 interleaved rounds, on the 2-core AMD EPYC with AVX2 + FMA while another process
ran; 4 Mi entries from memory: 6 %). Typically two kernels per optimizer.

Both kernels: a new momentum buffer is set to ``(dampening / beta) s g`` so that the kernel's
first update gives ``m = s g`` (exactly when ``dampening = 0``), as the per-tensor path's copy
of the first gradient.

Compiling costs seconds to tens of seconds: inductor's kernels once per kernel and process
(measured on the 2-core EPYC under load: 5-15 s for a 4-tensor model, 25-40 s for the 37 tensors
of a 4-layer GPT; inductor caches compiled code on disk), the C++ kernel once per machine (16-21
s). ``fused=None`` therefore chooses the fused path only for groups of at least
:data:`FUSED_MIN_NUMEL` elements on a device inductor compiles for (a C++ compiler on the CPU,
triton on CUDA); ``fused=True`` asks for it anyway.
"""

from __future__ import annotations

import contextlib
import functools
import math
import threading
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor

from theoropt.optim import native_kernel
from theoropt.optim.hyperparameters import check_fused_foreach
from theoropt.optim.soft_maps import SoftMap

FUSED_MIN_NUMEL = 2**20
"""``fused=None`` uses the fused path for groups of at least this many elements (1 Mi)."""

_RECOMPILE_LIMIT = 64
"""Compiled graphs kept per kernel (one per group layout and phase): above torch's default of 8,
which several optimizers in one process (a test suite, a benchmark) would exceed."""


@functools.cache
def fused_supported(device_type: str) -> bool:
    """Whether inductor can compile kernels for ``device_type`` here."""
    if device_type == "cuda":
        from torch.utils._triton import has_triton

        return torch.cuda.is_available() and has_triton()
    if device_type == "cpu":
        try:
            from torch._inductor.cpp_builder import get_cpp_compiler

            get_cpp_compiler()
        except (ImportError, RuntimeError, OSError):
            return False
        return True
    return False


def use_fused(
    setting: bool | None, foreach: bool | None, params: Sequence[Tensor], name: str
) -> bool:
    """Resolve ``fused`` for a group's parameters (``None``: see the module docstring)."""
    check_fused_foreach(setting, foreach, name)
    if setting is False or (setting is None and foreach is not None) or not params:
        return False
    if torch.compiler.is_compiling():
        # inside a user's torch.compile the multi-tensor path is traced whole, for fused=None
        # and fused=True alike: the user's backend fuses it, and its temperature is a tensor,
        # so the transition does not recompile each step (the fused kernels take it as a float)
        return False
    devices = {p.device for p in params}
    supported = len(devices) == 1 and fused_supported(next(iter(devices)).type)
    if setting:
        if not supported:
            raise RuntimeError(
                f"{name}: fused=True needs the group's parameters on one device that "
                f"torch.compile's inductor backend compiles for (a C++ compiler on the CPU, "
                f"triton on CUDA); got {sorted(map(str, devices))}. Use fused=False "
                "(multi-tensor kernels) instead"
            )
        return True
    return supported and sum(p.numel() for p in params) >= FUSED_MIN_NUMEL


def _sign_descent(
    params: list[Tensor],
    grads: list[Tensor],
    buffers: list[Tensor],
    scalars: Tensor,
    nesterov: bool,
    soft_map: SoftMap | None,
    decayed: bool,
    scaled: bool,
) -> None:
    """The fused update (module docstring); ``scalars``: decay, lr, beta, c, s, tau;
    ``decayed``: whether ``decay`` differs from 1; ``scaled``: whether ``c`` or ``s`` does."""
    decay, lr, beta, c, s, tau = scalars.unbind()
    for i, (p, g) in enumerate(zip(params, grads, strict=True)):
        signed = g * s if scaled else g
        if buffers:
            m = buffers[i] * beta + (g * c if scaled else g)
            buffers[i].copy_(m)
            d = signed + m * beta if nesterov else m
        else:
            d = signed
        u = torch.sign(d) if soft_map is None else soft_map.elementwise(d * tau)
        p.copy_((p * decay if decayed else p) - (u + (d - d)) * lr)


_COMPILE_OPTIONS: dict[str, str | int | bool | Callable[..., Any]] = {
    "cpp.enable_floating_point_contract_flag": "fast",
    "size_asserts": False,
}
"""Let the C++ compiler contract ``a * b + c`` into fused multiply-adds, and leave out
inductor's checks of every input's sizes and strides on each call: with ``dynamic=False`` the
guards of ``torch.compile`` check them already (tested: a gradient with new strides gets a
kernel of its own; a user who skips guard evaluation with ``torch.compiler.set_stance(...,
skip_guard_eval_unsafe=True)`` loses that check too), and the second check took 0.09 ms of the
compiled call's 0.23 ms for 37 one-entry tensors (one thread, 2 Dec). Inductor compiles its
CPU kernels with ``-ffp-contract=off`` by default, so each multiply and add of the rational
``tanh`` and the momentum update is a separate vector instruction; contracted, the SoftSignum
kernel alone took 0.6–0.8x the time (4 M entries, one thread, A/B in one session on the 2-core
AMD EPYC with AVX2 + FMA) and the step 0.88x / 0.97x (benchmarks/optim_step_time.py, small /
large set, one thread; docs/optim.md). Each contraction rounds once instead of twice, which
changes results only at float rounding (the tests compare the fused path with the multi-tensor
one). Triton (CUDA) contracts by default."""

_RECOMPILE_LIMIT_KEY = (
    "recompile_limit" if hasattr(torch._dynamo.config, "recompile_limit") else "cache_size_limit"
)
"""The setting's name (``cache_size_limit`` in torch releases before the rename)."""

_recompile_patches = threading.local()


def _more_recompiles() -> contextlib.AbstractContextManager[None]:
    """This thread's ``config.patch`` raising the recompile limit, built once per thread: each
    call of ``config.patch`` builds a class and (in recent torch) a ``ContextVar`` that the
    thread keeps, and older torch's patch objects must not be entered by two threads at once."""
    patch = getattr(_recompile_patches, "patch", None)
    if patch is None:
        patch = torch._dynamo.config.patch(_RECOMPILE_LIMIT_KEY, _RECOMPILE_LIMIT)
        _recompile_patches.patch = patch
    return patch


_compiled_sign_descent = torch.compile(
    _sign_descent, fullgraph=True, dynamic=False, options=_COMPILE_OPTIONS
)


def sign_descent_(
    params: list[Tensor],
    grads: list[Tensor],
    buffers: list[Tensor],
    *,
    decay: float,
    lr: float,
    beta: float,
    dampening: float,
    sign: float,
    nesterov: bool,
    tau: float,
    soft_map: SoftMap,
) -> None:
    """One fused step of the group (in place); ``buffers`` empty when there is no momentum;
    ``tau = inf`` is the sign phase. On the CPU the hand-written kernel
    (:mod:`theoropt.optim.native_kernel`) takes the tensors it can, inductor's the rest."""
    direction_map = None if math.isinf(tau) else soft_map
    values = [
        decay,
        lr,
        beta,
        sign * (1.0 - dampening),
        sign,
        1.0 if direction_map is None else tau,
    ]
    decayed, scaled = decay != 1.0, sign != 1.0 or dampening != 0.0
    if native_kernel.sign_descent_(
        params, grads, buffers, values, direction_map, nesterov, decayed, scaled
    ):
        return
    dtype = torch.float64 if torch.float64 in {p.dtype for p in params} else torch.float32
    scalars = torch.tensor(values, dtype=dtype).to(params[0].device)
    with _more_recompiles():
        _compiled_sign_descent(
            params, grads, buffers, scalars, nesterov, direction_map, decayed, scaled
        )
