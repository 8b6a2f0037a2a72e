"""Signum and SoftSignum against hand-written updates and the torch.optim contract."""

import math

import numpy as np
import pytest
import torch
from scipy import stats
from torch import nn

from tests.optim.helpers import loss_of, resume_matches_unbroken, tiny_model, train
from theoropt.optim import Signum, SoftSignum


def hand_signum(params, grads_per_step, lr, momentum, dampening, nesterov, weight_decay):
    """Signum written out tensor by tensor, independent of the optimizer's code paths."""
    params = [p.detach().clone() for p in params]
    buffers = [None] * len(params)
    for grads in grads_per_step:
        for i, (p, g) in enumerate(zip(params, grads, strict=True)):
            p.mul_(1 - lr * weight_decay)
            if buffers[i] is None:
                buffers[i] = g.clone()
            else:
                buffers[i] = buffers[i] * momentum + (1 - dampening) * g
            direction = g + momentum * buffers[i] if nesterov else buffers[i]
            p.sub_(lr * torch.sign(direction))
    return params


def gradient_stream(shapes, steps, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [
        [torch.randn(s, generator=g) * (1 + i) for i, s in enumerate(shapes)] for _ in range(steps)
    ]


def run_with_grads(optimizer_cls, params, grads_per_step, **kwargs):
    params = [p.detach().clone().requires_grad_() for p in params]
    optimizer = optimizer_cls(params, **kwargs)
    for grads in grads_per_step:
        for p, g in zip(params, grads, strict=True):
            p.grad = g.clone()
        optimizer.step()
    return params, optimizer


SHAPES = [(5, 7), (7,), (3, 2, 4)]


@pytest.mark.parametrize("foreach", [True, False])
@pytest.mark.parametrize(
    "settings",
    [
        dict(momentum=0.9, dampening=0.0, nesterov=False, weight_decay=0.0),
        dict(momentum=0.8, dampening=0.1, nesterov=False, weight_decay=0.05),
        dict(momentum=0.9, dampening=0.0, nesterov=True, weight_decay=0.01),
        dict(momentum=0.0, dampening=0.0, nesterov=False, weight_decay=0.0),
    ],
)
def test_signum_equals_hand_written_bit_for_bit(foreach, settings):
    start = [torch.randn(s, generator=torch.Generator().manual_seed(7)) for s in SHAPES]
    grads = gradient_stream(SHAPES, 6)
    expected = hand_signum(start, grads, lr=0.01, **settings)
    got, _ = run_with_grads(Signum, start, grads, lr=0.01, foreach=foreach, **settings)
    for a, b in zip(got, expected, strict=True):
        assert torch.equal(a.detach(), b)


def test_softsignum_sign_phase_is_signum_bit_for_bit():
    start = [torch.randn(s) for s in SHAPES]
    grads = gradient_stream(SHAPES, 9)
    sign_steps = 9  # total_steps=10, sign_fraction=0.9
    soft, optimizer = run_with_grads(SoftSignum, start, grads, lr=0.01, total_steps=10)
    hard, _ = run_with_grads(Signum, start, grads, lr=0.01)
    assert optimizer.temperatures() == [math.inf]
    assert optimizer.param_groups[0]["step"] == sign_steps
    for a, b in zip(soft, hard, strict=True):
        assert torch.equal(a, b)


@pytest.mark.parametrize("nesterov", [False, True])
def test_soft_update_is_tanh_with_independent_temperature(nesterov):
    shapes = [(11, 9), (4,)]  # 103 momentum entries: an odd count, one median
    lr, beta, eps, tmax, total = 0.01, 0.9, 1e-4, 20.0, 20
    start = [torch.randn(s, dtype=torch.float64) for s in shapes]
    grads = gradient_stream(shapes, 10, seed=3)
    grads = [[g.double() * 0.3 for g in step] for step in grads]
    params, optimizer = run_with_grads(
        SoftSignum,
        start,
        grads[:-1],
        lr=lr,
        nesterov=nesterov,
        total_steps=total,
        sign_fraction=0.45,  # 9 sign steps, the 10th step starts the transition
    )
    before = [p.detach().clone() for p in params]
    buffers = [optimizer.state[p]["momentum_buffer"].clone() for p in params]
    for p, g in zip(params, grads[-1], strict=True):
        p.grad = g.clone()
    optimizer.step()

    momentum = [beta * m + g for m, g in zip(buffers, grads[-1], strict=True)]
    directions = [g + beta * m if nesterov else m for m, g in zip(momentum, grads[-1], strict=True)]
    # the statistics are those of the update directions (the authors' code): with Nesterov
    # momentum the Nesterov direction, not the buffer
    v = np.concatenate([u.numpy().ravel() for u in directions])
    mu = np.median(v)
    s = np.median(np.abs(v - mu))
    q = stats.foldcauchy.ppf(np.arange(11) / 11, abs(mu) / s, scale=s)
    with np.errstate(divide="ignore"):
        taus = np.clip(np.arctanh(1 - eps) / q, 1.0, tmax)
    assert np.sum((taus > 1.0) & (taus < tmax)) >= 5  # the schedule is not all clamped
    assert optimizer.param_groups[0]["schedule"] == pytest.approx(taus.tolist(), rel=1e-9)
    assert optimizer.temperatures() == [pytest.approx(taus[0])]
    for p0, p, u in zip(before, params, directions, strict=True):
        expected = p0 - lr * torch.tanh(taus[0] * u)
        torch.testing.assert_close(p.detach(), expected, rtol=0, atol=1e-15)


def test_temperatures_stay_in_range_never_increase_and_persist_after_the_end():
    model = tiny_model()
    optimizer = SoftSignum(model.parameters(), lr=1e-3, total_steps=30, sign_fraction=0.5)
    seen = []
    for step in range(45):  # 15 steps past the planned end: the last temperature is kept
        optimizer.zero_grad()
        loss_of(model, step).backward()
        optimizer.step()
        seen.append(optimizer.temperatures()[0])
    assert seen[:15] == [math.inf] * 15
    taus = np.array(seen[15:])
    assert np.all((taus >= 1.0) & (taus <= 20.0))
    assert np.all(np.diff(taus) <= 0)
    assert taus[0] == 20.0 and taus[-1] < 20.0
    assert np.all(taus[14:] == taus[14])


@pytest.mark.parametrize("soft_map", ["tanh", "algebraic"])
@pytest.mark.parametrize("nesterov", [False, True])
def test_foreach_and_per_tensor_paths_agree(soft_map, nesterov):
    runs = []
    for foreach in (True, False):
        model = tiny_model()
        optimizer = SoftSignum(
            model.parameters(),
            lr=1e-2,
            total_steps=20,
            sign_fraction=0.5,
            nesterov=nesterov,
            weight_decay=0.1,
            soft_map=soft_map,
            foreach=foreach,
        )
        train(model, optimizer, range(25))
        runs.append(list(model.parameters()))
    for a, b in zip(*runs, strict=True):
        assert torch.equal(a, b)


@pytest.mark.parametrize("options", [{}, {"normalized": True}, {"sign_norm": True}], ids=str)
@pytest.mark.parametrize("split", [3, 12, 17, 24])  # sign phase, transition start, middle, after
def test_resume_in_any_phase_reproduces_the_unbroken_run(split, options):
    def make(model):
        return SoftSignum(model.parameters(), lr=1e-2, total_steps=20, sign_fraction=0.6, **options)

    resume_matches_unbroken(make, total=26, split=split)


def test_param_groups_have_their_own_schedule_and_settings():
    model = tiny_model()
    matrices = [p for p in model.parameters() if p.ndim == 2]
    others = [p for p in model.parameters() if p.ndim != 2]
    optimizer = SoftSignum(
        [
            {"params": matrices},
            {"params": others, "lr": 1e-3, "total_steps": 4, "sign_fraction": 0.5, "tmax": 5.0},
        ],
        lr=1e-2,
        total_steps=100,
    )
    train(model, optimizer, range(6))
    first, second = optimizer.param_groups
    assert first["lr"] == 1e-2 and second["lr"] == 1e-3
    assert optimizer.temperatures()[0] == math.inf
    assert 1.0 <= optimizer.temperatures()[1] <= 5.0
    assert first["schedule"] is None and len(second["schedule"]) == 2


def test_lr_scheduler_scales_the_step():
    model = tiny_model()
    optimizer = Signum(model.parameters(), lr=0.1, momentum=0.0)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
    weight = model[0].weight
    for step in range(3):
        before = weight.detach().clone()
        optimizer.zero_grad()
        loss_of(model, step).backward()
        nonzero = weight.grad != 0
        optimizer.step()
        scheduler.step()
        moved = (weight.detach() - before).abs()[nonzero]
        torch.testing.assert_close(moved, torch.full_like(moved, 0.1 * 0.5**step))


def test_closure_is_evaluated_with_grad_and_its_loss_returned():
    model = tiny_model()
    optimizer = SoftSignum(model.parameters(), lr=1e-3, total_steps=10)

    def closure():
        optimizer.zero_grad()
        loss = loss_of(model, 0)
        loss.backward()
        return loss

    loss = optimizer.step(closure)
    assert loss.item() == pytest.approx(loss_of(tiny_model(), 0).item())


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(lr=-1.0), "lr"),
        (dict(lr=math.nan), "lr"),
        (dict(momentum=1.0), "momentum"),
        (dict(weight_decay=-0.1), "weight_decay"),
        (dict(nesterov=True, momentum=0.0), "nesterov"),
        (dict(total_steps=0), "total_steps"),
        (dict(total_steps=2.5), "total_steps"),
        (dict(sign_fraction=1.5), "sign_fraction"),
        (dict(eps=0.0), "eps"),
        (dict(eps=1e-17), "eps must be at least"),
        (dict(eps=1e-300, soft_map="algebraic"), "eps must be at least"),
        (dict(tmax=0.5), "tmax"),
        (dict(tmax=math.inf), "tmax"),
        (dict(soft_map="relu"), "soft_map"),
        (dict(normalized=True, sign_norm=True), "mutually exclusive"),
        (dict(normalized=1), "normalized"),
    ],
)
def test_invalid_hyperparameters_are_named(kwargs, message):
    settings = dict(lr=1e-3, total_steps=10) | kwargs
    with pytest.raises((ValueError, TypeError), match=message):
        SoftSignum(tiny_model().parameters(), **settings)


