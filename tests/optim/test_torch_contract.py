"""Our port of torch.optim's generic optimizer checks, run on Signum, SoftSignum, Muon, SoftMuon.

Each test names the check of pytorch's ``test/test_optim.py`` (``TestOptimRenewed``) or the
error inputs of ``torch/testing/_internal/common_optimizers.py`` it follows; the code is ours,
the assertions are torch's. Not ported: complex parameters (unsupported here: a clear error,
tested below), sparse gradients (an error, tested in test_sign.py / test_muon.py), CUDA-only
and multi-GPU checks, ``differentiable`` and ``capturable`` (not offered).
"""

from __future__ import annotations

import copy
import functools
import math
import pickle
import tempfile

import pytest
import torch
from torch import nn
from torch.nn import Parameter
from torch.optim.lr_scheduler import ReduceLROnPlateau, StepLR
from torch.optim.optimizer import (
    register_optimizer_step_post_hook,
    register_optimizer_step_pre_hook,
)

from tests.optim.torch_contract_cases import OPTIMIZERS, REQUIRED, SOFT, with_implementations

NAMES = list(OPTIMIZERS)


def build(name, params, **settings):
    cls = OPTIMIZERS[name][0]
    return cls(params, **{**REQUIRED[name], **settings})


def settings_of(name):
    return OPTIMIZERS[name][1]()


def weight_and_bias(contiguous=True, dtype=torch.float32):
    if contiguous:
        return Parameter(torch.randn(10, 5, dtype=dtype)), Parameter(torch.randn(10, dtype=dtype))
    weight = Parameter(torch.randn(10, 5, 2, dtype=dtype)[..., 0])
    bias = Parameter(torch.randn(10, 2, dtype=dtype)[..., 0])
    return weight, bias


def quadratic(optimizer, weight, bias, inputs):
    """The loss of torch's checks, ``sum((W x + b)^2)``, with its gradient."""
    optimizer.zero_grad()
    loss = (weight.mv(inputs) + bias).pow(2).sum()
    loss.backward()
    return loss


# --- error inputs (common_optimizers.get_error_inputs_for_all_optims and per-optimizer) ------


@pytest.mark.parametrize("name", NAMES)
def test_errors_of_every_optimizer(name):
    """test_errors: the error inputs torch checks for all optimizers."""
    param, param2 = Parameter(torch.randn(1, 1)), Parameter(torch.randn(1, 1))
    with pytest.raises(
        TypeError, match="params argument given to the optimizer should be an iterable"
    ):
        build(name, param)
    with pytest.warns(UserWarning, match="a parameter group with duplicate parameters"):
        build(name, [param, param])
    with pytest.raises(ValueError, match="some parameters appear in more than one parameter group"):
        build(name, [{"params": param}, {"params": param}])
    with pytest.raises(ValueError, match="Tensor lr must be 1-element"):
        build(name, None, lr=torch.tensor([0.001, 0.001]))
    with pytest.raises(ValueError, match="all optimizer params should be with/without names"):
        build(name, [("weight", param), param2])
    with pytest.raises(ValueError, match="all optimizer param groups should be with/without names"):
        build(name, [{"params": [param], "lr": 1e-2}, {"params": [("weight", param2)]}])


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize(
    ("settings", "error", "match"),
    [
        ({"lr": -1.0}, ValueError, "lr"),
        ({"weight_decay": -0.1}, ValueError, "weight_decay"),
        ({"momentum": -0.5}, ValueError, "momentum"),
        ({"maximize": "yes"}, TypeError, "maximize"),
        ({"foreach": 1}, TypeError, "foreach"),
    ],
)
def test_invalid_settings_are_errors_naming_them(name, settings, error, match):
    """test_errors: SGD's 'momentum should be between 0 and 1' and its kin, in our words."""
    with pytest.raises(error, match=match):
        build(name, [Parameter(torch.randn(2, 3))], **settings)


@pytest.mark.parametrize("name", ["Muon", "SoftMuon"])
def test_muon_specific_errors(name):
    """test_errors: torch.optim.Muon's error inputs that apply to ours."""
    param = Parameter(torch.rand(2, 3))
    with pytest.raises(
        ValueError, match="Adjust learning rate function arbitrary is not supported"
    ):
        build(name, [param], adjust_lr_fn="arbitrary")
    with pytest.raises(ValueError, match="ns_coefficients"):
        build(name, [param], ns_coefficients=(1.0, 2.0))
    with pytest.raises(ValueError, match="ns_dtype"):
        build(name, [param], ns_dtype="float8")
    with pytest.raises(ValueError, match="use_muon"):
        build(name, [{"params": [Parameter(torch.rand(3))], "use_muon": True}])


