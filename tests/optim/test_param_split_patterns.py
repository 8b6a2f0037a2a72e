"""Stacks of matrices (mixture-of-experts weights) and name-pattern overrides of the split."""

import pytest
import torch
from torch import nn

from tests.optim.test_muon import TinyNet, hand_polar
from theoropt.optim import Muon, SoftMuon, split_params


class Experts(nn.Module):
    def __init__(self, n_experts: int = 3, d: int = 4, hidden: int = 6):
        super().__init__()
        self.w_in = nn.Parameter(torch.randn(n_experts, hidden, d))
        self.w_out = nn.Parameter(torch.randn(n_experts, d, hidden))


class MoENet(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(10, 4)
        self.conv = nn.Conv1d(4, 4, 3)
        self.experts = Experts()
        self.proj = nn.Linear(4, 4)
        self.norm = nn.LayerNorm(4)


def ids(params):
    return {id(p) for p in params}


def test_expert_weights_form_a_stacked_group_and_conv_stays_a_matrix():
    net = MoENet()
    matrix, stacked, adamw = split_params(net)
    assert ids(matrix["params"]) == ids([net.conv.weight, net.proj.weight])
    assert stacked["stacked"] and stacked["use_muon"]
    assert ids(stacked["params"]) == ids([net.experts.w_in, net.experts.w_out])
    assert not adamw["use_muon"] and net.embed.weight in adamw["params"]


def test_name_patterns_override_the_shape_rule():
    net = MoENet()
    groups = split_params(net, adamw=["proj.*"], matrix=["experts.w_out"])
    by_kind = {(g["use_muon"], g.get("stacked", False)): ids(g["params"]) for g in groups}
    assert id(net.proj.weight) in by_kind[False, False]
    assert id(net.experts.w_out) in by_kind[True, False]
    assert by_kind[True, True] == {id(net.experts.w_in)}


def test_a_vector_matched_as_matrix_is_an_error():
    with pytest.raises(ValueError, match=r"'proj.bias' of shape \(4,\) matches a matrix pattern"):
        split_params(MoENet(), matrix=["proj.*"])


@pytest.mark.parametrize("argument", ["adamw", "matrix", "stacked"])
def test_a_pattern_that_matches_no_parameter_is_an_error(argument):
    """A relative name ("w_in" for "experts.w_in") matches nothing and would silently leave the
    parameter to the shape rule."""
    with pytest.raises(ValueError, match=rf"{argument} pattern\(s\) \['w_in'\] match no parameter"):
        split_params(MoENet(), **{argument: ["experts.*", "w_in"]})


def test_a_pattern_for_a_tied_parameters_second_name_says_which_name_to_use():
    """Patterns see a tied parameter under its first name only: the error names that one."""
    with pytest.raises(ValueError, match=r"first name: 'lm_head.weight' is 'embed.weight'"):
        split_params(TinyNet(), matrix=["lm_head.*"])


def test_patterns_for_a_model_without_parameters_say_so():
    with pytest.raises(ValueError, match=r"\['\*'\] match no .* \(the model has no parameters\)"):
        split_params(nn.ReLU(), adamw=["*"])


@pytest.mark.parametrize("argument", ["adamw", "matrix", "stacked", "head_names"])
def test_one_string_instead_of_a_list_is_an_error(argument):
    """A string is an iterable of one-character names: "proj.*" would hold the pattern "*"."""
    with pytest.raises(TypeError, match=rf"{argument} takes a list of names.*write \['proj.\*'\]"):
        split_params(MoENet(), **{argument: "proj.*"})


def test_patterns_given_as_a_generator_are_checked_and_applied():
    net = MoENet()
    groups = split_params(net, adamw=(name for name in ["conv.*"]))
    adamw = next(g for g in groups if not g["use_muon"])
    assert any(p is net.conv.weight for p in adamw["params"])


def test_stacked_update_orthogonalises_each_expert_separately():
    experts = Experts()
    optimizer = Muon(
        [{"params": [experts.w_in], "use_muon": True, "stacked": True}], lr=0.1, variant="exact"
    )
    experts.w_in.grad = torch.randn_like(experts.w_in)
    before = experts.w_in.detach().clone()
    optimizer.step()
    scale = (6 / 4) ** 0.5  # sqrt(max(1, rows / cols)) of each 6 x 4 expert matrix
    for k in range(3):
        expected = before[k] - 0.1 * scale * hand_polar(experts.w_in.grad[k])
        torch.testing.assert_close(experts.w_in.detach()[k], expected, rtol=0, atol=1e-5)


def test_stacked_must_be_a_bool():
    with pytest.raises(ValueError, match="stacked must be True or False"):
        SoftMuon([{"params": [Experts().w_in], "use_muon": True, "stacked": "yes"}], total_steps=10)