def test_sparse_and_complex_inputs_are_rejected():
    embedding = nn.Embedding(10, 4, sparse=True)
    optimizer = Signum(embedding.parameters(), lr=1e-3)
    embedding(torch.tensor([1, 2])).sum().backward()
    with pytest.raises(RuntimeError, match="sparse gradients"):
        optimizer.step()
    with pytest.raises(TypeError, match="complex"):
        SoftSignum([torch.zeros(3, dtype=torch.complex64, requires_grad=True)], total_steps=5)


def test_non_finite_momentum_at_the_transition_is_an_error():
    p = torch.zeros(5, requires_grad=True)
    optimizer = SoftSignum([p], lr=1e-3, total_steps=2, sign_fraction=0.5)
    p.grad = torch.ones(5)
    optimizer.step()
    p.grad = torch.tensor([1.0, math.nan, 0.0, 0.0, 0.0])
    with pytest.raises(ValueError, match="non-finite"):
        optimizer.step()


@pytest.mark.parametrize(
    "make",
    [
        lambda params: Signum(params, lr=3e-3),
        lambda params: SoftSignum(params, lr=3e-3, total_steps=150),
        lambda params: SoftSignum(params, lr=3e-3, total_steps=150, soft_map="algebraic"),
    ],
)
def test_training_lowers_the_loss(make):
    model = tiny_model()
    losses = train(model, make(model.parameters()), range(150))
    assert np.mean(losses[-10:]) < 0.5 * np.mean(losses[:10])


