"""Sinkhorn divergence and the point-cloud loss: values against POT, the dense solver and
GeomLoss; zero for equal clouds and positive otherwise; gradients against finite differences
and against the dense path; batches against loops (the docs' training example runs in
tests/test_docs_examples.py)."""

from __future__ import annotations

import math
import warnings

import numpy as np
import ot
import pytest
import torch

from theoropt.ot import sinkhorn2, sinkhorn_divergence


def clouds(n: int = 30, m: int = 20, seed: int = 1, shift: float = 0.3):
    rng = np.random.default_rng(seed)
    x = torch.tensor(rng.random((n, 2)), requires_grad=True)
    y = torch.tensor(rng.random((m, 2)) + shift, requires_grad=True)
    a = torch.tensor(rng.random(n) + 0.5)
    b = torch.tensor(rng.random(m) + 0.5)
    return x, y, (a / a.sum()).requires_grad_(), (b / b.sum()).requires_grad_()


@pytest.mark.parametrize("value", ["linear", "regularized"])
def test_zero_for_equal_clouds_positive_otherwise(value: str) -> None:
    x, y, a, _ = clouds()
    same = sinkhorn_divergence(x, x.detach().clone(), 0.05, a=a, b=a.detach(), value=value)
    assert abs(same.item()) < 1e-9
    for shift in (0.0, 0.3, 1.0):
        x, y, a, b = clouds(seed=2, shift=shift)
        assert sinkhorn_divergence(x, y, 0.05, a=a, b=b, value=value).item() > 1e-4


@pytest.mark.parametrize(
    ("value", "reg_m"), [("linear", None), ("regularized", None), ("regularized", 0.5)]
)
def test_gradients_match_finite_differences(value: str, reg_m) -> None:
    x, y, a, b = clouds()
    loss = sinkhorn_divergence(x, y, 0.05, a=a, b=b, value=value, reg_m=reg_m, tol=1e-12,
                               batch_size=7)  # fmt: skip
    grads = torch.autograd.grad(loss, (x, y, a, b))
    gen = torch.Generator().manual_seed(0)
    moves = [torch.randn(t.shape, generator=gen, dtype=t.dtype) for t in (x, y, a, b)]
    moves[2] = moves[2] - moves[2].mean() + 0.2 / 30  # keep a and b equally heavy
    moves[3] = moves[3] - moves[3].mean() + 0.2 / 20

    def f(t: float) -> float:
        with torch.no_grad():
            moved = [v + t * d for v, d in zip((x, y, a, b), moves, strict=True)]
            return float(sinkhorn_divergence(moved[0], moved[1], 0.05, a=moved[2], b=moved[3],
                                             value=value, reg_m=reg_m, tol=1e-13))  # fmt: skip

    h = 1e-5
    expected = (f(h) - f(-h)) / (2 * h)
    analytic = sum(float((g * d).sum()) for g, d in zip(grads, moves, strict=True))
    assert analytic == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize(
    ("value", "reg_m", "eps_scaling"),
    [("linear", None, None), ("regularized", None, None), ("linear", 0.3, None),
     ("regularized", (math.inf, 0.3), None), ("linear", None, 0.5)],
)  # fmt: skip
def test_point_cloud_loss_equals_dense_loss_and_gradients(value: str, reg_m, eps_scaling) -> None:
    """The chunked loss and its chunked backward against the dense solver with autograd
    through the cost ``||x_i - y_j||^2`` (computed by torch); unbalanced and annealed too."""
    x, y, a, b = clouds()
    lazy = sinkhorn2(a, b, (x, y), 0.05, cost="sqeuclidean", tol=1e-12, value=value,
                     batch_size=8, reg_m=reg_m, eps_scaling=eps_scaling)  # fmt: skip
    dense = sinkhorn2(a, b, torch.cdist(x, y) ** 2, 0.05, tol=1e-12, value=value, reg_m=reg_m)
    assert float(lazy) == pytest.approx(float(dense), rel=1e-10)
    for got, want in zip(torch.autograd.grad(lazy, (x, y, a, b)),
                         torch.autograd.grad(dense, (x, y, a, b)), strict=True):  # fmt: skip
        torch.testing.assert_close(got, want, atol=1e-9, rtol=1e-7)


def test_linear_value_is_pots() -> None:
    x, y, a, b = (t.detach().numpy() for t in clouds())
    reference = ot.bregman.empirical_sinkhorn_divergence(x, y, 0.05, a=a, b=b, stopThr=1e-12)
    assert sinkhorn_divergence(x, y, 0.05, a=a, b=b, tol=1e-12) == pytest.approx(
        reference, rel=1e-8
    )


