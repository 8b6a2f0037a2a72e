"""``sinkhorn2`` as a differentiable loss and ``sinkhorn``'s POT conventions: values against
POT, gradients against central finite differences, ``gradcheck`` and unrolled autodiff; batches
against loops; unbalanced plans against POT; forbidden (+inf) costs; precision limits."""

from __future__ import annotations

import math
import warnings

import numpy as np
import ot
import pytest
import torch

from theoropt.ot import (
    SinkhornConvergenceWarning,
    SinkhornPrecisionWarning,
    sinkhorn,
    sinkhorn2,
    sinkhorn_divergence,
)

REG = 0.1


def problem(n: int = 7, m: int = 5, seed: int = 0, requires_grad: bool = True):
    rng = np.random.default_rng(seed)
    M = torch.tensor(ot.dist(rng.random((n, 2)), rng.random((m, 2))))
    a = torch.tensor(rng.random(n) + 0.5)
    b = torch.tensor(rng.random(m) + 0.5)
    a, b = a / a.sum(), b / b.sum()
    return tuple(t.requires_grad_(requires_grad) for t in (a, b, M))


def central_difference(f, h: float = 1e-5) -> float:
    return (f(h) - f(-h)) / (2 * h)


RELAXATIONS = [None, 0.5, (0.5, math.inf)]


@pytest.mark.parametrize("value", ["linear", "regularized"])
@pytest.mark.parametrize("reg_m", RELAXATIONS)
def test_gradients_match_finite_differences(value: str, reg_m) -> None:
    """Along a direction that changes both masses equally (feasible for balanced problems),
    so the normalisation of the balanced gradients in a and b is tested too."""
    a, b, M = problem()
    loss = sinkhorn2(a, b, M, REG, tol=1e-13, value=value, reg_m=reg_m)
    grad_a, grad_b, grad_M = torch.autograd.grad(loss, (a, b, M))
    gen = torch.Generator().manual_seed(1)
    da, db = (
        torch.randn(7, generator=gen, dtype=a.dtype),
        torch.randn(5, generator=gen, dtype=a.dtype),
    )
    da, db = da - da.mean() + 0.3 / 7, db - db.mean() + 0.3 / 5
    dM = torch.randn(7, 5, generator=gen, dtype=a.dtype)

    def f(t: float) -> float:
        with torch.no_grad():
            return float(sinkhorn2(a + t * da, b + t * db, M + t * dM, REG, tol=1e-14,
                                   value=value, reg_m=reg_m))  # fmt: skip

    expected = central_difference(f)
    analytic = float((grad_a * da).sum() + (grad_b * db).sum() + (grad_M * dM).sum())
    assert analytic == pytest.approx(expected, rel=1e-6)


def test_values_match_pot() -> None:
    a, b, M = (t.detach().numpy() for t in problem())
    linear = ot.sinkhorn2(a, b, M, REG, method="sinkhorn_log", stopThr=1e-14, numItermax=10**5)
    assert sinkhorn2(a, b, M, REG, tol=1e-13) == pytest.approx(linear, rel=1e-10)
    regularised = ot.solve(M, a, b, reg=REG, tol=1e-14, max_iter=10**5).value
    assert sinkhorn2(a, b, M, REG, tol=1e-13, value="regularized") == pytest.approx(
        regularised, rel=1e-10
    )
    # Unbalanced: POT's ot.solve(...).value drops the mass terms of the generalised KL
    # (kl_div without mass=True), so the objective is evaluated here on POT's plan.
    plan = ot.unbalanced.sinkhorn_unbalanced(a, b, M, REG, 0.5, stopThr=1e-15, numItermax=10**5)

    def kl(p, q):
        return (p * np.log(p / q) - p + q).sum()

    objective = (
        (plan * M).sum()
        + REG * kl(plan, np.outer(a, b))
        + 0.5 * kl(plan.sum(1), a)
        + 0.5 * kl(plan.sum(0), b)
    )
    ours = sinkhorn2(a, b, M, REG, tol=1e-13, value="regularized", reg_m=0.5)
    assert ours == pytest.approx(objective, rel=1e-10)
    assert sinkhorn2(a, b, M, REG, tol=1e-13, reg_m=0.5) == pytest.approx(
        (plan * M).sum(), rel=1e-10
    )


