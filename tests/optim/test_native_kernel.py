"""The C++ kernel of the fused sign-descent step against a reference written here in NumPy.

The reference computes the update of :mod:`theoropt.optim.fused` in float64 with NumPy's exact
``tanh`` and ``sign``: the kernel agrees to its rational tanh's error (3e-7 relative in float32,
2e-8 in float64) scaled by the learning rate, over every combination of direction map,
momentum, weight decay and the gradient's factors, on lengths that exercise the vector loop,
the padded last vector and the split over threads. Then what it must decline, and what
autograd must see.
"""

from __future__ import annotations

import copy
import itertools
import math
import os
import sysconfig
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils import cpp_extension

from theoropt.optim import fused, native_kernel
from theoropt.optim.soft_maps import SoftMap, get_soft_map

pytestmark = [
    pytest.mark.slow,  # builds the kernel once (cached on disk)
    pytest.mark.skipif(
        not fused.fused_supported("cpu"), reason="no C++ compiler (torch.compile's C++ backend)"
    ),
]

LENGTHS = (1, 7, 8, 9, 61, 70_001)
"""Shorter than one vector, one vector less or more, several, and more than two threads'
shares (ATen's grain: 32768 entries)."""


def reference_step(p, g, m, *, decay, lr, beta, dampening, sign, nesterov, tau, direction):
    """The update of theoropt.optim.fused in float64 NumPy (``m`` None without momentum)."""
    p, g = p.astype(np.float64), g.astype(np.float64)
    signed = sign * g
    if m is not None:
        m = beta * m.astype(np.float64) + sign * (1.0 - dampening) * g
        d = signed + beta * m if nesterov else m
    else:
        d = signed
    if direction == "sign":
        u = np.sign(d)
    elif direction == "tanh":
        u = np.tanh(tau * d)
    else:
        z = tau * d
        u = z / np.sqrt(1.0 + z * z)
    return decay * p - lr * (u + (d - d)), m


def _case(length, dtype, seed):
    generator = torch.Generator().manual_seed(seed)
    return [torch.randn(length, generator=generator, dtype=dtype) for _ in range(3)]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_the_kernel_takes_the_reference_step(dtype):
    """One call for tensors of all of LENGTHS at once (their entries are split over the threads
    as one range), for every combination; each tensor against the reference."""
    assert native_kernel.load(), "the C++ kernel did not build (see the warning)"
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    eps = torch.finfo(dtype).eps
    map_error = 4e-7 if dtype == torch.float32 else 3e-8  # the rational tanh's, relative
    try:
        grid = itertools.product(
            ("sign", "tanh", "algebraic"),
            ("none", "plain", "nesterov"),
            (0.0, 0.1),  # weight decay
            ((1.0, 0.0), (-1.0, 0.0), (1.0, 0.3)),  # (sign, dampening): scaled or not
        )
        for seed, (direction, momentum, decay_rate, (sign, dampening)) in enumerate(grid):
            settings = dict(
                decay=1.0 - 1e-2 * decay_rate,
                lr=1e-2,
                beta=0.0 if momentum == "none" else 0.9,
                dampening=dampening,
                sign=sign,
                nesterov=momentum == "nesterov",
                tau=math.inf if direction == "sign" else 7.0,
            )
            cases = [_case(length, dtype, seed) for length in LENGTHS]
            expected, terms = [], []
            for p, g, m in cases:
                g[0] = 0.0  # sign(0) = 0
                buffer = None if momentum == "none" else m.numpy()
                expected.append(
                    reference_step(p.numpy(), g.numpy(), buffer, direction=direction, **settings)
                )
                terms.append(np.abs(0.0 if buffer is None else buffer) + np.abs(g.numpy()))
            params, grads, buffers = (list(column) for column in zip(*cases, strict=True))
            scalars = [
                settings["decay"],
                settings["lr"],
                settings["beta"],
                sign * (1.0 - dampening),
                sign,
                1.0 if direction == "sign" else settings["tau"],
            ]
            assert native_kernel.sign_descent_(
                params,
                grads,
                [] if momentum == "none" else buffers,
                scalars,
                None if direction == "sign" else get_soft_map(direction),
                settings["nesterov"],
                decay_rate != 0.0,
                sign != 1.0 or dampening != 0.0,
            )
            # rounding: a few eps of the terms (|m| + |g| for the buffer, |p| + lr for p); the
            # soft map: its error plus tau times the direction's rounding, times lr
            for (p, _, m), (expected_p, expected_m), term in zip(
                cases, expected, terms, strict=True
            ):
                error = 0.0 if direction == "sign" else map_error
                slack = settings["lr"] * (error + 7.0 * 4 * eps * term)
                bound_p = 4 * eps * (np.abs(expected_p) + settings["lr"]) + slack
                where = f"{direction}, {momentum}, decay {decay_rate}, sign {sign}, n={p.numel()}"
                assert np.all(np.abs(p.numpy() - expected_p) <= bound_p), where
                if expected_m is not None:
                    bound_m = 4 * eps * (np.abs(expected_m) + term)
                    assert np.all(np.abs(m.numpy() - expected_m) <= bound_m), where
    finally:
        torch.set_num_threads(threads)