@pytest.mark.parametrize("name", NAMES)
def test_complex_parameters_are_rejected_clearly(name):
    """test_complex is not ported: complex parameters are unsupported, and say so."""
    with pytest.raises(TypeError, match="does not support complex parameters"):
        build(name, [torch.randn(2, 3, dtype=torch.complex64, requires_grad=True)])


# --- the update goes the right way -------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("contiguous", [True, False])
@pytest.mark.parametrize("with_scheduler", [False, True])
def test_forloop_goes_right_direction(name, contiguous, with_scheduler):
    """test_forloop_goes_right_direction: 20 per-tensor steps lower the loss (raise: maximize)."""
    schedulers = [[lambda o: StepLR(o, gamma=0.9, step_size=10)], [ReduceLROnPlateau]]
    for make_schedulers in schedulers if with_scheduler else [[]]:
        for settings in settings_of(name):
            weight, bias = weight_and_bias(contiguous)
            inputs = torch.randn(5)
            optimizer = build(name, [weight, bias], **{**settings, "foreach": False})
            attached = [make(optimizer) for make in make_schedulers]
            closure = functools.partial(quadratic, optimizer, weight, bias, inputs)
            initial = closure().item()
            for _ in range(20):
                loss = closure()
                optimizer.step()
                for scheduler in attached:
                    scheduler.step(loss) if isinstance(scheduler, ReduceLROnPlateau) else (
                        scheduler.step()
                    )
            if settings.get("maximize"):
                assert closure().item() > initial, settings
            else:
                assert closure().item() < initial, settings


@pytest.mark.parametrize("name", NAMES)
def test_param_group_with_lrscheduler_goes_right_direction(name):
    """test_param_group_with_lrscheduler_goes_right_direction."""
    for make_schedulers in ([lambda o: StepLR(o, gamma=0.9, step_size=10)], [ReduceLROnPlateau]):
        weight, bias = weight_and_bias()
        inputs = torch.randn(5)
        optimizer = build(name, [{"params": [weight]}, {"params": [bias], "lr": 0.01}])
        attached = [make(optimizer) for make in make_schedulers]
        closure = functools.partial(quadratic, optimizer, weight, bias, inputs)
        initial = closure().item()
        for _ in range(20):
            loss = optimizer.step(closure)
            for scheduler in attached:
                scheduler.step(loss) if isinstance(scheduler, ReduceLROnPlateau) else (
                    scheduler.step()
                )
        assert closure().item() < initial


@pytest.mark.parametrize("name", NAMES)
def test_tensor_lr(name):
    """test_tensor_lr: a 1-element tensor lr gives the same steps as the float lr."""
    for settings in with_implementations(name):
        weight, bias = weight_and_bias()
        weight_c = weight.detach().clone().requires_grad_(True)
        bias_c = bias.detach().clone().requires_grad_(True)
        inputs = torch.randn(5)
        settings.pop("lr", None)
        plain = build(name, [weight, bias], lr=1e-3, **settings)
        tensor = build(name, [weight_c, bias_c], lr=torch.tensor(1e-3), **settings)
        for _ in range(5):
            quadratic(plain, weight, bias, inputs)
            quadratic(tensor, weight_c, bias_c, inputs)
            plain.step()
            tensor.step()
            torch.testing.assert_close(weight, weight_c)
            torch.testing.assert_close(bias, bias_c)


# --- implementations agree ---------------------------------------------------------------------


def _model_params(dtype):
    torch.manual_seed(1)
    model = nn.Sequential(nn.Linear(2, 3), nn.Sigmoid(), nn.Linear(3, 1), nn.Sigmoid())
    model.to(dtype=dtype)
    empty = torch.empty((), dtype=dtype, requires_grad=True)  # a 0-dim parameter last (#100701)
    empty.grad = torch.rand_like(empty)
    return model, [*model.parameters(), empty]


def compare_implementations(name, flag, dtype, settings, tolerance=None):
    """torch's _test_derived_optimizers / _compare_between: ``flag`` False vs True, 7 steps with
    a step without gradients (2) and a frozen layer (3 and 4); parameters and state agree."""
    models, optimizers = [], []
    inputs = torch.tensor([0.1, 0.2, 0.3, 0.4, 0.5, 0.6], dtype=dtype).reshape(3, 2)
    for value in (False, True):
        model, params = _model_params(dtype)
        models.append(model)
        optimizers.append(build(name, params, **{**settings, flag: value}))
    tolerance = tolerance or {}
    for i in range(7):
        for model, optimizer in zip(models, optimizers, strict=True):
            optimizer.zero_grad()
            if i == 3:
                model[2].requires_grad_(False)
            if i == 5:
                model[2].requires_grad_(True)
            if i != 2:
                model(inputs).sum().backward()
            optimizer.step()
        (first, second) = models
        for a, b in zip(first.parameters(), second.parameters(), strict=True):
            torch.testing.assert_close(a, b, **tolerance)
            state_a, state_b = optimizers[0].state[a], optimizers[1].state[b]
            assert state_a.keys() == state_b.keys()
            for key in state_a:
                torch.testing.assert_close(state_a[key], state_b[key], **tolerance)