@pytest.mark.parametrize("value", ["linear", "regularized"])
def test_implicit_gradient_equals_unrolled_autodiff(value: str) -> None:
    """At convergence the gradient of the unrolled iterations (POT's torch behaviour) and
    ours agree; in a and b up to the balanced (+t, -t) ambiguity (compared centred)."""
    a, b, M = problem()
    grads = {}
    for grad in ("implicit", "autodiff"):
        loss = sinkhorn2(a, b, M, REG, tol=1e-13, value=value, grad=grad)
        grads[grad] = torch.autograd.grad(loss, (a, b, M))
    for ours, unrolled in zip(grads["implicit"], grads["autodiff"], strict=True):
        ours, unrolled = ours - ours.mean(), unrolled - unrolled.mean()
        torch.testing.assert_close(ours, unrolled, rtol=0, atol=1e-10)


def test_gradcheck() -> None:
    """``torch.autograd.gradcheck`` in M and in weights parametrised on the simplex."""
    _, _, M = problem()
    logits_a = torch.randn(7, dtype=torch.float64, requires_grad=True)
    logits_b = torch.randn(5, dtype=torch.float64, requires_grad=True)

    def loss(logits_a, logits_b, M):
        return sinkhorn2(logits_a.softmax(0), logits_b.softmax(0), M, REG, tol=1e-14)

    assert torch.autograd.gradcheck(loss, (logits_a, logits_b, M), atol=1e-7, rtol=1e-5)

    def regularised(M):
        return sinkhorn2(None, None, M, REG, tol=1e-14, value="regularized", grad="envelope")

    assert torch.autograd.gradcheck(regularised, (M,), atol=1e-7, rtol=1e-5)


