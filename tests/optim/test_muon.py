"""Muon and SoftMuon against hand-written updates, torch.optim.AdamW and the SVD."""

import math

import numpy as np
import pytest
import torch
from scipy import stats
from torch import nn

from tests.optim.helpers import (
    loss_of,
    regression_batch,
    resume_matches_unbroken,
    tiny_model,
    train,
)
from theoropt.optim import Muon, SoftMuon, precision, split_params


def hand_polar(X, steps=5, coefficients=((3.4445, -4.7750, 2.0315),)):
    """Quintic Newton–Schulz written out for one matrix (float32), one triple per step."""
    transposed = X.shape[0] > X.shape[1]
    if transposed:
        X = X.T
    X = X / (X.norm() + 1e-7)
    for k in range(steps):
        a, b, c = coefficients[min(k, len(coefficients) - 1)]
        A = X @ X.T
        X = a * X + (b * A + c * A @ A) @ X
    return X.T if transposed else X


def svd_soft_polar(G, tau):
    U, s, Vh = np.linalg.svd(G, full_matrices=False)
    return (U * (s / np.sqrt(s**2 + tau**-2.0))) @ Vh


MATRIX_SHAPES = [(8, 5), (8, 5), (5, 8), (4, 3, 2, 2)]  # a repeated shape is batched


def run_with_grads(optimizer_cls, start, grads_per_step, **kwargs):
    params = [p.detach().clone().requires_grad_() for p in start]
    optimizer = optimizer_cls([{"params": params, "use_muon": True}], **kwargs)
    for grads in grads_per_step:
        for p, g in zip(params, grads, strict=True):
            p.grad = g.clone()
        optimizer.step()
    return params, optimizer