def test_the_kernel_writes_only_its_tensors_entries():
    """Tensors as disjoint views of one storage with NaN guards between them (storage offsets;
    lengths around one vector): the padded last vector must not write past a tensor's end."""
    lengths, gap = (1, 7, 8, 9, 17), 8
    bases = [torch.full((sum(lengths) + gap * (len(lengths) + 1),), math.nan) for _ in range(3)]
    views, start = [], gap
    written = torch.zeros(bases[0].numel(), dtype=torch.bool)
    for n in lengths:
        views.append([base[start : start + n] for base in bases])
        written[start : start + n] = True
        start += n + gap
    for p, g, m in views:
        for t in (p, g, m):
            t.copy_(torch.randn(t.shape))
    params, grads, buffers = (list(column) for column in zip(*views, strict=True))
    expected = [p - 0.1 * torch.sign(0.9 * m + g) for p, g, m in views]
    assert native_kernel.sign_descent_(
        params, grads, buffers, [1.0, 0.1, 0.9, 1.0, 1.0, 1.0], None, False, False, False
    )
    for p, want in zip(params, expected, strict=True):
        torch.testing.assert_close(p, want)
    for base in bases:
        assert torch.isnan(base[~written]).all() and not torch.isnan(base[written]).any()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_the_algebraic_map_saturates_where_the_square_overflows(dtype):
    """``tau d`` beyond ``sqrt(max)``: clamped to its dtype's bound (AlgebraicMap.native_form),
    the map gives +-1; unclamped, ``z^2`` overflows and it would give 0 (NaN at infinity)."""
    huge = math.sqrt(torch.finfo(dtype).max) * 4
    g = torch.tensor([huge, -huge, 1e-3 / 7, -1.0], dtype=dtype)
    p = torch.zeros(4, dtype=dtype)
    scalars = [1.0, 0.1, 0.0, 1.0, 1.0, 7.0]
    assert native_kernel.sign_descent_(
        [p], [g], [], scalars, get_soft_map("algebraic"), False, False, False
    )
    z = 7.0 * g[2:].double()
    expected = torch.cat(
        [torch.tensor([-0.1, 0.1], dtype=torch.float64), -0.1 * z / torch.sqrt(1.0 + z * z)]
    )
    torch.testing.assert_close(p.double(), expected, rtol=4 * torch.finfo(dtype).eps, atol=0.0)


def test_non_finite_directions_make_their_parameter_nan():
    p, g, _ = _case(20, torch.float32, 0)
    g[3], g[11] = math.nan, -math.inf
    for direction in (None, get_soft_map("tanh"), get_soft_map("algebraic")):
        q = p.clone()
        tau = 1.0 if direction is None else 5.0
        scalars = [1.0, 0.1, 0.0, 1.0, 1.0, tau]
        assert native_kernel.sign_descent_([q], [g], [], scalars, direction, False, False, False)
        assert torch.isnan(q[[3, 11]]).all() and torch.isfinite(q).sum() == 18


class _OwnMap(SoftMap):
    """A soft map the kernel does not know."""

    def prefactor(self, scale):
        return scale

    def finish_(self, tensors, foreach):
        for t in tensors:
            t.tanh_()

    def inverse(self, y):
        return math.atanh(y)


