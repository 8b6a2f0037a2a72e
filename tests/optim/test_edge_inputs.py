"""The optimizers at edge inputs a demanding torch.optim user tries: autocast regions, strided
parameters, extreme hyperparameters, tensor learning rates under ``torch.compile``.

Each test compares against an independent computation (the same run outside the edge, the
per-tensor loop, a hand-written map) or checks for an error that names the problem.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.nn import Parameter
from torch.optim.lr_scheduler import CosineAnnealingLR

from tests.optim.helpers import tiny_model, train_eager_and_compiled
from tests.optim.torch_contract_cases import OPTIMIZERS, REQUIRED, SOFT
from theoropt.optim import Muon, SoftMuon, SoftSignum, split_params


def build(name, params, **settings):
    cls = OPTIMIZERS[name][0]
    return cls(params, **{**REQUIRED[name], **settings})


def gradient_stream(shapes, steps, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [[torch.randn(s, generator=g) for s in shapes] for _ in range(steps)]


AUTOCAST_CASES = [
    ("Signum", {}),
    ("SoftSignum", {}),
    ("Muon", {"variant": "paper"}),
    ("Muon", {"variant": "exact"}),
    ("SoftMuon", {"variant": "paper"}),
    ("SoftMuon", {"variant": "exact"}),
]


@pytest.mark.parametrize("autocast_dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize(("name", "settings"), AUTOCAST_CASES)
def test_a_step_inside_autocast_is_the_step_outside(name, settings, autocast_dtype):
    """``optimizer.step()`` inside ``torch.autocast`` (a training step wrapped whole) takes the
    same steps, bit for bit, through both phases: Muon's Newton–Schulz and the soft polars ran
    their matrix products in the autocast dtype before (a relative change of about 1e-3, and
    ten times slower on a CPU without native bfloat16)."""
    shapes = [(12, 20), (20,), (20, 12)]
    grads = gradient_stream(shapes, 2 * SOFT["total_steps"])
    runs = []
    for autocast in (False, True):
        params = [Parameter(torch.ones(s)) for s in shapes]
        optimizer = build(name, params, **settings)
        for step_grads in grads:
            for p, g in zip(params, step_grads, strict=True):
                p.grad = g.clone()
            with torch.autocast("cpu", dtype=autocast_dtype, enabled=autocast):
                optimizer.step()
        runs.append(params)
    for a, b in zip(*runs, strict=True):
        assert torch.equal(a, b)


def strided_adamw_run(name, fused, steps=3):
    """A Muon run whose AdamW part holds a column of a matrix (strided, its gradient
    contiguous) and a transposed matrix with a contiguous gradient; returns the parameters and
    the column's base tensor."""
    torch.manual_seed(0)
    base = torch.randn(10, 2)
    column = Parameter(base[:, 0])
    transposed = Parameter(torch.randn(4, 3).t())
    matrix = Parameter(torch.randn(6, 5))
    params = [matrix, column, transposed]
    groups = [{"params": [matrix, column]}, {"params": [transposed], "use_muon": False}]
    optimizer = build(name, groups, fused=fused, foreach=None if fused is not False else False)
    for step_grads in gradient_stream([p.shape for p in params], steps):
        for p, g in zip(params, step_grads, strict=True):
            p.grad = g  # contiguous
        optimizer.step()
    return params, base


@pytest.mark.parametrize("name", ["Muon", "SoftMuon"])
def test_the_adamw_part_of_strided_parameters_follows_the_per_tensor_loop(name):
    """torch's fused AdamW kernel on the CPU walks each tensor's memory as if it were
    contiguous: the default path (``fused=None``, torch's kernel where it exists) wrote a
    strided column's updates into the neighbouring column of its matrix and read gradients whose
    strides differ from their parameter's in the wrong order. Such parameters now take the
    multi-tensor path: the run equals the per-tensor loop and the neighbour is untouched."""
    default, default_base = strided_adamw_run(name, None)
    loop, _ = strided_adamw_run(name, False)
    for a, b in zip(default, loop, strict=True):
        torch.testing.assert_close(a, b)
    torch.manual_seed(0)
    assert torch.equal(default_base[:, 1], torch.randn(10, 2)[:, 1])