@pytest.mark.parametrize("name", NAMES)
def test_foreach_matches_forloop(name):
    """test_foreach_matches_forloop (float64)."""
    for settings in settings_of(name):
        compare_implementations(name, "foreach", torch.float64, settings)


@pytest.mark.parametrize("name", NAMES)
def test_fused_error_on_params_on_meta(name):
    """test_fused_error_on_params_on_meta: fused=True on parameters on the meta device is a
    RuntimeError at step (torch's message for the AdamW part of Muon/SoftMuon, ours naming the
    device for Signum/SoftSignum's compiled kernels); materialised on the CPU they step."""
    with torch.device("meta"):
        model = nn.Sequential(nn.Linear(2, 3), nn.Sigmoid(), nn.Linear(3, 1), nn.Sigmoid())
    optimizer = build(name, model.parameters(), fused=True)
    with torch.device("meta"):
        for p in model.parameters():
            p.grad = torch.rand_like(p)
    with pytest.raises(RuntimeError, match="fused=True"):
        optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    model.to_empty(device="cpu")
    for p in model.parameters():
        p.grad = torch.rand_like(p)
    optimizer.step()


# --- parameter groups --------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_param_groups_weight_decay(name):
    """test_param_groups_weight_decay: a group without weight decay beside one with it."""
    for settings in with_implementations(name):
        weight, bias = weight_and_bias()
        inputs = torch.randn(5)
        optimizer = build(
            name,
            [{"params": [weight], **settings}, {"params": [bias], **settings, "weight_decay": 0}],
        )
        initial = (weight.mv(inputs) + bias).pow(2).sum().item()
        for _ in range(20):
            loss = quadratic(optimizer, weight, bias, inputs)
            optimizer.step()
        if settings.get("maximize"):
            assert loss.item() > initial
        else:
            assert loss.item() < initial


@pytest.mark.parametrize("name", NAMES)
def test_param_groups_lr(name):
    """test_param_groups_lr: a group's lr is its own; a group at lr 1e-28 does not move."""
    for settings in with_implementations(name):
        if settings.get("lr", 0) == 0:
            settings["lr"] = 1e-3
        weight, bias = weight_and_bias()
        irrelevant = Parameter(torch.randn(2))
        irrelevant_before = irrelevant.detach().clone()
        inputs = torch.randn(5)
        optimizer = build(
            name, [{"params": [weight, bias], **settings}, {"params": [irrelevant]}], lr=1e-28
        )
        initial = (weight.mv(inputs) + bias).pow(2).sum().item()
        for _ in range(20):
            loss = quadratic(optimizer, weight, bias, inputs)
            irrelevant.grad = torch.rand_like(irrelevant)
            optimizer.step()
        if settings.get("maximize"):
            assert loss.item() > initial
        else:
            assert loss.item() < initial
        torch.testing.assert_close(irrelevant.detach(), irrelevant_before)


@pytest.mark.parametrize("name", NAMES)
def test_step_is_noop_when_params_have_no_grad(name):
    """test_step_is_noop_when_params_have_no_grad."""
    params = [torch.randn(2, 3, requires_grad=False) for _ in range(2)]
    before = [p.clone() for p in params]
    for settings in with_implementations(name):
        build(name, params, **settings).step(lambda: torch.tensor([1.0]))
        for p, q in zip(params, before, strict=True):
            assert torch.equal(p, q)


@pytest.mark.parametrize("name", NAMES)
def test_step_is_noop_for_zero_grads(name):
    """test_step_is_noop_for_zero_grads (settings without weight decay)."""
    param = torch.randn(5, 1, requires_grad=True)
    before = param.detach().clone()
    for settings in with_implementations(name):
        if settings.get("weight_decay", 0) != 0:
            continue
        optimizer = build(name, [param], **settings)
        param.grad = torch.zeros_like(param)
        optimizer.step(lambda: torch.tensor([1.0]))
        torch.testing.assert_close(param.detach(), before)


@pytest.mark.parametrize("name", NAMES)
def test_optimizer_can_be_printed(name):
    """test_optimizer_can_be_printed."""
    params = [Parameter(torch.randn(2, 3)) for _ in range(2)]
    for settings in with_implementations(name):
        assert type(build(name, params, **settings)).__name__ in repr(
            build(name, params, **settings)
        )


# --- state_dict --------------------------------------------------------------------------------