def streams(shapes, steps, seed=0, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    start = [torch.randn(s, generator=g, dtype=dtype) for s in shapes]
    grads = [[torch.randn(s, generator=g, dtype=dtype) for s in shapes] for _ in range(steps)]
    return start, grads


ADJUSTMENTS = {
    "original": lambda rows, cols: math.sqrt(max(1.0, rows / cols)),
    "match_rms_adamw": lambda rows, cols: 0.2 * math.sqrt(max(rows, cols)),
}
SCHEDULE = [(3.4445, -4.7750, 2.0315), (2.0, -1.5, 0.5), (1.875, -1.25, 0.375)]


@pytest.mark.parametrize(
    ("nesterov", "adjust_lr_fn", "coefficients"),
    [
        (True, "original", [(3.4445, -4.7750, 2.0315)]),
        (False, "original", [(3.4445, -4.7750, 2.0315)]),
        (True, "match_rms_adamw", [(3.4, -4.7, 2.0)]),
        (True, "original", SCHEDULE),
    ],
)
def test_muon_equals_hand_written_muon(nesterov, adjust_lr_fn, coefficients):
    start, grads = streams(MATRIX_SHAPES, 5)
    lr, beta, wd = 0.02, 0.95, 0.1
    got, _ = run_with_grads(
        Muon,
        start,
        grads,
        lr=lr,
        nesterov=nesterov,
        weight_decay=wd,
        adjust_lr_fn=adjust_lr_fn,
        ns_coefficients=coefficients if len(coefficients) > 1 else coefficients[0],
        ns_dtype="float32",
        variant="exact",
    )
    expected = [p.clone() for p in start]
    buffers = [None] * len(start)
    for step_grads in grads:
        for i, g in enumerate(step_grads):
            buffers[i] = g.clone() if buffers[i] is None else beta * buffers[i] + (1 - beta) * g
            u = (1 - beta) * g + beta * buffers[i] if nesterov else buffers[i]
            matrix = u.reshape(u.shape[0], -1)
            scale = ADJUSTMENTS[adjust_lr_fn](*matrix.shape)
            update = hand_polar(matrix, coefficients=coefficients).view_as(u)
            expected[i] = expected[i] * (1 - lr * wd) - lr * scale * update
    for a, b in zip(got, expected, strict=True):
        torch.testing.assert_close(a.detach(), b, rtol=0, atol=1e-5)


@pytest.mark.parametrize("adjust_lr_fn", [None, "original", "match_rms_adamw"])
@pytest.mark.parametrize("ns_coefficients", [(3.4445, -4.7750, 2.0315), (3.4, -4.7, 2.0)])
def test_first_step_follows_torch_optim_muon(adjust_lr_fn, ns_coefficients):
    """One step against ``torch.optim.Muon`` with the same knobs (both in bfloat16, both with the
    momentum started at zero: the default variant is the authors')."""
    shapes = [(16, 8), (8, 24), (12, 12)]
    start, (grads,) = streams(shapes, 1, seed=3)
    ours = [p.clone().requires_grad_() for p in start]
    theirs = [p.clone().requires_grad_() for p in start]
    settings = dict(lr=0.05, weight_decay=0.1, adjust_lr_fn=adjust_lr_fn)
    settings["ns_coefficients"] = ns_coefficients
    optimizers = [
        Muon([{"params": ours, "use_muon": True}], ns_dtype="bfloat16", **settings),
        torch.optim.Muon(theirs, **settings),
    ]
    for params, optimizer in zip((ours, theirs), optimizers, strict=True):
        for p, g in zip(params, grads, strict=True):
            p.grad = g.clone()
        optimizer.step()
    for a, b, p in zip(ours, theirs, start, strict=True):
        scale = ADJUSTMENTS[adjust_lr_fn or "original"](*p.shape)
        step = 0.05 * scale  # the step's size: the update has singular values near 1
        torch.testing.assert_close(a.detach(), b.detach(), rtol=0, atol=0.03 * step)
        assert (a.detach() - p * (1 - 0.05 * 0.1)).abs().max() > 0.1 * step / p.shape[0] ** 0.5


@pytest.mark.parametrize("grouping", ["split_params", "one mixed group"])
def test_non_matrix_parameters_follow_torch_adamw(grouping):
    model, reference = tiny_model(), tiny_model()
    vectors = [p for p in model.parameters() if p.ndim < 2]
    reference_vectors = [p for p in reference.parameters() if p.ndim < 2]
    if grouping == "split_params":
        ours = Muon(
            split_params(model), adamw_lr=1e-2, adamw_betas=(0.8, 0.9), adamw_weight_decay=0.1
        )
    else:  # the group's own lr and weight_decay reach its non-matrix parameters
        ours = Muon(model.parameters(), lr=1e-2, weight_decay=0.1, adamw_betas=(0.8, 0.9))
    theirs = torch.optim.AdamW(reference_vectors, lr=1e-2, betas=(0.8, 0.9), weight_decay=0.1)
    for step in range(10):
        for m, opt in ((model, ours), (reference, theirs)):
            opt.zero_grad()
            loss_of(m, step).backward()
            opt.step()
        # the reference model's matrices stay put: give ours the same matrices back
        with torch.no_grad():
            for p, q in zip(model.parameters(), reference.parameters(), strict=True):
                if p.ndim >= 2:
                    p.copy_(q)
    for a, b in zip(vectors, reference_vectors, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_softmuon_sign_phase_is_muon_bit_for_bit():
    start, grads = streams(MATRIX_SHAPES, 6)
    soft, optimizer = run_with_grads(SoftMuon, start, grads, total_steps=10, sign_fraction=0.6)
    hard, _ = run_with_grads(Muon, start, grads)
    assert optimizer.temperatures() == [math.inf]
    for a, b in zip(soft, hard, strict=True):
        assert torch.equal(a, b)


@pytest.mark.parametrize("dtype", [torch.float64, None])
def test_soft_update_is_the_svd_soft_polar_with_independent_temperature(dtype):
    shapes = [(7, 5), (6, 9), (7, 6)]
    start, grads = streams(shapes, 4, seed=1, dtype=torch.float64)
    lr, beta, eps, total = 0.02, 0.95, 1e-4, 12
    params, optimizer = run_with_grads(
        SoftMuon,
        start,
        grads[:-1],
        lr=lr,
        total_steps=total,
        sign_fraction=0.25,
        soft_polar_dtype=dtype,
        ns_tol=1e-10 if dtype else 1e-3,
        variant="exact",
    )
    before = [p.detach().clone() for p in params]
    buffers = [optimizer.state[p]["momentum_buffer"].clone() for p in params]
    for p, g in zip(params, grads[-1], strict=True):
        p.grad = g.clone()
    optimizer.step()

    singular = np.concatenate([np.linalg.svd(g.numpy(), compute_uv=False) for g in grads[-1]])
    assert singular.size % 2 == 1  # 17 values: one median, as torch and numpy agree
    mu = np.median(singular)
    s = np.median(np.abs(singular - mu))
    y = 1 - eps
    inverse = y / np.sqrt(1 - y * y)
    q = stats.foldcauchy.ppf(np.arange(9) / 9, mu / s, scale=s)
    with np.errstate(divide="ignore"):
        taus = np.clip(inverse / q, 1.0, 1e9)
    assert optimizer.param_groups[0]["schedule"] == pytest.approx(taus.tolist(), rel=1e-9)
    assert inverse == pytest.approx(70.71, abs=0.01)
    tau = taus[0]
    tolerance = 1e-10 if dtype else 2e-5
    for p0, p, m, g in zip(before, params, buffers, grads[-1], strict=True):
        u = (1 - beta) * g + beta * (beta * m + (1 - beta) * g)
        scale = math.sqrt(max(1.0, u.shape[0] / u.shape[1]))
        expected = p0.numpy() - lr * scale * svd_soft_polar(u.numpy(), tau)
        np.testing.assert_allclose(p.detach().numpy(), expected, rtol=0, atol=tolerance)


def test_temperatures_in_range_non_increasing_and_kept_after_the_end():
    model = tiny_model()
    optimizer = SoftMuon(split_params(model), total_steps=20, sign_fraction=0.5)
    seen = []
    for step in range(30):
        optimizer.zero_grad()
        loss_of(model, step).backward()
        optimizer.step()
        seen.append(optimizer.temperatures()[0])
    assert optimizer.temperatures()[1] is None  # the AdamW group has no temperature
    taus = np.array(seen[10:])
    assert np.all((taus >= 1) & (taus <= 1e9)) and np.all(np.diff(taus) <= 0)
    assert np.all(taus[9:] == taus[9])


@pytest.mark.parametrize("split", [4, 10, 15, 22])
def test_resume_in_any_phase_reproduces_the_unbroken_run(split):
    def make(model):
        return SoftMuon(
            split_params(model), total_steps=20, sign_fraction=0.5, adamw_lr=1e-3, variant="exact"
        )

    resume_matches_unbroken(make, total=24, split=split)


def test_foreach_and_per_tensor_paths_agree():
    runs = []
    for foreach in (True, False):
        model = tiny_model()
        optimizer = SoftMuon(
            split_params(model),
            total_steps=10,
            sign_fraction=0.5,
            weight_decay=0.1,
            adamw_weight_decay=0.1,
            foreach=foreach,
        )
        train(model, optimizer, range(12))
        runs.append(list(model.parameters()))
    for a, b in zip(*runs, strict=True):
        assert torch.equal(a, b)


class TinyNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(11, 8)
        self.conv = nn.Conv1d(8, 8, 3, padding=1)
        self.blocks = nn.Sequential(nn.Linear(8, 8), nn.LayerNorm(8))
        self.lm_head = nn.Linear(8, 11, bias=False)
        self.lm_head.weight = self.embed.weight  # tied

    def forward(self, ids):
        h = self.embed(ids).transpose(1, 2)
        h = self.conv(h).transpose(1, 2)
        return self.lm_head(self.blocks(h))


def test_split_params_sends_embeddings_heads_and_vectors_to_adamw():
    net = TinyNet()
    muon, adamw = split_params(net)
    assert muon["use_muon"] and not adamw["use_muon"]
    assert {id(p) for p in muon["params"]} == {id(net.conv.weight), id(net.blocks[0].weight)}
    assert sum(p is net.embed.weight for p in adamw["params"]) == 1
    assert len(muon["params"]) + len(adamw["params"]) == len(list(net.parameters()))
    untied = nn.Sequential(nn.Linear(3, 4))
    untied.head = nn.Linear(4, 2)
    groups = split_params(untied)
    assert groups[1]["params"][-1] is untied.head.bias
    assert any(p is untied.head.weight for p in groups[1]["params"])


def test_conv_kernels_are_orthogonalised_as_flattened_matrices():
    conv = nn.Conv1d(4, 6, 3)
    optimizer = Muon([{"params": [conv.weight], "use_muon": True}], lr=0.1, variant="exact")
    conv.weight.grad = torch.randn_like(conv.weight)
    before = conv.weight.detach().clone()
    optimizer.step()
    expected = before - 0.1 * hand_polar(conv.weight.grad.reshape(6, 12)).view_as(before)
    torch.testing.assert_close(conv.weight.detach(), expected, rtol=0, atol=1e-5)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(lr=-0.1), "lr"),
        (dict(momentum=1.0), "momentum"),
        (dict(ns_steps=0), "ns_steps"),
        (dict(adamw_betas=(0.9, 1.0)), "betas"),
        (dict(adamw_eps=0.0), "eps"),
        (dict(adamw_lr=-1.0), "adamw_lr must lie"),
        (dict(adamw_lr=torch.tensor([1.0, 2.0])), "Tensor adamw_lr must be 1-element"),
        (dict(adamw_weight_decay=-0.1), "adamw_weight_decay must lie"),
        (dict(total_steps=0), "total_steps"),
        (dict(tmax=0.0), "tmax"),
        (dict(eps=1e-17), "eps must be at least"),
        (dict(ns_tol=0.0), "ns_tol"),
        (dict(soft_map="cube"), "soft_map"),
    ],
)
def test_invalid_hyperparameters_are_named(kwargs, message):
    """Also where no group takes the setting (``adamw_lr`` / ``adamw_weight_decay`` without a
    ``use_muon=False`` group were accepted unchecked, and a group added later failed)."""
    settings = dict(total_steps=10) | kwargs
    with pytest.raises((ValueError, TypeError), match=message):
        SoftMuon(tiny_model().parameters(), **settings)
    with pytest.raises((ValueError, TypeError), match=message):
        SoftMuon([{"params": [nn.Parameter(torch.ones(2, 3))], "use_muon": True}], **settings)