def test_plan_vector_jacobian_product_matches_autodiff() -> None:
    a, b, M = problem()
    upstream = torch.randn(7, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    grads = {}
    for grad in ("implicit", "autodiff"):
        plan = sinkhorn(a, b, M, REG, tol=1e-13, grad=grad)
        grads[grad] = torch.autograd.grad((plan * upstream).sum(), (a, b, M))
    for ours, unrolled in zip(grads["implicit"], grads["autodiff"], strict=True):
        torch.testing.assert_close(ours - ours.mean(), unrolled - unrolled.mean(), atol=1e-10,
                                   rtol=0)  # fmt: skip


def test_envelope_is_only_for_the_regularised_value() -> None:
    a, b, M = problem()
    with pytest.raises(ValueError, match="regularised value"):
        sinkhorn2(a, b, M, REG, grad="envelope")
    implicit = torch.autograd.grad(sinkhorn2(a, b, M, REG, value="regularized"), (a, b, M))
    envelope = torch.autograd.grad(
        sinkhorn2(a, b, M, REG, value="regularized", grad="envelope"), (a, b, M)
    )
    for first, second in zip(implicit, envelope, strict=True):
        torch.testing.assert_close(first, second)


def test_backward_memory_does_not_grow_with_iterations() -> None:
    """Bytes saved for the backward pass: constant in the number of iterations for the
    implicit gradient, growing with them for the unrolled one."""

    def saved_bytes(reg: float, grad: str) -> tuple[int, int]:
        a, b, M = problem(30, 20)
        total = [0]

        def pack(tensor):
            total[0] += tensor.numel() * tensor.element_size()
            return tensor

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            _, log = sinkhorn2(a, b, M, reg, tol=1e-10, grad=grad, log=True)
        return total[0], log["n_iter"]

    small, few = saved_bytes(0.5, "implicit")
    large, many = saved_bytes(0.01, "implicit")
    assert many > 5 * few and large == small
    unrolled_small, _ = saved_bytes(0.5, "autodiff")
    unrolled_large, _ = saved_bytes(0.01, "autodiff")
    assert unrolled_large > 5 * unrolled_small


@pytest.mark.parametrize("reg_m", [None, 0.5])
def test_batch_equals_loop(reg_m) -> None:
    cases = [problem(6, 4, seed) for seed in range(3)]
    a, b, M = (torch.stack([c[i].detach() for c in cases]).requires_grad_() for i in range(3))
    losses = sinkhorn2(a, b, M, REG, tol=1e-12, reg_m=reg_m)
    assert losses.shape == (3,)
    batched = torch.autograd.grad(losses.sum(), (a, b, M))
    for index in range(3):
        single = [t.detach()[index].clone().requires_grad_() for t in (a, b, M)]
        loss = sinkhorn2(*single, REG, tol=1e-12, reg_m=reg_m)
        assert float(losses[index]) == pytest.approx(float(loss), rel=1e-10)
        for got, want in zip(batched, torch.autograd.grad(loss, single), strict=True):
            torch.testing.assert_close(got[index], want, atol=1e-9, rtol=1e-7)
    plans = sinkhorn(a.detach(), b.detach(), M.detach(), REG, tol=1e-12, reg_m=reg_m)
    assert plans.shape == (3, 6, 4)


def test_shared_cost_batch_and_pot_multi_b_gradients() -> None:
    """POT's multi-b layout (b of shape (m, k)) is a batch sharing M: M's gradient sums."""
    a, _, M = problem()
    columns = torch.rand(5, 3, dtype=torch.float64) + 0.5
    columns = (columns / columns.sum(0)).requires_grad_()
    losses = sinkhorn2(a, columns, M, REG, tol=1e-12)
    grad_M, grad_b = torch.autograd.grad(losses.sum(), (M, columns))
    expected = torch.zeros_like(M)
    for k in range(3):
        single = sinkhorn2(a, columns[:, k], M, REG, tol=1e-12)
        g_M, g_b = torch.autograd.grad(single, (M, columns))
        expected += g_M
        torch.testing.assert_close(grad_b[:, k], g_b[:, k], atol=1e-9, rtol=1e-7)
    torch.testing.assert_close(grad_M, expected, atol=1e-9, rtol=1e-7)


@pytest.mark.parametrize("reg_m", [0.5, (math.inf, 0.3), (2.0, 0.7)])
def test_unbalanced_plan_matches_pot(reg_m) -> None:
    a, b, M = (t.detach().numpy() for t in problem())
    ours = sinkhorn(a, b, M, REG, reg_m=reg_m, tol=1e-13)
    reference = ot.unbalanced.sinkhorn_unbalanced(
        a, b, M, REG, reg_m, stopThr=1e-15, numItermax=10**5
    )
    np.testing.assert_allclose(ours, reference, rtol=0, atol=1e-12)


def test_unbalanced_multi_b_is_one_kl_problem_per_column() -> None:
    """With ``reg_m`` POT's multi-b values are ``k`` single-column problems with the KL to
    ``a b_k^T`` (POT's default ``reg_type="kl"``); POT 0.9's own multi-b path uses the kernel
    ``exp(-M / reg)`` alone (its ``reg_type="entropy"``), so it is the reference only there."""
    a, _, M = (t.detach().numpy() for t in problem())
    columns = np.random.default_rng(1).random((M.shape[1], 3)) * 2
    ours = sinkhorn2(a, columns, M, REG, reg_m=0.7, tol=1e-13)
    single = [
        ot.unbalanced.sinkhorn_unbalanced2(
            a, col.copy(), M, REG, 0.7, stopThr=1e-15, numItermax=10**5
        )
        for col in columns.T
    ]
    np.testing.assert_allclose(ours, single, rtol=1e-10)


def test_reg_m_accepts_any_scalar_and_names_itself_otherwise() -> None:
    """numpy and 0-d torch scalars (they raised "object is not iterable"), a one-entry
    sequence for both sides (POT's ``get_parameter_pair``); anything else is named."""
    a, b, M = (t.detach().numpy() for t in problem())
    expected = sinkhorn(a, b, M, REG, reg_m=0.5, tol=1e-13)
    for reg_m in (np.float32(0.5), np.array(0.5), torch.tensor(0.5), [0.5], (0.5, 0.5)):
        np.testing.assert_array_equal(sinkhorn(a, b, M, REG, reg_m=reg_m, tol=1e-13), expected)
    for bad in ("half", (0.5, 0.5, 0.5), (), [[0.5, 0.5]], object()):
        with pytest.raises(ValueError, match="reg_m must be a number or a pair"):
            sinkhorn(a, b, M, REG, reg_m=bad)


def test_hyperparameters_that_require_grad_are_errors_not_dropped_gradients() -> None:
    """POT with the torch backend differentiates through ``reg``; here no gradient with respect
    to ``reg`` or ``reg_m`` is computed, so a tensor asking for one is an error (it was
    converted to a float and ``reg.grad`` stayed ``None``); plain tensors still work."""
    a, b, M = problem()
    x, y = torch.rand(6, 2, dtype=torch.float64), torch.rand(4, 2, dtype=torch.float64)
    reg = torch.tensor(REG, dtype=torch.float64, requires_grad=True)
    calls = {
        "reg": [
            lambda: sinkhorn(a, b, M, reg),
            lambda: sinkhorn2(a, b, M, reg),
            lambda: sinkhorn2(None, None, (x, y), reg, cost="sqeuclidean"),
            lambda: sinkhorn_divergence(x, y, reg),
        ],
        "reg_m": [
            lambda: sinkhorn2(a, b, M, REG, reg_m=reg),
            lambda: sinkhorn2(a, b, M, REG, reg_m=(math.inf, reg)),
        ],
    }
    for name, group in calls.items():
        for call in group:
            with warnings.catch_warnings():
                warnings.simplefilter("error")  # torch's "converting a tensor ..." included
                with pytest.raises(ValueError, match=f"{name} is a tensor that requires grad"):
                    call()
    plain = reg.detach()
    assert sinkhorn2(a, b, M, plain, reg_m=plain).item() == pytest.approx(
        sinkhorn2(a, b, M, REG, reg_m=REG).item()
    )


def test_forbidden_transports() -> None:
    """+inf costs: exactly zero mass there, no NaN in plan, value or gradient; same plan as POT
    with a cost so large that its kernel underflows to 0."""
    a, b, M = problem()
    blocked = torch.zeros(7, 5, dtype=torch.bool)
    blocked[0, :3] = blocked[2, 1] = blocked[4:, 4] = True
    M_inf = M.detach().masked_fill(blocked, math.inf).requires_grad_()
    plan = sinkhorn(a.detach(), b.detach(), M_inf.detach(), REG, tol=1e-12)
    assert bool((plan[blocked] == 0).all()) and bool(torch.isfinite(plan).all())
    huge = M.detach().masked_fill(blocked, 1e4).numpy()
    reference = ot.sinkhorn(a.detach().numpy(), b.detach().numpy(), huge, REG,
                            method="sinkhorn_log", stopThr=1e-14, numItermax=10**5)  # fmt: skip
    np.testing.assert_allclose(plan.numpy(), reference, atol=1e-12)
    for value in ("linear", "regularized"):
        loss = sinkhorn2(a, b, M_inf, REG, tol=1e-12, value=value)
        grads = torch.autograd.grad(loss, (a, b, M_inf))
        assert math.isfinite(float(loss)) and all(bool(torch.isfinite(g).all()) for g in grads)
        assert bool((grads[2][blocked] == 0).all())
    unrolled = sinkhorn2(a, b, M_inf, REG, tol=1e-12, grad="autodiff")
    assert float(unrolled) == pytest.approx(float(sinkhorn2(a, b, M_inf, REG, tol=1e-12)))
    with pytest.raises(ValueError, match=r"row 1 of M is \+inf everywhere"):
        sinkhorn(None, None, M.detach().index_fill(0, torch.tensor([1]), math.inf), REG)


def test_float32_default_tolerance_stops_at_reachable_precision() -> None:
    rng = np.random.default_rng(0)
    M = ot.dist(rng.random((300, 2)), rng.random((300, 2))).astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        plan, log = sinkhorn(None, None, M, 0.01, log=True)
    assert plan.dtype == np.float32 and log["converged"] and log["n_iter"] < 2000
    assert 1e-7 < log["tol"] < 1e-4
    with pytest.warns(SinkhornPrecisionWarning, match="float32"):
        sinkhorn(None, None, M, 0.01, tol=1e-12)


def test_masses_equal_only_to_1e7_stop_at_their_gap() -> None:
    a, b, M = (t.detach().numpy() for t in problem(requires_grad=False))
    b = b * (1 + 1e-7)
    with warnings.catch_warnings():
        warnings.simplefilter("error", SinkhornConvergenceWarning)
        _, log = sinkhorn(a, b, M, REG, log=True)
    assert log["converged"] and log["tol"] == pytest.approx(1e-7, rel=1e-3)
    with pytest.warns(SinkhornPrecisionWarning, match="masses that differ"):
        sinkhorn(a, b, M, REG, tol=1e-12)


@pytest.mark.parametrize(
    ("M", "reg", "match"),
    [
        (np.full((3, 4), 1e300), 1e-10, "overflows"),
        (np.ones((0, 4)), 0.1, "empty"),
        (np.ones((3, 0)), 0.1, "empty"),
        (np.array([[0.0, -np.inf], [1.0, 0.0]]), 0.1, "-inf"),
    ],
)
def test_bad_costs_are_clear_errors(M, reg, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        sinkhorn(None, None, M, reg)
    with pytest.raises(ValueError, match=match):
        sinkhorn2(None, None, M, reg)


def test_positional_order_and_aliases_are_pots() -> None:
    a, b, M = (t.detach().numpy() for t in problem(requires_grad=False))
    _, log = sinkhorn(a, b, M, 0.01, "log", 3, 1e-3, False, True, False)
    assert log["n_iter"] == 3 and log["tol"] == 1e-3  # 3 is max_iter, as POT's numItermax
    _, log = sinkhorn(a, b, M, 0.01, numItermax=4, stopThr=1e-30, log=True, warn=False)
    assert log["n_iter"] == 4
    with pytest.raises(TypeError, match="both max_iter and its POT alias numItermax"):
        sinkhorn(a, b, M, 0.01, max_iter=3, numItermax=4)
    with pytest.raises(TypeError):
        sinkhorn(a, b, M, 0.01, "log", 10, 1e-9, False, False, True, None, 0.5)


def test_warm_start_and_epsilon_scaling() -> None:
    a, b, M = (t.detach().numpy() for t in problem(40, 30, requires_grad=False))
    plan, log = sinkhorn(a, b, M, 0.005, tol=1e-11, log=True)
    again, log_again = sinkhorn(a, b, M, 0.005, tol=1e-11, log=True,
                                warmstart=(log["log_u"], log["log_v"]))  # fmt: skip
    assert log_again["n_iter"] <= 10 < log["n_iter"]
    np.testing.assert_allclose(again, plan, atol=1e-12)
    annealed, log_annealed = sinkhorn(a, b, M, 0.005, tol=1e-11, log=True, eps_scaling=0.5)
    assert log_annealed["converged"]
    np.testing.assert_allclose(annealed, plan, atol=1e-12)
    with pytest.raises(ValueError, match="eps_scaling"):
        sinkhorn(a, b, M, 0.005, eps_scaling=1.5)


def test_sns_gradients_equal_log_gradients() -> None:
    a, b, M = problem()
    via_log = torch.autograd.grad(sinkhorn2(a, b, M, REG, tol=1e-12), (a, b, M))
    via_sns = torch.autograd.grad(sinkhorn2(a, b, M, REG, method="sns", tol=1e-12), (a, b, M))
    for first, second in zip(via_log, via_sns, strict=True):
        torch.testing.assert_close(first, second, atol=1e-9, rtol=1e-7)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_loss_and_gradients_match_cpu() -> None:
    from theoropt.ot import sinkhorn_divergence

    a, b, M = problem(60, 40)
    on_cpu = torch.autograd.grad(sinkhorn2(a, b, M, REG, tol=1e-11), (a, b, M))
    gpu = [t.detach().cuda().requires_grad_() for t in (a, b, M)]
    loss = sinkhorn2(*gpu, REG, tol=1e-11)
    assert loss.device.type == "cuda"
    for got, want in zip(torch.autograd.grad(loss, gpu), on_cpu, strict=True):
        torch.testing.assert_close(got.cpu(), want, atol=1e-9, rtol=1e-7)
    x = torch.rand(300, 2, dtype=torch.float64, requires_grad=True)
    y = torch.rand(200, 2, dtype=torch.float64) + 0.3
    cpu_grad = torch.autograd.grad(sinkhorn_divergence(x, y, 0.05, tol=1e-10, batch_size=64), x)
    xg = x.detach().cuda().requires_grad_()
    value = sinkhorn_divergence(xg, y.cuda(), 0.05, tol=1e-10, batch_size=64)
    torch.testing.assert_close(torch.autograd.grad(value, xg)[0].cpu(), cpu_grad[0], atol=1e-9,
                               rtol=1e-7)  # fmt: skip