def test_regularized_value_is_feydys_debiased_divergence() -> None:
    """Against three dense regularised losses, and against GeomLoss (cost |x-y|^2/2, blur^2
    = reg/2, so its value is half ours; it anneals with ``scaling`` and stops without a
    tolerance, so it agrees to its own accuracy only)."""
    x, y, a, b = (t.detach() for t in clouds())
    ours = float(sinkhorn_divergence(x, y, 0.05, a=a, b=b, value="regularized", tol=1e-12))

    def regularised(p, q, wp, wq):
        return float(sinkhorn2(wp, wq, torch.cdist(p, q) ** 2, 0.05, tol=1e-12,
                               value="regularized"))  # fmt: skip

    dense = regularised(x, y, a, b) - 0.5 * (regularised(x, x, a, a) + regularised(y, y, b, b))
    assert ours == pytest.approx(dense, rel=1e-10)
    geomloss = pytest.importorskip("geomloss")
    loss = geomloss.SamplesLoss("sinkhorn", p=2, blur=(0.05 / 2) ** 0.5, scaling=0.99,
                                backend="tensorized")  # fmt: skip
    assert 2 * float(loss(a, x, b, y)) == pytest.approx(ours, rel=1e-3)


def test_batch_equals_loop() -> None:
    cases = [clouds(12, 9, seed) for seed in range(3)]
    x, y, a, b = (torch.stack([c[i].detach() for c in cases]).requires_grad_() for i in range(4))
    values = sinkhorn_divergence(x, y, 0.05, a=a, b=b, tol=1e-12)
    assert values.shape == (3,)
    grads = torch.autograd.grad(values.sum(), (x, y, a, b))
    for index in range(3):
        single = [t.detach()[index].clone().requires_grad_() for t in (x, y, a, b)]
        value = sinkhorn_divergence(single[0], single[1], 0.05, a=single[2], b=single[3],
                                    tol=1e-12)  # fmt: skip
        assert float(values[index]) == pytest.approx(float(value), rel=1e-9)
        for got, want in zip(grads, torch.autograd.grad(value, single), strict=True):
            torch.testing.assert_close(got[index], want, atol=1e-9, rtol=1e-7)


@pytest.mark.parametrize("value", ["linear", "regularized"])
def test_float32_clouds_far_from_the_origin_keep_their_value_and_gradients(value: str) -> None:
    """Squared distances are translation invariant; computed in the expanded form on raw
    float32 coordinates 100 units out they lost ``eps * 1e4 / reg`` to cancellation (the
    divergence moved by 2 % and the solves stopped at max_iter). Reference: float64 at the
    origin; the loss's gradients through the same clouds too."""
    x, y, a, b = clouds(40, 30)
    reference = sinkhorn_divergence(x, y, 0.05, a=a, b=b, value=value, tol=1e-12)
    grads = torch.autograd.grad(reference, (x, y))
    far = [(t.detach() + 100.0).float().requires_grad_() for t in (x, y)]
    weights = [t.detach().float() for t in (a, b)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no SinkhornConvergenceWarning
        moved = sinkhorn_divergence(*far, 0.05, *weights, value=value)
        loss = sinkhorn2(*weights, tuple(far), 0.05, cost="sqeuclidean", value=value)
    assert moved.item() == pytest.approx(reference.item(), rel=1e-4)
    expected = sinkhorn2(a, b, (x, y), 0.05, cost="sqeuclidean", value=value, tol=1e-12)
    assert loss.item() == pytest.approx(expected.item(), rel=1e-4)
    for got, want in zip(torch.autograd.grad(moved, far), grads, strict=True):
        torch.testing.assert_close(got.double(), want, atol=2e-4 * float(want.abs().max()), rtol=0)


def test_an_unconverged_float32_cloud_solve_advises_float64_points() -> None:
    """The expanded squared distance's float32 rounding can stall a point-cloud solve above
    ``tol`` (docs/ot.md): its warning says so; a float64 solve's does not."""
    x, y, a, b = (t.detach() for t in clouds())
    for dtype, advises_float64 in ((torch.float32, True), (torch.float64, False)):
        points = tuple(t.to(dtype) for t in (x, y))
        with pytest.warns(UserWarning, match="raise max_iter") as caught:
            sinkhorn2(
                a.to(dtype), b.to(dtype), points, 0.01, cost="sqeuclidean", max_iter=3, warn=True
            )
        assert any("float64 points" in str(w.message) for w in caught) is advises_float64


def test_bad_input() -> None:
    x, y, _, _ = clouds()
    with pytest.raises(ValueError, match="sqeuclidean"):
        sinkhorn_divergence(x, y, 0.05, metric="euclidean")
    with pytest.raises(ValueError, match="regularized"):
        sinkhorn_divergence(x, y, 0.05, grad="envelope")
    with pytest.raises(ValueError, match="equal dimensions"):
        sinkhorn_divergence(x, y[:, :1], 0.05)
