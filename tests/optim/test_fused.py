"""The fused paths against the multi-tensor ones, and torch.compile of a whole step.

Signum / SoftSignum ``fused=True`` take the hand-written C++ kernel on the CPU
(:mod:`theoropt.optim.native_kernel`) and compile their update with inductor where it cannot
(seconds per kernel on a CPU: the configurations below are chosen to share kernels); the tests
of the fused path run with each kernel. Muon / SoftMuon ``fused=True`` run
their AdamW part through ``torch.optim``'s fused AdamW. Ports torch's
``test_fused_matches_forloop`` (same trajectory and state to float rounding, with a step without
gradients and a frozen layer) and checks what torch's suite cannot know about ours: the
phases, the non-finite rule and the default choice of the path.
"""

from __future__ import annotations

import math

import pytest
import torch

from tests.optim.helpers import tiny_model, train, train_eager_and_compiled
from tests.optim.test_torch_contract import _model_params, compare_implementations
from theoropt.optim import Muon, Signum, SoftMuon, SoftSignum, fused, native_kernel, split_params

pytestmark = pytest.mark.slow  # compiles kernels

SOFT = dict(total_steps=10, sign_fraction=0.5)
FLOAT32_STEPS = dict(rtol=1e-5, atol=1e-6)
"""Tolerance of fused against multi-tensor after 7 steps at lr 1e-3 (float32): the fused tanh
is a rational approximation within 3.0e-7 of tanh as compiled, the multi-tensor one
2 sigmoid(2z) - 1."""

needs_compiler = pytest.mark.skipif(
    not fused.fused_supported("cpu"), reason="torch.compile's C++ backend is unavailable"
)


def _not_called(*args, **kwargs):
    raise AssertionError("inductor's kernel was called where the C++ kernel should step")


@pytest.fixture(params=["native", "inductor"])
def cpu_kernel(request, monkeypatch):
    """The fused path's CPU kernels in turn: the C++ kernel (inductor's switched off, so the
    test fails if the C++ kernel declines) and inductor's (the C++ kernel switched off)."""
    if request.param == "native":
        monkeypatch.setattr(fused, "_compiled_sign_descent", _not_called)
    else:
        monkeypatch.setattr(native_kernel, "enabled", False)
    return request.param


@pytest.fixture
def inductor_kernel(monkeypatch):
    """Inductor's kernel only (for what only it does: recompiling for new strides)."""
    monkeypatch.setattr(native_kernel, "enabled", False)


@needs_compiler
@pytest.mark.parametrize(
    ("name", "settings"),
    [
        ("Signum", {"dampening": 0.5}),
        ("SoftSignum", SOFT),
        ("SoftSignum", {**SOFT, "nesterov": True, "maximize": True, "weight_decay": 0.1}),
        ("SoftSignum", {**SOFT, "momentum": 0.0, "soft_map": "algebraic"}),
    ],
    ids=["signum-dampening", "softsignum", "nesterov-maximize-decay", "no-momentum-algebraic"],
)
def test_fused_matches_foreach(name, settings, cpu_kernel):
    """test_fused_matches_forloop: parameters and state agree after 7 steps (a step without
    gradients, a frozen layer, both phases). The kernel leaves out the gradient's factors when
    they are 1 (the SoftSignum defaults); dampening and maximising keep them."""
    compare_implementations(name, "fused", torch.float32, settings, FLOAT32_STEPS)


@needs_compiler
def test_fused_follows_the_per_tensor_loop_in_float64(cpu_kernel):
    """In float64 the fused kernel computes in float64: agreement to the rational tanh's error."""
    compare_implementations("SoftSignum", "fused", torch.float64, SOFT, dict(rtol=1e-6, atol=1e-9))