def test_constructor_only_adamw_settings_in_a_group_are_errors():
    """``adamw_lr`` / ``adamw_weight_decay`` set the default of use_muon=False groups; in a
    group they would be ignored (the group's own lr applies), so they are refused."""
    model = tiny_model()
    for key in ("adamw_lr", "adamw_weight_decay"):
        groups = [{"params": list(model.parameters()), "use_muon": False, key: 1e-3}]
        with pytest.raises(ValueError, match=f"{key} is a constructor setting"):
            Muon(groups)


def test_only_lr_is_positional():
    """torch.optim.Muon's positional order (params, lr, weight_decay, momentum) is not ours:
    a second positional setting must fail, not silently become our momentum."""
    for optimizer, settings in ((Muon, {}), (SoftMuon, dict(total_steps=10))):
        with pytest.raises(TypeError, match="positional"):
            optimizer(tiny_model().parameters(), 0.02, 0.1, **settings)
        assert optimizer(tiny_model().parameters(), 0.03, **settings).defaults["lr"] == 0.03


def test_vectors_in_a_muon_group_and_sparse_gradients_are_rejected():
    with pytest.raises(ValueError, match="use_muon=False"):
        Muon([{"params": [torch.zeros(3, requires_grad=True)], "use_muon": True}])
    embedding = nn.Embedding(10, 4, sparse=True)
    optimizer = Muon(embedding.parameters())
    embedding(torch.tensor([1, 2])).sum().backward()
    with pytest.raises(RuntimeError, match="sparse gradients"):
        optimizer.step()