def test_a_rejected_param_group_is_not_kept():
    model = tiny_model()
    optimizer = SoftSignum(list(model.parameters())[:2], lr=1e-3, total_steps=10)
    with pytest.raises(ValueError, match="lr"):
        optimizer.add_param_group({"params": list(model.parameters())[2:], "lr": -1.0})
    assert len(optimizer.param_groups) == 1
    train(model, optimizer, range(2))


def hand_softsignum_scaled(start, grads_per_step, lr, beta, nesterov, rule, n_sign, taus):
    """SoftSignum with the authors' step-size options, written out from the description: the
    step is lr / ||u|| (normalized) or lr * ||u|| (sign_norm), ||u|| the 2-norm of all the
    group's directions, in both phases; ``taus`` are the transition's temperatures."""
    params = [p.detach().clone() for p in start]
    buffers = [None] * len(params)
    for step, grads in enumerate(grads_per_step):
        directions = []
        for i, g in enumerate(grads):
            buffers[i] = g.clone() if buffers[i] is None else beta * buffers[i] + g
            directions.append(g + beta * buffers[i] if nesterov else buffers[i])
        norm = math.sqrt(sum(float((u * u).sum()) for u in directions))
        eta = lr / norm if rule == "normalized" else lr * norm
        for p, u in zip(params, directions, strict=True):
            mapped = torch.sign(u) if step < n_sign else torch.tanh(taus[step - n_sign] * u)
            p.sub_(eta * mapped)
    return params