def named(params, is_named):
    return [(f"name{i}", p) for i, p in enumerate(params)] if is_named else params


@pytest.mark.parametrize("name", ["Muon", "SoftMuon"])
def test_a_state_saved_before_variants_existed_loads_as_the_exact_variant(name):
    """Before ``variant`` existed the only algorithm was today's ``"exact"``: a state without it,
    loaded into an optimizer built with the default (``"paper"``), continues bit for bit like
    an unbroken exact run."""
    model = conv_model()
    inputs = torch.rand(1, 4, 16, 16)
    exact = build(name, model.parameters(), **settings_of(name)[0], variant="exact")
    for _ in range(3):
        step_on(model, exact, inputs)
    old = copy.deepcopy(exact.state_dict())
    for group in old["param_groups"]:
        del group["variant"]
    resumed_model = copy.deepcopy(model)
    resumed = build(name, resumed_model.parameters(), **settings_of(name)[0])
    assert resumed.param_groups[0]["variant"] == "paper"
    resumed.load_state_dict(old)
    assert [g["variant"] for g in resumed.param_groups] == ["exact"] * len(resumed.param_groups)
    for _ in range(5):
        step_on(model, exact, inputs)
        step_on(resumed_model, resumed, inputs)
    for a, b in zip(model.parameters(), resumed_model.parameters(), strict=True):
        assert torch.equal(a, b)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("named_first", [False, True])
@pytest.mark.parametrize("named_second", [False, True])
def test_state_dict_deterministic(name, named_first, named_second):
    """test_state_dict_deterministic: a loaded state continues the same run, and equal
    parameters give equal state dicts (param names aside)."""

    def without_names(state):
        state = copy.deepcopy(state)
        for group in state["param_groups"]:
            group.pop("param_names", None)
        return state

    every = not (named_first or named_second)  # names change nothing numeric: one setting
    for settings in with_implementations(name) if every else settings_of(name)[:1]:
        weight = Parameter(torch.randn(2, 3))
        bias = Parameter(torch.randn(2))
        inputs = torch.randn(3)
        optimizer = build(name, named([weight, bias], named_first), **settings)
        for _ in range(10):
            quadratic(optimizer, weight, bias, inputs)
            optimizer.step()
        with torch.no_grad():
            weight_c, bias_c = Parameter(weight.clone()), Parameter(bias.clone())
        optimizer_c = build(name, named([weight_c, bias_c], named_second), **settings)
        optimizer_c.load_state_dict(copy.deepcopy(optimizer.state_dict()))
        for _ in range(10):
            quadratic(optimizer, weight, bias, inputs)
            quadratic(optimizer_c, weight_c, bias_c, inputs)
            optimizer.step()
            optimizer_c.step()
            torch.testing.assert_close(weight, weight_c)
            torch.testing.assert_close(bias, bias_c)
        assert_states_equal(
            without_names(optimizer.state_dict()), without_names(optimizer_c.state_dict())
        )
        optimizer_c.param_groups.extend(optimizer_c.param_groups)
        assert_states_equal(
            without_names(optimizer.state_dict())["param_groups"][-1],
            without_names(optimizer_c.state_dict())["param_groups"][-1],
        )


def assert_states_equal(a, b):
    """Equal nested state: tensors by value, floats equal (inf and NaN included)."""
    if isinstance(a, torch.Tensor):
        torch.testing.assert_close(a, b, rtol=0, atol=0, equal_nan=True)
    elif isinstance(a, dict):
        assert a.keys() == b.keys()
        for key in a:
            assert_states_equal(a[key], b[key])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            assert_states_equal(x, y)
    elif isinstance(a, float) and math.isnan(a):
        assert math.isnan(b)
    else:
        assert a == b


def conv_model():
    torch.manual_seed(1)
    return nn.Sequential(nn.Conv2d(4, 2, 1, stride=2), nn.BatchNorm2d(2, eps=1e-05, momentum=0.1))


@pytest.mark.parametrize("name", NAMES)
def test_can_load_older_state_dict(name):
    """test_can_load_older_state_dict: a state saved before the newer flags existed loads and
    steps (torch's not_og_supported_flags: maximize, foreach, fused, ...)."""
    for settings in with_implementations(name):
        model = conv_model()
        inputs = torch.rand(1, 4, 16, 16)
        optimizer = build(name, model.parameters(), **settings)
        for _ in range(3):
            optimizer.zero_grad()
            model(inputs).sum().backward()
            optimizer.step()
        optimizer.load_state_dict(without_late_settings(name, optimizer.state_dict()))
        optimizer.zero_grad()
        model(inputs).sum().backward()
        optimizer.step()