@pytest.mark.parametrize(
    "make",
    [
        lambda groups: Muon(groups, lr=0.02, adamw_lr=3e-3),
        lambda groups: SoftMuon(groups, lr=0.02, adamw_lr=3e-3, total_steps=100),
        lambda groups: SoftMuon(
            groups,
            lr=0.02,
            adamw_lr=3e-3,
            total_steps=100,
            sign_fraction=0.5,
            soft_map="tanh",
            variant="exact",
        ),
    ],
)
def test_training_lowers_the_loss(make):
    model = tiny_model()
    losses = train(model, make(split_params(model)), range(100))
    assert np.mean(losses[-10:]) < 0.5 * np.mean(losses[:10])


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("variant", ["exact", "paper"])
def test_cuda_run_follows_the_cpu_run(variant):
    """Both phases on both devices; they differ by the rounding of bfloat16 Newton–Schulz (the
    paper variant's everywhere, the exact variant's on CUDA), so the comparison allows
    bfloat16-sized differences."""
    runs = []
    for device in ("cpu", "cuda"):
        model = tiny_model().to(device)
        optimizer = SoftMuon(model.parameters(), total_steps=10, sign_fraction=0.5, variant=variant)
        for step in range(12):
            optimizer.zero_grad()
            x, y = (t.to(device) for t in regression_batch(step))
            nn.functional.mse_loss(model(x), y).backward()
            optimizer.step()
        runs.append([p.detach().cpu() for p in model.parameters()])
    for a, b in zip(*runs, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=5e-2)