@pytest.mark.parametrize(
    "case",
    ["transposed gradient", "strided parameter", "bfloat16", "mixed dtypes", "own map", "meta"],
)
def test_the_kernel_declines_what_it_cannot_read_and_touches_nothing(case):
    p, g, m = _case(12, torch.float32, 1)
    soft_map = get_soft_map("tanh")
    if case == "transposed gradient":
        p, g, m = p.reshape(3, 4), g.reshape(4, 3).t(), m.reshape(3, 4)
    elif case == "strided parameter":
        p, g, m = p[::2], g[::2], m[::2]
    elif case == "bfloat16":
        p, g, m = p.bfloat16(), g.bfloat16(), m.bfloat16()
    elif case == "mixed dtypes":
        g = g.double()
    elif case == "own map":
        soft_map = _OwnMap()
    else:
        p, g, m = (t.to("meta") for t in (p, g, m))
    before = [t.clone() for t in (p, g, m)]
    scalars = [1.0, 0.1, 0.9, 1.0, 1.0, 3.0]
    assert not native_kernel.sign_descent_([p], [g], [m], scalars, soft_map, False, False, False)
    if case != "meta":
        for now, then in zip((p, g, m), before, strict=True):
            assert torch.equal(now, then)


@pytest.mark.parametrize(
    "case", ["parameter twice", "gradient is its parameter", "overlapping parameters"]
)
def test_the_kernel_declines_tensors_that_share_memory(case):
    """Its pointers are ``__restrict`` and the group's entries are split over the threads: a
    parameter twice in a group (torch.optim only warns) would be updated by two threads at once
    (at two threads, 8 M entries: different results from run to run), a gradient that is a view
    of its parameter breaks the ``__restrict`` promise. Declined, touching nothing (inductor's
    kernel takes them, as before the C++ kernel)."""
    base, g, m = _case(24, torch.float32, 4)
    if case == "parameter twice":
        params, grads, buffers = [base, base], [g, g], [m, m]
    elif case == "gradient is its parameter":
        params, grads, buffers = [base], [base.detach()], [m]
    else:
        params, grads, buffers = [base[:16], base[8:]], [g[:16], g[8:]], [m[:16], m[8:]]
    before = [t.clone() for t in (base, g, m)]
    scalars = [1.0, 0.1, 0.9, 1.0, 1.0, 1.0]
    assert not native_kernel.sign_descent_(
        params, grads, buffers, scalars, None, False, False, False
    )
    for now, then in zip((base, g, m), before, strict=True):
        assert torch.equal(now, then)


def test_gradients_may_share_memory():
    """Gradients are only read: two parameters with one gradient tensor are stepped."""
    p, q, g = _case(16, torch.float32, 5)
    assert native_kernel.sign_descent_(
        [p, q], [g, g], [], [1.0, 0.1, 0.0, 1.0, 1.0, 1.0], None, False, False, False
    )


def test_autograd_sees_the_parameters_change():
    """Written through raw pointers, the step must still bump the version counters: a graph
    that saved the parameter cannot be back-propagated after the step (as with torch.optim)."""
    p = torch.randn(16, requires_grad=True)
    p.grad = torch.randn(16)
    m = torch.zeros(16)
    loss = (p * p).sum()  # saves p
    versions = p._version, m._version
    with torch.no_grad():
        assert native_kernel.sign_descent_(
            [p], [p.grad], [m], [1.0, 0.1, 0.9, 1.0, 1.0, 1.0], None, False, False, False
        )
    assert p._version > versions[0] and m._version > versions[1]
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        loss.backward()


def test_disabled_the_kernel_declines():
    p, g, m = _case(8, torch.float32, 2)
    native_kernel.enabled = False
    try:
        assert not native_kernel.sign_descent_(
            [p], [g], [m], [1.0, 0.1, 0.9, 1.0, 1.0, 1.0], None, False, False, False
        )
    finally:
        native_kernel.enabled = True