def without_late_settings(name, state):
    """A copy of ``state`` as saved before the optimizer's late group settings existed."""
    old = copy.deepcopy(state)
    for group in old["param_groups"]:
        for key in OPTIMIZERS[name][0]._late_keys:
            group.pop(key, None)
    return old


def step_on(model, optimizer, inputs):
    optimizer.zero_grad()
    model(inputs).sum().backward()
    optimizer.step()


LATE_SETTINGS = {
    "Signum": [{"sign_norm": True, "maximize": True}],
    "SoftSignum": [{**SOFT, "normalized": True, "nesterov": True}, {**SOFT, "sign_norm": True}],
    "Muon": [
        {"variant": "exact", "adamw_eps": None},
        {"ns_dtype": torch.float64, "adjust_lr_fn": None, "ns_coefficients": "polar_express"},
    ],
    "SoftMuon": [
        {**SOFT, "variant": "exact"},
        {**SOFT, "ns_dtype": torch.float64, "soft_polar_dtype": torch.float64, "maximize": True},
    ],
}
"""Non-default values of late settings, some spelled as ``None`` or a ``torch.dtype``."""


@pytest.mark.parametrize("name", NAMES)
def test_an_older_state_takes_the_constructors_late_settings_and_continues_the_run(name):
    """A state without any of the late settings (``_late_keys``), loaded into an optimizer
    built with non-default values of them, continues bit for bit like the unbroken run: the
    values come from the constructor, in the spelling the step reads."""
    for settings in LATE_SETTINGS[name]:
        model = conv_model()
        inputs = torch.rand(1, 4, 16, 16)
        optimizer = build(name, model.parameters(), **settings)

        for _ in range(3):
            step_on(model, optimizer, inputs)
        resumed_model = copy.deepcopy(model)
        resumed = build(name, resumed_model.parameters(), **settings)
        resumed.load_state_dict(without_late_settings(name, optimizer.state_dict()))
        for _ in range(5):  # across the transition of the soft methods
            step_on(model, optimizer, inputs)
            step_on(resumed_model, resumed, inputs)
        for a, b in zip(model.parameters(), resumed_model.parameters(), strict=True):
            assert torch.equal(a, b)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("named_first", [False, True])
@pytest.mark.parametrize("named_second", [False, True])
def test_can_load_from_to_named_state_dict(name, named_first, named_second):
    """test_can_load_from_to_named_state_dict: named_parameters() are accepted; names survive."""
    for settings in settings_of(name)[:2]:
        model = conv_model()
        inputs = torch.rand(1, 4, 16, 16)
        first = model.named_parameters() if named_first else model.parameters()
        optimizer = build(name, first, **settings)
        for _ in range(3):
            optimizer.zero_grad()
            model(inputs).sum().backward()
            optimizer.step()
        second = model.named_parameters() if named_second else model.parameters()
        optimizer2 = build(name, second, **settings)
        optimizer2.load_state_dict(copy.deepcopy(optimizer.state_dict()))
        optimizer2.zero_grad()
        model(inputs).sum().backward()
        optimizer2.step()
        if named_first or named_second:
            assert optimizer2.state_dict()["param_groups"][0]["param_names"] == [
                "0.weight",
                "0.bias",
                "1.weight",
                "1.bias",
            ]


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("is_named", [False, True])
def test_save_load_equality_with_weights_only(name, is_named):
    """test_save_load_equality_with_weights_only: torch.load(weights_only=True) reads it back."""
    for settings in with_implementations(name):
        weight, bias = Parameter(torch.randn(2, 3)), Parameter(torch.randn(2))
        inputs = torch.randn(3)
        optimizer = build(name, named([weight, bias], is_named), **settings)
        closure = functools.partial(quadratic, optimizer, weight, bias, inputs)
        for _ in range(12):  # into the transition of the soft methods
            optimizer.step(closure)
        state = optimizer.state_dict()
        with tempfile.TemporaryFile() as f:
            torch.save(state, f)
            f.seek(0)
            assert_states_equal(torch.load(f), state)
            f.seek(0)
            assert_states_equal(torch.load(f, weights_only=True), state)


@pytest.mark.parametrize("name", NAMES)
def test_load_nontensor_step(name):
    """test_load_nontensor_step: a state whose ``step`` entries are plain numbers loads."""
    params = [Parameter(torch.randn(2, 3)) for _ in range(2)] + [Parameter(torch.randn(3))]
    for p in params:
        p.grad = torch.rand_like(p)
    for settings in with_implementations(name):
        optimizer = build(name, params, **settings)
        for _ in range(3):
            optimizer.step()
        state = copy.deepcopy(optimizer.state_dict())
        for p_state in state["state"].values():
            if torch.is_tensor(p_state.get("step")):
                p_state["step"] = p_state["step"].item()
        optimizer.load_state_dict(state)
        optimizer.step()