def test_closure_and_lr_scheduler_reach_both_kinds_of_group():
    model = tiny_model()
    optimizer = SoftMuon(split_params(model), lr=0.02, adamw_lr=1e-3, total_steps=10)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 0.5**step)

    def closure():
        optimizer.zero_grad()
        loss = loss_of(model, 0)
        loss.backward()
        return loss

    loss = optimizer.step(closure)
    scheduler.step()
    assert loss.item() == pytest.approx(loss_of(tiny_model(), 0).item())
    assert [g["lr"] for g in optimizer.param_groups] == [0.01, 0.0005]


@pytest.mark.parametrize("variant", ["paper", "exact"])
def test_match_rms_adamw_scales_a_convolution_kernel_by_its_flattened_matrix(variant):
    """``0.2 sqrt(max(rows, cols))`` gives the update AdamW's RMS only with the sides of the
    matrix that is orthogonalised, ``out x (in kh kw)``. The paper variant's scale from the
    kernel's last two dims (``kh x kw``) is the authors' ``"original"`` rule and must not leak
    into ``"match_rms_adamw"`` (it made a 3x3 kernel's steps 10x too small)."""
    g = torch.Generator().manual_seed(0)
    start = torch.randn(16, 8, 3, 3, generator=g)
    grad = torch.randn(16, 8, 3, 3, generator=g)
    kernel = start.clone().requires_grad_()
    optimizer = Muon(
        [{"params": [kernel], "use_muon": True}],
        lr=1e-3,
        variant=variant,
        adjust_lr_fn="match_rms_adamw",
        ns_dtype="float64",
    )
    kernel.grad = grad.clone()
    optimizer.step()
    matrix = grad.double().reshape(16, 72)
    expected = start - 1e-3 * 0.2 * math.sqrt(72) * hand_polar(matrix).float().view_as(start)
    torch.testing.assert_close(kernel.detach(), expected, rtol=0, atol=1e-6)


def test_runs_bit_for_bit_like_torch_optim_muon_with_torchs_bfloat16_kernels(
    fresh_choice, monkeypatch
):
    """Where bfloat16 matrix products are torch's own kernels (a CPU with AVX512-BF16 / AMX,
    forced here; CUDA), ``Muon(variant="paper")`` with ``torch.optim.Muon``'s settings is
    ``torch.optim.Muon``: ten steps give the same bits (torch's ``max(||X||, eps)`` and our
    ``||X|| + eps`` round alike in bfloat16). Without native bfloat16 our iteration is emulated
    and agrees to bfloat16 rounding (test_first_step_follows_torch_optim_muon)."""
    monkeypatch.setattr(precision, "cpu_has_native_bfloat16", lambda: True)
    shapes = [(32, 16), (16, 48), (24, 24)]
    start, grads = streams(shapes, 10, seed=5)
    ours = [p.clone().requires_grad_() for p in start]
    theirs = [p.clone().requires_grad_() for p in start]
    settings = dict(lr=0.02, weight_decay=0.1, momentum=0.95, nesterov=True)
    optimizers = [Muon(ours, **settings), torch.optim.Muon(theirs, **settings)]
    for step_grads in grads:
        for params, optimizer in zip((ours, theirs), optimizers, strict=True):
            for p, g in zip(params, step_grads, strict=True):
                p.grad = g.clone()
            optimizer.step()
    for a, b, p in zip(ours, theirs, start, strict=True):
        assert torch.equal(a, b)
        assert not torch.equal(a, p)