@pytest.mark.parametrize("name", ["Muon", "SoftMuon"])
def test_fused_adamw_on_a_layout_it_cannot_read_is_an_error(name):
    """``fused=True`` with such a parameter is an error naming the layout (torch's CUDA kernel
    raises too), before any parameter moves; a transposed parameter whose gradient has its
    strides (what autograd produces) is read right and steps."""
    matrix, column = Parameter(torch.randn(6, 5)), Parameter(torch.randn(10, 2)[:, 0])
    before = [matrix.detach().clone(), column.detach().clone()]
    optimizer = build(name, [matrix, column], fused=True)
    matrix.grad, column.grad = torch.randn(6, 5), torch.randn(10)
    with pytest.raises(RuntimeError, match=r"shape \(10,\) with strides \(2,\)"):
        optimizer.step()
    assert torch.equal(matrix, before[0]) and torch.equal(column, before[1])
    transposed = Parameter(torch.randn(4, 3).t())
    reference = Parameter(transposed.detach().clone())
    runs = []
    for p, fused in ((transposed, True), (reference, False)):
        optimizer = build(name, [{"params": [p], "use_muon": False}], fused=fused)
        p.grad = torch.arange(12.0).reshape(3, 4).t().contiguous().t()  # p's strides
        optimizer.step()
        runs.append(p.detach())
    torch.testing.assert_close(runs[0], runs[1])


COMPILED_CASES = {
    "Muon-tensor-lr": lambda m: Muon(m.parameters(), lr=torch.tensor(0.02), foreach=True),
    "Muon-split-tensor-lrs": lambda m: Muon(
        split_params(m), lr=torch.tensor(0.02), adamw_lr=torch.tensor(3e-3), foreach=True
    ),
    "SoftMuon-tensor-lr-sign-phase": lambda m: SoftMuon(
        m.parameters(), lr=torch.tensor(0.02), foreach=True, total_steps=100
    ),
    "SoftSignum-algebraic": lambda m: SoftSignum(
        m.parameters(), lr=torch.tensor(1e-2), foreach=True, soft_map="algebraic", **SOFT
    ),
}


@pytest.mark.filterwarnings("ignore:Detected call of `lr_scheduler.step\\(\\)` before")
@pytest.mark.parametrize("make", COMPILED_CASES.values(), ids=COMPILED_CASES.keys())
def test_compiled_step_with_edge_settings_has_no_graph_break_and_matches_eager(make):
    """``torch.compile(optimizer.step, fullgraph=True)`` on the multi-tensor path, with a
    scheduler changing the learning rate every step, takes the eager steps. A tensor ``lr`` on
    Muon / SoftMuon failed to trace (its float went to torch's capturable AdamW as a
    data-dependent scalar); the compiled step now hands that AdamW the tensor. The tensor is
    filled in place: the step does not recompile as it changes. SoftSignum's transition with the
    algebraic map failed to trace (its temperature, a view into the schedule at a symbolic
    step, went into ``torch._foreach_mul`` as is)."""
    torch._dynamo.reset()
    models = [tiny_model(), tiny_model()]
    optimizers = [make(m) for m in models]
    compiled = torch.compile(optimizers[1].step, backend="eager", fullgraph=True)
    schedulers = [CosineAnnealingLR(o, T_max=14) for o in optimizers]

    def step_schedulers() -> None:
        for scheduler in schedulers:
            scheduler.step()

    graphs = train_eager_and_compiled(
        models, optimizers, lambda step: compiled, 14, step_schedulers
    )
    assert graphs[-1] == graphs[7]  # no recompilation as the lr (or temperature) changes
    lrs = [g["lr"] for g in optimizers[1].param_groups]
    assert all(isinstance(lr, torch.Tensor) and lr < 1e-3 for lr in lrs)  # filled in place
    for a, b in zip(models[0].parameters(), models[1].parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7)


def steps_with_a_zero_row(optimizer, param, steps):
    for step_grads in gradient_stream([param.shape], steps):
        step_grads[0][0] = 0.0  # an unused row: exact zeros in the momentum and the spectrum
        param.grad = step_grads[0]
        optimizer.step()


@pytest.mark.parametrize(
    ("name", "settings"),
    [
        ("SoftSignum", {"foreach": True}),
        ("SoftSignum", {"foreach": False}),
        ("SoftSignum", {"fused": True}),
        ("SoftSignum", {"soft_map": "algebraic"}),
        ("SoftMuon", {"variant": "exact", "soft_map": "tanh"}),
    ],
)
def test_a_temperature_beyond_float32_is_an_error_for_elementwise_soft_maps(name, settings):
    """The first transition step runs at ``tmax``, which multiplies float32 entries (``2 tau``
    for tanh): ``tmax`` above about 1.7e38 was infinite there, and every zero entry of the
    momentum (or zero singular value) made its parameter entries NaN silently. Such a ``tmax``
    is now an error naming the limit; the limit itself steps with finite parameters."""
    with pytest.raises(ValueError, match="tmax must be at most 1e"):
        build(name, [Parameter(torch.ones(4, 5))], **settings, tmax=1e39)
    param = Parameter(torch.ones(4, 5))
    optimizer = build(name, [param], **settings, tmax=1e38)
    steps_with_a_zero_row(optimizer, param, 2 * SOFT["total_steps"])
    assert optimizer.temperatures()[0] < 1e38  # the schedule ran through its start at tmax
    assert torch.isfinite(param).all()