# --- hooks -------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_state_dict_and_load_state_dict_hooks(name):
    """test_state_dict_pre_hook / post_hook / pre_post_hook and the load_state_dict hooks."""

    def pre(optimizer):
        optimizer.state["test"] = 1

    def post(optimizer, state_dict):
        state_dict["ran_pre"] = state_dict["state"].pop("test", None) == 1
        return state_dict

    def load_pre(optimizer, state_dict):
        state_dict["param_groups"][0]["lr"] = 0.002

    def load_pre_copy(optimizer, state_dict):
        changed = copy.deepcopy(state_dict)
        changed["param_groups"][0]["lr"] = 0.003
        return changed

    def load_post(optimizer):
        optimizer.state["ran_load_post"] = True

    for settings in with_implementations(name):
        optimizer = build(name, [torch.rand(2, 3, requires_grad=True)], **settings)
        optimizer.register_state_dict_pre_hook(pre)
        assert optimizer.state_dict()["state"]["test"] == 1
        optimizer.register_state_dict_post_hook(post)
        state = optimizer.state_dict()
        assert "test" not in state["state"] and state["ran_pre"]

        optimizer = build(name, [torch.rand(2, 3, requires_grad=True)], **settings)
        state = optimizer.state_dict()
        optimizer.register_load_state_dict_pre_hook(load_pre)
        optimizer.load_state_dict(state)
        assert optimizer.param_groups[0]["lr"] == 0.002
        optimizer.register_load_state_dict_pre_hook(load_pre_copy, prepend=True)
        optimizer.load_state_dict(state)
        assert optimizer.param_groups[0]["lr"] == 0.002
        optimizer.register_load_state_dict_post_hook(load_post)
        optimizer.load_state_dict(optimizer.state_dict())
        assert optimizer.state["ran_load_post"]


@pytest.mark.parametrize("name", NAMES)
def test_step_hooks_run_in_order_and_can_be_removed(name):
    """test_step_pre_hook, test_step_post_hook and test_step_all_hooks."""
    params = [torch.tensor([[1.0, 1.0]])]
    for settings in with_implementations(name):
        optimizer = build(name, params, **settings)
        other = torch.optim.SGD(params)
        seen = []
        handles = [
            register_optimizer_step_pre_hook(lambda *_, s=seen: s.append(0)),
            register_optimizer_step_post_hook(lambda *_, s=seen: s.append(5)),
            optimizer.register_step_pre_hook(lambda *_, s=seen: s.append(1)),
            optimizer.register_step_post_hook(lambda *_, s=seen: s.append(2)),
            other.register_step_pre_hook(lambda *_, s=seen: s.append(1)),
            other.register_step_post_hook(lambda *_, s=seen: s.append(2)),
        ]
        optimizer.step()
        assert seen == [0, 1, 2, 5]
        other.step()
        optimizer.step()
        assert seen == [0, 1, 2, 5] * 3
        for handle in handles:
            handle.remove()
        optimizer.step()
        other.step()
        assert seen == [0, 1, 2, 5] * 3


# --- copies ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_deepcopy_copies_all_public_attrs(name):
    """test_deepcopy_copies_all_public_attrs."""
    params = [Parameter(torch.randn(2, 3)) for _ in range(2)]
    for p in params:
        p.grad = torch.rand_like(p)
    for settings in with_implementations(name):
        optimizer = build(name, params, **settings)
        for _ in range(3):
            optimizer.step()

        def public(obj):
            return {k for k in obj.__dict__ if not k.startswith("_")}

        assert public(optimizer) == public(copy.deepcopy(optimizer))


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("how", ["deepcopy", "pickle"])
def test_copies_keep_every_setting_and_continue_the_run(name, how):
    """Beyond torch: a deep copy or a pickled copy steps exactly as the original (issue 16:
    copies lost ns_dtype / soft_polar_dtype and crashed on step)."""
    settings = {"Muon": {"ns_dtype": "float64"}, "SoftMuon": {"soft_polar_dtype": "float64"}}
    settings = {**settings.get(name, {}), "ns_dtype": "float64"} if "Muon" in name else {}
    model = nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 2))
    inputs = torch.randn(8, 4)
    optimizer = build(name, model.parameters(), **settings)
    for _ in range(3):
        optimizer.zero_grad()
        model(inputs).pow(2).sum().backward()
        optimizer.step()
    if how == "deepcopy":
        model_c, optimizer_c = copy.deepcopy((model, optimizer))
    else:
        model_c, optimizer_c = pickle.loads(pickle.dumps((model, optimizer)))
    if "Muon" in name:
        assert optimizer_c.ns_dtypes == optimizer.ns_dtypes == [torch.float64]
        assert optimizer_c.param_groups[0].get("soft_polar_dtype", "float64") == "float64"
    for _ in range(9):  # through the soft transition
        for m, o in ((model, optimizer), (model_c, optimizer_c)):
            o.zero_grad()
            m(inputs).pow(2).sum().backward()
            o.step()
    for a, b in zip(model.parameters(), model_c.parameters(), strict=True):
        assert torch.equal(a, b)