@pytest.mark.parametrize("foreach", [True, False])
@pytest.mark.parametrize("nesterov", [False, True])
@pytest.mark.parametrize("rule", ["normalized", "sign_norm"])
def test_normalized_and_sign_norm_follow_the_hand_written_trajectory(rule, nesterov, foreach):
    start = [torch.randn(s, dtype=torch.float64) for s in SHAPES]
    grads = [[0.3 * g.double() for g in step] for step in gradient_stream(SHAPES, 12, seed=4)]
    params, optimizer = run_with_grads(
        SoftSignum,
        start,
        grads,
        lr=0.01,
        momentum=0.9,
        nesterov=nesterov,
        total_steps=10,
        sign_fraction=0.5,
        foreach=foreach,
        **{rule: True},
    )
    taus = optimizer.param_groups[0]["schedule"]
    taus = taus + [taus[-1]] * 2  # the last temperature is kept after total_steps
    assert len(set(taus)) > 2
    expected = hand_softsignum_scaled(start, grads, 0.01, 0.9, nesterov, rule, 5, taus)
    for a, b in zip(params, expected, strict=True):
        torch.testing.assert_close(a.detach(), b, rtol=0, atol=1e-14)


def test_signum_has_the_step_size_options_too():
    start = [torch.randn(s, dtype=torch.float64) for s in SHAPES]
    grads = [[g.double() for g in step] for step in gradient_stream(SHAPES, 4, seed=5)]
    for rule in ("normalized", "sign_norm"):
        got, _ = run_with_grads(Signum, start, grads, lr=0.01, **{rule: True})
        expected = hand_softsignum_scaled(start, grads, 0.01, 0.9, False, rule, 4, [])
        for a, b in zip(got, expected, strict=True):
            torch.testing.assert_close(a.detach(), b, rtol=0, atol=1e-14)


def test_normalized_step_on_zero_directions_leaves_the_parameters_finite_and_unchanged():
    p = torch.ones(4, requires_grad=True)
    optimizer = SoftSignum([p], lr=0.1, momentum=0.0, total_steps=4, normalized=True)
    for _ in range(4):
        p.grad = torch.zeros(4)
        optimizer.step()
    assert torch.equal(p.detach(), torch.ones(4))


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("foreach", [True, False])
def test_soft_sign_keeps_small_updates_in_half_precision(dtype, foreach):
    """In bfloat16 / float16, ``2 sigmoid(2z) - 1`` cancels: ``sigmoid`` near 1/2 has a spacing
    of 2^-8 (bfloat16), so every ``|tanh z|`` below about 4e-3 became an update of exactly 0.
    The transition's update must be ``tanh`` to the dtype's own precision, as torch.tanh is."""
    g = torch.Generator().manual_seed(0)
    sizes = 10 ** (-4 + torch.rand(4096, generator=g, dtype=torch.float64))  # 1e-4 to 1e-3
    grad = (sizes * torch.randn(4096, generator=g, dtype=torch.float64).sign()).to(dtype)
    param = torch.zeros(4096, dtype=dtype, requires_grad=True)
    optimizer = SoftSignum(
        [param], lr=1.0, momentum=0.0, total_steps=4, sign_fraction=0.0, foreach=foreach
    )
    param.grad = grad.clone()
    optimizer.step()
    tau = optimizer.temperatures()[0]
    assert 1.0 <= tau <= 20.0
    expected = -torch.tanh(tau * grad.double())  # |tau g| from 1e-4 to 2e-2
    relative = (param.detach().double() - expected).abs() / expected.abs()
    resolution = torch.finfo(dtype).eps
    assert (param.detach() != 0).all()
    assert relative.max() < 4 * resolution


@pytest.mark.parametrize("foreach", [True, False])
def test_algebraic_soft_sign_of_large_momenta_in_float16(foreach):
    """In float16 the algebraic map squared ``tau m`` and overflowed above 256: a coordinate
    with a large momentum (here 20 to 200, ``tau`` from 1 to 20) got an update of 0 instead of
    about ``-lr``. The step is the map's, computed in float64 without overflow."""
    g = torch.Generator().manual_seed(0)
    grad = (20 + 180 * torch.rand(512, generator=g, dtype=torch.float64)).to(torch.float16)
    param = torch.zeros(512, dtype=torch.float16, requires_grad=True)
    optimizer = SoftSignum(
        [param],
        lr=1.0,
        momentum=0.0,
        total_steps=4,
        sign_fraction=0.0,
        soft_map="algebraic",
        foreach=foreach,
    )
    param.grad = grad.clone()
    optimizer.step()
    z = optimizer.temperatures()[0] * grad.double()
    expected = -z / torch.hypot(torch.ones(()), z)
    torch.testing.assert_close(param.detach().double(), expected, atol=1e-3, rtol=0)