def test_the_soft_polar_takes_any_finite_tmax():
    """SoftMuon's soft polars use ``tau^-2`` (0 for a huge ``tau``, the polar factor): no
    limit there."""
    for variant in ("paper", "exact"):
        param = Parameter(torch.ones(4, 5))
        optimizer = build("SoftMuon", [param], variant=variant, tmax=1e300)
        steps_with_a_zero_row(optimizer, param, 2 * SOFT["total_steps"])
        assert torch.isfinite(param).all()


@pytest.mark.parametrize(
    ("name", "settings"),
    [("SoftSignum", {}), ("SoftSignum", {"soft_map": "algebraic"}), ("SoftMuon", {})],
)
def test_the_smallest_eps_runs_through_the_transition(name, settings):
    """``eps`` below 2^-53 makes ``1 - eps`` round to 1 and the soft map's inverse infinite: it
    was accepted and failed at the first transition step ("math domain error", "float division
    by zero"); it is now a ValueError at construction (test_sign.py, test_muon.py). The
    smallest ``eps`` accepted runs through the transition."""
    param = Parameter(torch.ones(4, 5))
    optimizer = build(name, [param], **settings, eps=2.0**-53)
    steps_with_a_zero_row(optimizer, param, 2 * SOFT["total_steps"])
    assert 1.0 <= optimizer.temperatures()[0] < float("inf")
    assert torch.isfinite(param).all()


def edge_parameters():
    """Parameters of awkward layouts and shapes: a transposed view, a channels-last kernel,
    a 0-d scalar, 1 x 1, a wide and a tall matrix, an empty one, a strided column and a
    float64 vector (beside float32 ones)."""
    torch.manual_seed(0)
    return [
        Parameter(torch.randn(5, 7).t()),
        Parameter(torch.randn(4, 3, 3, 3).to(memory_format=torch.channels_last)),
        Parameter(torch.tensor(0.7)),
        Parameter(torch.randn(1, 1)),
        Parameter(torch.randn(1, 64)),
        Parameter(torch.randn(64, 1)),
        Parameter(torch.randn(0, 3)),
        Parameter(torch.randn(10, 2)[:, 0]),
        Parameter(torch.randn(7, dtype=torch.float64)),
    ]


def run_on_edge_parameters(optimizer_of, update, steps=4):
    """The parameters after ``steps`` steps of ``optimizer_of(params)`` (``update=None``) or of
    the hand-written ``update(p, g, state)`` per tensor; contiguous gradients throughout."""
    params = edge_parameters()
    optimizer = optimizer_of(params) if update is None else None
    states = [{} for _ in params]
    for step_grads in gradient_stream([p.shape for p in params], steps):
        for p, g, state in zip(params, step_grads, states, strict=True):
            g = g.to(p.dtype)  # a contiguous gradient, whatever the parameter's layout
            if optimizer is not None:
                p.grad = g
            elif p.numel() > 0:
                with torch.no_grad():
                    update(p, g, state)
        if optimizer is not None:
            optimizer.step()
    return params


def hand_signum(p, g, state, lr=1e-3, beta=0.9, wd=0.1):
    p.mul_(1 - lr * wd)
    state["m"] = g.clone() if "m" not in state else state["m"].mul(beta).add(g)
    p.add_(torch.sign(state["m"]), alpha=-lr)


def hand_muon(p, g, state, lr=0.02, beta=0.95):
    """The exact variant in float32: momentum from the first gradient, Nesterov, the kernel as
    an ``out x rest`` matrix, scale ``sqrt(max(1, rows / cols))`` of that matrix; vectors and
    scalars (AdamW's) are left alone."""
    if p.ndim < 2:
        return
    state["m"] = g.clone() if "m" not in state else state["m"].lerp(g, 1 - beta)
    u = g.lerp(state["m"], beta).reshape(g.shape[0], -1).float()
    rows, cols = u.shape
    transposed = rows > cols
    X = u.T if transposed else u
    X = X / (X.norm() + 1e-7)
    for _ in range(5):
        A = X @ X.T
        X = 3.4445 * X + (-4.7750 * A + 2.0315 * A @ A) @ X
    update = (X.T if transposed else X).reshape(p.shape).to(p.dtype)
    p.add_(update, alpha=-lr * max(1.0, rows / cols) ** 0.5)