@pytest.mark.parametrize("name", NAMES)
def test_non_empty_state(name):
    """test_non_empty_state: every parameter that took a step has state."""
    model = nn.Linear(5, 5)
    for settings in settings_of(name):
        optimizer = build(name, model.parameters(), **settings)
        optimizer.zero_grad()
        model(torch.rand(2, 5)).sum().backward()
        optimizer.step()
        for state in optimizer.state.values():
            assert len(state) > 0


# --- the gaps issue 16 found, beyond torch's generic checks ------------------------------------


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize(
    "make_scheduler",
    [
        lambda o: torch.optim.lr_scheduler.OneCycleLR(o, max_lr=0.01, total_steps=12),
        lambda o: torch.optim.lr_scheduler.CyclicLR(o, base_lr=1e-4, max_lr=1e-2, step_size_up=3),
    ],
    ids=["OneCycleLR", "CyclicLR"],
)
def test_schedulers_that_cycle_momentum_work(name, make_scheduler):
    """OneCycleLR and CyclicLR read ``defaults`` (momentum) and cycle every group's momentum."""
    weight, bias = weight_and_bias()
    inputs = torch.randn(5)
    optimizer = build(name, [weight, bias])
    scheduler = make_scheduler(optimizer)
    initial = (weight.mv(inputs) + bias).pow(2).sum().item()
    for _ in range(12):
        loss = quadratic(optimizer, weight, bias, inputs)
        optimizer.step()
        scheduler.step()
    assert loss.item() < initial
    assert 0.8 <= optimizer.param_groups[0]["momentum"] <= 0.95


@pytest.mark.parametrize("name", ["Muon", "SoftMuon"])
def test_one_user_group_stays_one_group_and_its_lr_reaches_every_parameter(name):
    """LambdaLR(opt, [f]) needs one lambda per user group; the group's lr and weight_decay
    drive the AdamW steps of its vectors (checked against torch.optim.AdamW)."""
    weight, bias = weight_and_bias()
    reference_bias = bias.detach().clone().requires_grad_(True)
    inputs = torch.randn(5)
    optimizer = build(name, [{"params": [weight, bias], "lr": 0.01, "weight_decay": 0.1}])
    assert len(optimizer.param_groups) == 1
    reference = torch.optim.AdamW([reference_bias], lr=0.01, betas=(0.9, 0.95), weight_decay=0.1)
    schedulers = [
        torch.optim.lr_scheduler.LambdaLR(o, [lambda step: 0.5**step]) for o in (optimizer,)
    ] + [torch.optim.lr_scheduler.LambdaLR(reference, lambda step: 0.5**step)]
    for _ in range(4):
        quadratic(optimizer, weight, bias, inputs)
        reference_bias.grad = bias.grad.clone()
        optimizer.step()
        reference.step()
        for scheduler in schedulers:
            scheduler.step()
        torch.testing.assert_close(bias.detach(), reference_bias.detach())
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.01 * 0.5**4)


@pytest.mark.parametrize("name", ["Muon", "SoftMuon"])
def test_adamw_settings_that_could_not_apply_are_an_error(name):
    """adamw_lr would be ignored for the vectors of a group without use_muon: say so, also for
    a group added later (add_param_group accepted it silently); the group is not kept."""
    weight, bias = weight_and_bias()
    with pytest.raises(ValueError, match="split_params"):
        build(name, [weight, bias], adamw_lr=1e-3)
    build(name, [{"params": [weight], "use_muon": True}, {"params": [bias], "use_muon": False}])
    optimizer = build(name, [weight], adamw_weight_decay=0.1)
    with pytest.raises(ValueError, match="split_params"):
        optimizer.add_param_group({"params": [bias]})
    assert len(optimizer.param_groups) == 1
    optimizer.add_param_group({"params": [bias], "use_muon": False})
    assert optimizer.param_groups[1]["weight_decay"] == 0.1


@pytest.mark.parametrize("name", ["Muon", "SoftMuon"])
def test_add_param_group_without_use_muon_routes_by_shape(name):
    weight, bias = weight_and_bias()
    extra_matrix, extra_vector = Parameter(torch.randn(4, 3)), Parameter(torch.randn(4))
    optimizer = build(name, [weight, bias])
    optimizer.add_param_group({"params": [extra_matrix, extra_vector], "lr": 0.005})
    for p in (weight, bias, extra_matrix, extra_vector):
        p.grad = torch.randn_like(p)
    optimizer.step()
    assert set(optimizer.state[extra_matrix]) == {"momentum_buffer"}
    assert set(optimizer.state[extra_vector]) == {"exp_avg", "exp_avg_sq", "step"}
    assert len(optimizer.param_groups) == 2


