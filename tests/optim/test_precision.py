"""ns_dtype="auto": the Newton–Schulz precision chosen by the machine's capability."""

import math

import pytest
import torch

from theoropt.optim import Muon, SoftMuon, precision
from theoropt.optim.matrix_functions import arithmetic, newton_schulz_polar, soft_polar


@pytest.mark.parametrize(
    ("value", "name"),
    [
        ("auto", "auto"),
        ("float32", "float32"),
        (torch.bfloat16, "bfloat16"),
        ("torch.float64", "float64"),
    ],
)
def test_dtype_settings_by_name_or_dtype(value, name):
    assert precision.dtype_name(value, "ns_dtype") == name


@pytest.mark.parametrize("value", ["float8", torch.int32, 3, None])
def test_unknown_dtype_settings_are_named(value):
    with pytest.raises(ValueError, match="ns_dtype must be one of"):
        precision.dtype_name(value, "ns_dtype")
    with pytest.raises(ValueError, match="soft_polar_dtype"):
        precision.dtype_name("auto", "soft_polar_dtype", allow_auto=False)


@pytest.mark.parametrize("native", [True, False])
def test_cpu_choice_follows_the_capability_probe(fresh_choice, monkeypatch, native):
    monkeypatch.setattr(precision, "cpu_has_native_bfloat16", lambda: native)
    expected = torch.bfloat16 if native else torch.float32
    assert precision.auto_matmul_dtype("cpu") == expected


@pytest.mark.parametrize(
    ("bf16_seconds", "expected"), [(0.5, torch.bfloat16), (0.9, torch.float32)]
)
def test_without_a_probe_the_choice_is_measured(fresh_choice, monkeypatch, bf16_seconds, expected):
    monkeypatch.setattr(precision, "cpu_has_native_bfloat16", lambda: None)
    monkeypatch.setattr(
        precision,
        "matmul_seconds",
        lambda device, dtypes, **_: {torch.float32: 1.0, torch.bfloat16: bf16_seconds},
    )
    assert precision.auto_matmul_dtype("cpu") == expected


def test_this_machines_probe_agrees_with_a_measurement():
    """On a CPU the probe calls slow for bfloat16, a bfloat16 matmul is measured slower too
    (here an AVX2 EPYC: bfloat16 about 10x float32)."""
    native = precision.cpu_has_native_bfloat16()
    if native is not False:
        pytest.skip("this CPU has (or may have) native bfloat16 matmuls")
    measured = precision.measured_matmul_dtype(torch.device("cpu"), size=128, batch=4)
    assert measured == torch.float32


@pytest.mark.parametrize("native", [True, False])
def test_auto_runs_newton_schulz_in_the_chosen_dtype(fresh_choice, monkeypatch, native):
    monkeypatch.setattr(precision, "cpu_has_native_bfloat16", lambda: native)
    chosen = torch.bfloat16 if native else torch.float32
    weight = torch.randn(6, 10, requires_grad=True)
    start = weight.detach().clone()
    optimizer = Muon([weight], lr=0.1, variant="exact")
    assert optimizer.ns_dtypes == [chosen]
    weight.grad = torch.randn_like(weight)
    optimizer.step()
    polar = newton_schulz_polar(weight.grad.unsqueeze(0), 5, dtype=chosen)[0]  # batched, as Muon
    expected = start - 0.1 * polar
    torch.testing.assert_close(weight.detach(), expected, rtol=0, atol=1e-6)


def test_the_soft_polar_keeps_its_own_precision_under_auto(fresh_choice, monkeypatch):
    """Even where "auto" picks bfloat16, the soft polar runs in float32 (soft_polar_dtype)."""
    monkeypatch.setattr(precision, "cpu_has_native_bfloat16", lambda: True)
    weight = torch.randn(6, 10, requires_grad=True)
    optimizer = SoftMuon(
        [weight], lr=0.1, total_steps=2, sign_fraction=0.5, nesterov=False, variant="exact"
    )
    assert optimizer.ns_dtypes == [torch.bfloat16]
    weight.grad = torch.randn_like(weight)
    optimizer.step()
    before = weight.detach().clone()
    buffer = optimizer.state[weight]["momentum_buffer"].clone()
    weight.grad = torch.randn_like(weight)
    optimizer.step()
    tau = optimizer.temperatures()[0]
    direction = buffer.lerp(weight.grad, 0.05)
    update = soft_polar(direction, tau, tol=1e-3, max_iter=30, dtype=torch.float32)
    torch.testing.assert_close(weight.detach(), before - 0.1 * update, rtol=0, atol=1e-6)


@pytest.mark.parametrize("native", [True, False])
def test_auto_is_the_precision_of_each_groups_variant(fresh_choice, monkeypatch, native):
    """``variant`` set per group (unset: the default, "paper"): "auto" is bfloat16 for a paper
    group on any machine and the capability's choice for an exact one; each group's first step
    is its variant's momentum start and polar factor in that dtype, and its AdamW ``eps`` is its
    variant's."""
    monkeypatch.setattr(precision, "cpu_has_native_bfloat16", lambda: native)
    capability = torch.bfloat16 if native else torch.float32
    generator = torch.Generator().manual_seed(3)
    paper, exact = (torch.randn(shape, generator=generator) for shape in ((6, 10), (12, 5)))
    vector = torch.randn(4, generator=generator)
    params = [p.clone().requires_grad_() for p in (paper, exact, vector)]
    optimizer = Muon(
        [
            {"params": [params[0]]},
            {"params": [params[1]], "variant": "exact"},
            {"params": [params[2]], "use_muon": False, "variant": "paper"},
        ],
        lr=0.1,
        momentum=0.9,
        nesterov=False,
    )
    assert optimizer.ns_dtypes == [torch.bfloat16, capability, None]
    assert [g["variant"] for g in optimizer.param_groups] == ["paper", "exact", "paper"]
    assert optimizer.param_groups[2]["eps"] == 1e-10
    assert [g["adamw_eps"] for g in optimizer.param_groups[:2]] == [1e-10, 1e-8]
    grads = [torch.randn(p.shape, generator=generator) for p in params]
    for p, g in zip(params, grads, strict=True):
        p.grad = g
    optimizer.step()
    paper_momentum = 0.1 * grads[0]  # started at zero: (1 - momentum) g
    expected = {
        0: paper - 0.1 * newton_schulz_polar(paper_momentum[None], dtype=torch.bfloat16)[0],
        1: exact
        - 0.1
        * math.sqrt(12 / 5)
        * newton_schulz_polar(grads[1][None], dtype=capability)[0],  # started at g
    }
    for i, value in expected.items():
        torch.testing.assert_close(params[i].detach(), value, rtol=0, atol=1e-6)


@pytest.mark.parametrize("native", [True, False])
def test_bfloat16_is_emulated_only_where_the_cpu_lacks_it(fresh_choice, monkeypatch, native):
    """A CPU with native bfloat16 matmuls runs bfloat16 iterations in torch's bfloat16 kernels
    (the fast choice there); one without emulates them in float32 with bfloat16 rounding."""
    monkeypatch.setattr(precision, "cpu_has_native_bfloat16", lambda: native)
    work = arithmetic(torch.bfloat16, torch.device("cpu")).work
    assert work == (torch.bfloat16 if native else torch.float32)
    assert arithmetic(torch.float32, torch.device("cpu")).work == torch.float32


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_choice_is_the_native_bfloat16_capability(fresh_choice):
    native = torch.cuda.is_bf16_supported(including_emulation=False)
    assert precision.auto_matmul_dtype("cuda") == (torch.bfloat16 if native else torch.float32)