@needs_compiler
def test_fused_propagates_non_finite_gradients(cpu_kernel):
    """The compiler must not simplify the ``d - d`` that makes a NaN or inf visible."""
    for bad in (math.nan, math.inf):
        model, params = _model_params(torch.float32)
        optimizer = Signum(params, lr=1e-3, fused=True)
        model(torch.randn(3, 2)).sum().backward()
        model[0].weight.grad[1, 0] = bad
        optimizer.step()
        weight = model[0].weight.detach()
        assert torch.isnan(weight[1, 0]) and torch.isfinite(weight).sum() == weight.numel() - 1


@needs_compiler
def test_a_gradient_with_new_strides_gets_a_kernel_of_its_own(inductor_kernel):
    """The kernel is compiled for its inputs' strides and inductor's own checks of them are
    switched off (``fused._COMPILE_OPTIONS``): ``torch.compile``'s guards must see a transposed
    gradient and recompile, so the step reads it right (against the multi-tensor path)."""
    weight = torch.randn(3, 7)  # no other fused test has this layout: not compiled yet
    transposed = (torch.arange(21.0).reshape(7, 3) - 10.5).t()  # same shape, strides (1, 3)
    read_as_contiguous = transposed.t().reshape(3, 7)  # what a kernel for strides (7, 1) reads
    assert (transposed.sign() != read_as_contiguous.sign()).sum() >= 4
    steps = []
    for fused_path in (True, False):
        p = weight.clone().requires_grad_()
        optimizer = Signum([p], lr=0.1, momentum=0.0, fused=fused_path)
        p.grad = torch.randn(3, 7, generator=torch.Generator().manual_seed(1))
        optimizer.step()
        graphs = torch._dynamo.utils.counters["stats"]["unique_graphs"]
        p.grad = transposed
        optimizer.step()
        if fused_path:
            assert torch._dynamo.utils.counters["stats"]["unique_graphs"] == graphs + 1
        steps.append(p.detach())
    torch.testing.assert_close(steps[0], steps[1], rtol=0, atol=0)


