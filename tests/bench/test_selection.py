import pytest

from theoropt.bench.experiment import RunSpec
from theoropt.bench.selection import RunFilter, parse_condition

SPEC = RunSpec(
    "convex",
    "quick",
    "acc-graal",
    {"problem": "cosh", "lr": 0.001, "options": {"eta0": 1.0}, "flag": True},
    2,
    "robust",
)


@pytest.mark.parametrize(
    ("texts", "selected"),
    [
        (["method=acc-graal"], True),
        (["method=gd,acc-graal"], True),
        (["method=gd"], False),
        (["seed=2", "stage=robust"], True),
        (["seed=2", "stage=main"], False),  # every key must match
        (["seed=2.0"], True),  # numbers compare as numbers
        (["lr=1e-3"], True),
        (["lr=0.01"], False),
        (["options.eta0=1"], True),  # a nested configuration entry
        (["options.eta0=1e4"], False),
        (["problem=cosh"], True),
        (["flag=true"], True),
        (["nosuchkey=1"], False),  # a key the run lacks never matches
        (["method=gd", "method=acc-graal"], True),  # the same key twice: either value
    ],
)
def test_conditions_select_runs(texts, selected):
    assert RunFilter.from_texts(texts).matches(SPEC) is selected


def test_empty_filter_is_false_and_records_the_values_it_saw():
    assert not RunFilter.from_texts([])
    only = RunFilter.from_texts(["method=gd", "problem=quartic"])
    other = RunSpec("convex", "quick", "adgd", {"problem": "quartic"}, 0)
    assert not only.matches(SPEC) and not only.matches(other)
    assert only.values_seen() == "method: acc-graal, adgd; problem: cosh, quartic"
    assert only.describe() == "--only method=gd --only problem=quartic"


@pytest.mark.parametrize(
    ("text", "message"),
    [("method", "expected KEY=VALUE"), ("=gd", "expected KEY=VALUE"), ("method=gd,", "empty")],
)
def test_bad_conditions_are_rejected(text, message):
    with pytest.raises(ValueError, match=message):
        parse_condition(text)
