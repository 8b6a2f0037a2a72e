"""The fused sign-descent step as a hand-written C++ kernel on the CPU, built once per machine.

:mod:`theoropt.optim.fused` has the update as torch operations for ``torch.compile``; on the
CPU inductor's code for it left time on the table: it reloads every scalar on each vector of
entries (its float32 pointers may alias the scalars' tensor), evaluates ``sign`` by two blends
and checks dynamo's guards for every tensor on every call. ``csrc/sign_descent.cpp`` is the same
update over the same 5 words an entry with ``__restrict`` pointers, the scalars by value and
``at::vec::Vectorized`` (AVX2, AVX-512, NEON, ...: whatever the machine's vector ISA is, chosen
as inductor chooses it); all the group's entries are split over torch's threads
(``torch.set_num_threads``) in one OpenMP region, torch's own runtime. It is built with
``torch.utils.cpp_extension`` (and ``ninja``) on the first fused step on a CPU — 16–21 s on the
2-core AMD EPYC of 2 Dec, then cached on disk under ``TORCH_EXTENSIONS_DIR``
(``~/.cache/torch_extensions``), one build per vector ISA, loaded in well under a second by
later processes — and registered as ``torch.ops.theoropt.sign_descent_``.

It takes float32 and float64 tensors whose parameter, gradient and buffer share one dense
layout, and the soft maps that describe themselves (:meth:`SoftMap.native_form`); anything else
— other dtypes, mixed layouts, a parameter or buffer sharing memory with another tensor of the
group (a parameter twice in a group, a gradient that is a view of its parameter), tensor
subclasses, a map of the user's own, a machine where the build fails (a warning says why) —
goes to the inductor kernel.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import sysconfig
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path

import torch
from torch import Tensor

from theoropt.optim.soft_maps import SoftMap

SOURCE = Path(__file__).with_name("csrc") / "sign_descent.cpp"

DIRECTIONS = {"sign": 0, "odd_rational": 1, "algebraic": 2}
"""The kernel's codes of the direction maps (``Direction`` in the C++ source)."""

PLAIN_TENSOR_TYPES = frozenset({Tensor, torch.nn.Parameter})
"""Tensor types whose storage the kernel may read (not ``DTensor`` or other subclasses)."""

enabled = True
"""``False``: the fused path uses inductor's kernel everywhere (to compare the two, or to rule the
C++ kernel out when debugging)."""

_build_lock = threading.Lock()


def _vector_isa_flags() -> tuple[str, list[str]]:
    """The machine's vector ISA as inductor detects it, with its compiler flags."""
    try:
        from torch._inductor.cpu_vec_isa import pick_vec_isa

        isa = pick_vec_isa()
    except (ImportError, RuntimeError, OSError):
        return "default", []
    if not isa:  # no vector ISA: at::vec's portable code
        return "default", []
    flags = isa.build_arch_flags().split() + [f"-D{macro}" for macro in isa.build_macro()]
    return str(isa), flags


@functools.cache
def _openmp_flags() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Compiler and linker flags for OpenMP, as inductor builds its CPU kernels: without them
    ``at::parallel_for`` compiles to a serial loop. The kernel links the ``libgomp.so.1`` torch
    has loaded already (same soname), so ``torch.set_num_threads`` governs it. Empty where
    inductor knows no flags (the kernel then runs only at one thread). Tuples: the cached value
    must not change (``cpp_extension.load`` appends to the lists it is given)."""
    try:
        from torch._inductor.cpp_builder import _get_openmp_args, get_cpp_compiler

        cflags, ldflags, include_dirs, lib_dirs, libs, _ = _get_openmp_args(get_cpp_compiler())
    except (ImportError, RuntimeError, OSError, ValueError, TypeError):
        return (), ()
    compile_flags = (*(f"-{flag}" for flag in cflags), *(f"-I{path}" for path in include_dirs))
    link_flags = (
        *(f"-{flag}" for flag in (*cflags, *ldflags)),
        *(f"-L{path}" for path in lib_dirs),
        *(f"-l{lib}" for lib in libs),
    )
    return compile_flags, link_flags


@contextlib.contextmanager
def _ninja_on_path() -> Iterator[None]:
    """``torch.utils.cpp_extension`` runs ``ninja`` from ``PATH``; the ``ninja`` dependency
    installs it beside this interpreter, which is not on ``PATH`` unless the environment was
    activated: add that directory for the build."""
    if shutil.which("ninja") is not None:
        yield
        return
    saved = os.environ.get("PATH", "")
    os.environ["PATH"] = os.pathsep.join([sysconfig.get_path("scripts"), saved])
    try:
        yield
    finally:
        os.environ["PATH"] = saved


def load() -> bool:
    """Build (or load the cached build of) the kernel once per process; ``False`` with a warning
    if that fails. Threads that ask while it builds wait for it (a second ``cpp_extension.load``
    of the library would register ``TORCH_LIBRARY(theoropt)`` twice if anything changed)."""
    with _build_lock:
        return _load_once()


@functools.cache
def _load_once() -> bool:
    return _build()


def _build() -> bool:
    from torch.utils import cpp_extension

    isa, flags = _vector_isa_flags()
    openmp_compile, openmp_link = _openmp_flags()
    try:
        with _ninja_on_path():
            cpp_extension.load(
                name=f"theoropt_sign_descent_{isa}",
                sources=[str(SOURCE)],
                extra_cflags=["-O3", *flags, *openmp_compile],
                extra_ldflags=list(openmp_link),
                is_python_module=False,
            )
    except (RuntimeError, OSError, ImportError, ValueError) as error:
        warnings.warn(
            f"theoropt: the C++ sign-descent kernel could not be built ({error}); the fused "
            "Signum / SoftSignum step uses the torch.compile kernel instead",
            RuntimeWarning,
            stacklevel=2,
        )
        return False
    return True


def sign_descent_(
    params: list[Tensor],
    grads: list[Tensor],
    buffers: list[Tensor],
    scalars: list[float],
    soft_map: SoftMap | None,
    nesterov: bool,
    decayed: bool,
    scaled: bool,
) -> bool:
    """The fused update of :func:`theoropt.optim.fused.sign_descent_` (``scalars``: decay, lr,
    beta, c, s, tau; ``soft_map`` ``None`` in the sign phase) if the kernel can take these
    tensors and map; ``False``, touching nothing, otherwise."""
    if not enabled or params[0].device.type != "cpu" or torch.compiler.is_compiling():
        return False
    if torch.get_num_threads() > 1 and not _openmp_flags()[0]:
        return False  # serial: inductor's kernel uses the threads
    if soft_map is None:
        direction, values = DIRECTIONS["sign"], []
    else:
        form = soft_map.native_form(params[0].dtype)
        if form is None:
            return False
        direction, values = DIRECTIONS[form[0]], list(form[1])
    if not {type(t) for t in (*params, *grads, *buffers)} <= PLAIN_TENSOR_TYPES:
        return False
    if not load():
        return False
    momentum = 0 if not buffers else 2 if nesterov else 1
    done = torch.ops.theoropt.sign_descent_(
        params, grads, buffers, scalars, values, direction, momentum, decayed, scaled
    )
    if done:  # written through raw pointers: autograd's in-place checks must see it
        torch.autograd.graph.increment_version([*params, *buffers])
    return bool(done)