@needs_compiler
def test_a_training_run_is_the_same_on_both_paths(cpu_kernel):
    runs = []
    for fused_path in (False, True):
        model = tiny_model()
        optimizer = SoftSignum(model.parameters(), lr=1e-2, fused=fused_path, **SOFT)
        losses = train(model, optimizer, range(14))
        runs.append((losses, [p.detach() for p in model.parameters()]))
    assert runs[0][0] == pytest.approx(runs[1][0], rel=1e-5)
    for a, b in zip(runs[0][1], runs[1][1], strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    assert math.isfinite(optimizer.temperatures()[0])


@pytest.mark.parametrize(("name", "settings"), [("Muon", {}), ("SoftMuon", SOFT)])
def test_muon_adamw_part_fused_matches_foreach(name, settings):
    """The AdamW part through torch's fused AdamW kernel (no compiling)."""
    compare_implementations(name, "fused", torch.float32, settings)


def test_the_default_path_is_chosen_by_size_and_support(monkeypatch):
    params = [torch.zeros(10, requires_grad=True)]
    assert not fused.use_fused(None, None, params, "Signum")  # small: multi-tensor kernels
    monkeypatch.setattr(fused, "FUSED_MIN_NUMEL", 10)
    assert fused.use_fused(None, None, params, "Signum") == fused.fused_supported("cpu")
    assert not fused.use_fused(None, True, params, "Signum")  # an explicit foreach wins
    assert not fused.use_fused(False, None, params, "Signum")


def test_fused_requests_that_cannot_be_met_are_errors(monkeypatch):
    params = [torch.zeros(3, requires_grad=True)]
    for cls, kwargs in [
        (Signum, {}),
        (SoftSignum, {"total_steps": 4}),
        (Muon, {}),
        (SoftMuon, {"total_steps": 4}),
    ]:
        # torch's error_inputs regex for this case (common_optimizers.py), word for word
        with pytest.raises(RuntimeError, match="`fused` and `foreach` cannot be `True` together"):
            cls(params, fused=True, foreach=True, **kwargs)
    fused.fused_supported.cache_clear()
    monkeypatch.setattr(fused, "fused_supported", lambda device: False)
    optimizer = Signum(params, fused=True)
    params[0].grad = torch.ones(3)
    with pytest.raises(RuntimeError, match="parameters on one device that torch"):
        optimizer.step()


@pytest.mark.parametrize("rule", ["normalized", "sign_norm"])
def test_normalized_and_sign_norm_steps_take_the_multi_tensor_path(monkeypatch, rule):
    """Their step needs the norm of all the group's directions before any parameter moves:
    ``fused=True`` with them is an error that says so, and ``fused=None`` on a group the
    default would fuse takes the multi-tensor path (the same steps as ``foreach=True``)."""
    for cls, settings in ((Signum, {}), (SoftSignum, SOFT)):
        with pytest.raises(RuntimeError, match="normalized / sign_norm need"):
            cls([torch.zeros(3, requires_grad=True)], fused=True, **settings, **{rule: True})
    monkeypatch.setattr(fused, "FUSED_MIN_NUMEL", 1)
    monkeypatch.setattr(fused, "fused_supported", lambda device: True)
    assert fused.use_fused(None, None, [torch.zeros(3)], "SoftSignum")  # would be fused

    def no_fused_step(*args, **kwargs):
        raise AssertionError("the fused kernel was called")

    monkeypatch.setattr(fused, "sign_descent_", no_fused_step)
    runs = []
    for foreach in (None, True):
        model = tiny_model()
        optimizer = SoftSignum(model.parameters(), lr=1e-2, foreach=foreach, **SOFT, **{rule: True})
        runs.append((train(model, optimizer, range(8)), list(model.parameters())))
    assert runs[0][0] == runs[1][0]
    for a, b in zip(runs[0][1], runs[1][1], strict=True):
        assert torch.equal(a, b)


# --- torch.compile of the whole step (the multi-tensor path) ----------------------------------


@pytest.mark.parametrize(
    ("make", "whole_transition"),
    [
        (lambda m: Signum(m.parameters(), lr=1e-2, foreach=True), True),
        (lambda m: SoftSignum(m.parameters(), lr=1e-2, foreach=True, **SOFT), True),
        # fused=True traces the multi-tensor path too (its eager steps: the fused kernel)
        (lambda m: SoftSignum(m.parameters(), lr=1e-2, fused=True, **SOFT), True),
        (lambda m: Muon(split_params(m), foreach=True, variant="exact"), True),  # ns_dtype "auto"
        (lambda m: Muon(split_params(m), foreach=True), True),  # the default: paper
        (
            lambda m: SoftMuon(
                m.parameters(), lr=1e-2, foreach=True, ns_dtype="float32", variant="exact", **SOFT
            ),
            False,
        ),
    ],
    ids=["Signum", "SoftSignum", "SoftSignum-fused", "Muon-exact", "Muon-paper", "SoftMuon-exact"],
)
def test_compiled_step_has_no_graph_break_and_matches_eager(make, whole_transition):
    """``torch.compile(optimizer.step, fullgraph=True)`` traces every step without a graph
    break — the sign phase and the transition (after the one-off schedule fit, which runs
    eagerly) — and takes the eager steps. The exact SoftMuon's transition iterates its soft
    polar to a tolerance (a data-dependent count of steps): there the step compiles with graph
    breaks. The ``eager`` backend checks the tracing; inductor's code generation is torch's."""
    torch._dynamo.reset()  # every optimizer's step shares torch's wrapper: a fresh cache
    models = [tiny_model(), tiny_model()]
    optimizers = [make(m) for m in models]
    whole = torch.compile(optimizers[1].step, backend="eager", fullgraph=True)
    broken = torch.compile(optimizers[1].step, backend="eager")
    sign_steps = SOFT["total_steps"] * SOFT["sign_fraction"]

    def compiled_step(step: int):
        return whole if whole_transition or step < sign_steps else broken

    graphs = train_eager_and_compiled(models, optimizers, compiled_step)
    for a, b in zip(models[0].parameters(), models[1].parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7)
    if whole_transition:  # no recompilation per step: the temperature is looked up in a tensor
        assert graphs[-1] == graphs[7]