@pytest.mark.parametrize("name", NAMES)
def test_zero_size_parameters_step(name):
    params = [
        Parameter(torch.randn(0, 5)),
        Parameter(torch.randn(5, 0)),
        Parameter(torch.randn(4, 3)),
    ]
    params.append(Parameter(torch.randn(0)))
    before = params[2].detach().clone()
    optimizer = build(name, params)
    for _ in range(12):  # through the transition of the soft methods
        for p in params:
            p.grad = torch.randn_like(p)
        optimizer.step()
    assert not torch.equal(params[2], before)
    assert all(p.numel() == 0 for p in params[:2] + params[3:])


@pytest.mark.parametrize("name", NAMES)
def test_only_zero_size_parameters_step_through_the_transition(name):
    """A group of empty tensors alone: SoftSignum used to fit its schedule to no statistics
    (ValueError at the transition); nothing to update is not an error."""
    params = [Parameter(torch.randn(0, 5)), Parameter(torch.randn(0))]
    optimizer = build(name, params)
    for _ in range(12):
        for p in params:
            p.grad = torch.randn_like(p)
        optimizer.step()
    assert all(p.numel() == 0 for p in params)


@pytest.mark.parametrize("name", NAMES)
def test_maximize_equals_minimizing_the_negated_objective(name):
    """maximize=True on f takes exactly the steps that minimise -f."""
    runs = []
    for maximize in (False, True):
        torch.manual_seed(0)
        weight, bias = weight_and_bias()
        inputs = torch.randn(5)
        optimizer = build(name, [weight, bias], maximize=maximize)
        for _ in range(12):
            optimizer.zero_grad()
            loss = (weight.mv(inputs) + bias).pow(2).sum()
            (loss if maximize else -loss).backward()
            optimizer.step()
        runs.append((weight.detach(), bias.detach()))
    for a, b in zip(*runs, strict=True):
        assert torch.equal(a, b)


@pytest.mark.parametrize("name", ["Muon", "SoftMuon"])
def test_ns_dtype_by_name_or_dtype_is_the_same_setting(name):
    runs = []
    for ns_dtype in ("float32", torch.float32, "torch.float32"):
        torch.manual_seed(0)
        weight, bias = weight_and_bias()
        inputs = torch.randn(5)
        optimizer = build(name, [weight, bias], ns_dtype=ns_dtype)
        assert optimizer.ns_dtypes == [torch.float32]
        assert optimizer.param_groups[0]["ns_dtype"] == "float32"
        for _ in range(12):
            quadratic(optimizer, weight, bias, inputs)
            optimizer.step()
        runs.append(weight.detach())
    assert torch.equal(runs[0], runs[1]) and torch.equal(runs[0], runs[2])


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_a_non_finite_gradient_shows_in_the_parameters(name, bad):
    """Non-finite gradients propagate into the parameters, as in torch.optim (Signum's
    sign(NaN) = 0 used to freeze the coordinate silently): a NaN or inf in a vector's gradient
    makes that entry NaN, in a matrix's gradient the matrix NaN (the polar factor mixes all
    entries). In the soft transition the schedule fit or the soft polar raises instead."""
    weight, bias = weight_and_bias()
    optimizer = build(name, [weight, bias], **({"total_steps": 100} if "Soft" in name else {}))
    for p in (weight, bias):
        p.grad = torch.randn_like(p)
    optimizer.step()
    weight.grad, bias.grad = torch.randn_like(weight), torch.randn_like(bias)
    weight.grad[1, 2] = bad
    bias.grad[3] = bad
    optimizer.step()
    assert torch.isnan(bias[3]) and torch.isfinite(bias[torch.arange(10) != 3]).all()
    if "Muon" in name:
        assert torch.isnan(weight).all()
    else:
        assert torch.isnan(weight[1, 2]) and torch.isfinite(weight).sum() == 49


@pytest.mark.parametrize("name", ["SoftSignum", "SoftMuon"])
def test_non_finite_gradients_at_the_transition_are_an_error(name):
    weight, bias = weight_and_bias()
    optimizer = build(name, [weight, bias], total_steps=2, sign_fraction=0.5)
    for p in (weight, bias):
        p.grad = torch.randn_like(p)
    optimizer.step()
    weight.grad[0, 0] = math.nan
    with pytest.raises(ValueError, match="non-finite"):
        optimizer.step()