@pytest.mark.parametrize("foreach", [True, False])
def test_signum_on_edge_layouts_is_the_hand_written_update(foreach):
    reference = run_on_edge_parameters(None, hand_signum)
    ours = run_on_edge_parameters(
        lambda params: build("Signum", params, weight_decay=0.1, foreach=foreach), None
    )
    for a, b in zip(ours, reference, strict=True):
        assert torch.equal(a, b)


@pytest.mark.parametrize("foreach", [True, False])
def test_muon_on_edge_layouts_is_the_hand_written_update(foreach):
    """Matrices of every layout (the 0-d scalar and the vectors take AdamW: not compared)."""
    reference = run_on_edge_parameters(None, hand_muon)
    ours = run_on_edge_parameters(
        lambda params: build("Muon", params, variant="exact", ns_dtype="float32", foreach=foreach),
        None,
    )
    for a, b in zip(ours, reference, strict=True):
        if a.ndim >= 2:
            torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("overlap", [False, True])
@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_views_of_one_tensor_step_alike_on_both_paths(name, overlap):
    """Two parameters that are views of one tensor (rows 0-3 and 2-5 overlap) are updated one
    after the other, as in torch.optim: the multi-tensor path equals the per-tensor loop."""
    bases = []
    for foreach in (True, False):
        torch.manual_seed(0)
        base = torch.randn(6, 8)
        views = [base[:4], base[2:]] if overlap else [base[:3], base[3:]]
        params = [Parameter(v) for v in views]
        optimizer = build(name, params, foreach=foreach)
        for step_grads in gradient_stream([p.shape for p in params], 2 * SOFT["total_steps"]):
            for p, g in zip(params, step_grads, strict=True):
                p.grad = g
            optimizer.step()
        bases.append(base)
    assert torch.equal(bases[0], bases[1])
    assert torch.isfinite(bases[0]).all()


NUMPY_SCALAR_CASES = [
    ("Signum", {"lr": 1e-3, "momentum": 0.9, "weight_decay": 0.01}),
    ("SoftSignum", {"lr": 1e-3, "total_steps": 6, "sign_fraction": 0.5, "eps": 1e-4}),
    ("Muon", {"lr": 0.02, "momentum": 0.9, "adamw_lr": 1e-3, "adamw_betas": (0.9, 0.95)}),
    ("SoftMuon", {"lr": 0.02, "total_steps": 6, "adamw_lr": 1e-3, "adamw_weight_decay": 0.1}),
]


def as_numpy_scalars(settings):
    """Each number as the NumPy scalar a config array would hold (float32 / int64)."""

    def convert(value):
        if isinstance(value, tuple):
            return tuple(convert(v) for v in value)
        return np.int64(value) if isinstance(value, int) else np.float32(value)

    return {key: convert(value) for key, value in settings.items()}


@pytest.mark.parametrize(("name", "settings"), NUMPY_SCALAR_CASES)
def test_numpy_scalar_settings_act_as_the_numbers_they_hold(name, settings, tmp_path):
    """``torch.optim`` accepts NumPy scalars: the steps equal those with the Python numbers they
    hold (the float32 values), and the state_dict loads with ``weights_only=True``."""
    numpy_settings = as_numpy_scalars(settings)
    python_settings = {
        key: tuple(v.item() for v in value) if isinstance(value, tuple) else value.item()
        for key, value in numpy_settings.items()
    }
    runs = []
    for given in (numpy_settings, python_settings):
        model = tiny_model()
        params = split_params(model) if name.endswith("Muon") else model.parameters()
        optimizer = build(name, params, **given)
        for grads in gradient_stream([p.shape for p in model.parameters()], 6):
            for p, g in zip(model.parameters(), grads, strict=True):
                p.grad = g
            optimizer.step()
        runs.append((model, optimizer))
    for ours, reference in zip(runs[0][0].parameters(), runs[1][0].parameters(), strict=True):
        torch.testing.assert_close(ours, reference, rtol=0, atol=0)
    torch.save(runs[0][1].state_dict(), tmp_path / "state.pt")
    loaded = torch.load(tmp_path / "state.pt", weights_only=True)
    assert loaded["param_groups"][0]["lr"] == python_settings["lr"]