def test_a_failed_build_warns_once_and_the_kernel_declines(monkeypatch):
    """Where the build fails, one RuntimeWarning says why and every later call declines (the
    fused step then takes inductor's kernel), without trying to build again."""
    attempts = []

    def failing_build(**kwargs):
        attempts.append(kwargs["name"])
        raise RuntimeError("Error building extension: no compiler here")

    monkeypatch.setattr(cpp_extension, "load", failing_build)
    native_kernel._load_once.cache_clear()
    try:
        p, g, m = _case(8, torch.float32, 6)
        before = p.clone()
        scalars = [1.0, 0.1, 0.9, 1.0, 1.0, 1.0]
        with pytest.warns(RuntimeWarning, match="could not be built .*no compiler here") as record:
            for _ in range(3):
                assert not native_kernel.sign_descent_(
                    [p], [g], [m], scalars, None, False, False, False
                )
        assert len(attempts) == 1
        assert sum("could not be built" in str(w.message) for w in record) == 1
        assert torch.equal(p, before)
    finally:
        native_kernel._load_once.cache_clear()  # the next test loads the real build again


def test_a_second_build_passes_the_same_arguments(monkeypatch):
    """``cpp_extension.load`` appends torch's libraries to the ``extra_ldflags`` list it is
    given; had that list been the cached OpenMP flags, a second build in the process would have
    new arguments, so a new version (``..._v1``) whose ``TORCH_LIBRARY(theoropt)`` aborts the
    process ("Only a single TORCH_LIBRARY can be used")."""
    calls = []

    def recording_build(**kwargs):
        calls.append(copy.deepcopy(kwargs))
        kwargs["extra_ldflags"].append("-ltorch_cpu")  # as torch's _prepare_ldflags does
        kwargs["extra_cflags"].append("-DTORCH_EXTENSION_NAME=x")

    monkeypatch.setattr(cpp_extension, "load", recording_build)
    assert native_kernel._build() and native_kernel._build()
    assert calls[0] == calls[1]


def test_threads_loading_at_once_build_once(monkeypatch):
    """The first fused steps of several threads at once: one build, the others wait for it."""
    calls = []

    def slow_build(**kwargs):
        calls.append(kwargs["name"])
        time.sleep(0.2)

    monkeypatch.setattr(cpp_extension, "load", slow_build)
    native_kernel._load_once.cache_clear()
    try:
        threads = [threading.Thread(target=native_kernel.load) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(calls) == 1
    finally:
        native_kernel._load_once.cache_clear()  # the next test loads the real build again


def test_ninja_installed_beside_the_interpreter_is_put_on_path(monkeypatch):
    """The ``ninja`` dependency lands in the environment's scripts directory, which is not on
    ``PATH`` when the environment was not activated (``.venv/bin/python -m pytest``)."""
    monkeypatch.setattr(native_kernel.shutil, "which", lambda name: None)
    monkeypatch.setenv("PATH", "/nowhere")
    with native_kernel._ninja_on_path():
        assert os.environ["PATH"].split(os.pathsep) == [sysconfig.get_path("scripts"), "/nowhere"]
    assert os.environ["PATH"] == "/nowhere"


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="reads Linux's /proc")
def test_the_kernel_shares_torchs_openmp_runtime():
    """Built with OpenMP (else ``at::parallel_for`` is a serial loop), it must use the
    ``libgomp`` torch loaded, not a second runtime that ``torch.set_num_threads`` cannot reach.
    The kernel links the soname ``libgomp.so.1``; other wheels' copies (scikit-learn's, say)
    carry names of their own and serve only those wheels."""
    assert native_kernel.load()
    assert native_kernel._openmp_flags()[0], "inductor knows OpenMP flags on this platform"
    mapped = {line.split()[-1] for line in Path("/proc/self/maps").read_text().splitlines()}
    runtimes = {Path(path) for path in mapped if Path(path).name == "libgomp.so.1"}
    assert runtimes == {Path(torch.__file__).parent / "lib" / "libgomp.so.1"}


def test_without_openmp_the_kernel_declines_more_than_one_thread(monkeypatch):
    monkeypatch.setattr(native_kernel, "_openmp_flags", lambda: ((), ()))
    p, g, m = _case(8, torch.float32, 3)
    scalars = [1.0, 0.1, 0.9, 1.0, 1.0, 1.0]
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        assert not native_kernel.sign_descent_([p], [g], [m], scalars, None, False, False, False)
        torch.set_num_threads(1)
        assert native_kernel.sign_descent_([p], [g], [m], scalars, None, False, False, False)
    finally:
        torch.set_num_threads(threads)
