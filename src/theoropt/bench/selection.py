"""``--only KEY=VALUE[,VALUE...]``: the subset of an experiment's plan that a command runs.

A key names a spec attribute (``method``, ``stage``, ``seed``, ``mode``) or a configuration entry
(``problem``, ``lr``, ...; ``options.eta0`` reaches into a nested entry). A run is selected when,
for every key, its value equals one of the listed values: numbers compare as numbers
(``lr=1e-3`` matches 0.001), anything else as text.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from theoropt.bench.experiment import RunSpec

MISSING = object()
"""The value of a key that a run does not have (it never matches)."""


def parse_condition(text: str) -> tuple[str, tuple[str, ...]]:
    """``"method=gd,adgd"`` -> ``("method", ("gd", "adgd"))``, or ValueError naming the problem."""
    key, separator, values = text.partition("=")
    key = key.strip()
    listed = tuple(value.strip() for value in values.split(","))
    if not separator or not key:
        raise ValueError(f"expected KEY=VALUE[,VALUE...], got {text!r}")
    if not all(listed):
        raise ValueError(f"empty value in {text!r}")
    return key, listed


def spec_lookup(spec: RunSpec, key: str) -> Any:
    """A spec attribute, a configuration entry, or a dotted path into nested entries."""
    if key in ("experiment", "mode", "stage", "method", "seed"):
        return getattr(spec, key)
    value: Any = spec.config
    for part in key.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return MISSING
        value = value[part]
    return value


def value_matches(value: Any, text: str) -> bool:
    """Whether a spec value equals a value typed on the command line."""
    if value is MISSING:
        return False
    if isinstance(value, bool):
        return text.lower() == str(value).lower()
    if isinstance(value, int | float):
        try:
            wanted = float(text)
        except ValueError:
            return False
        return wanted == value or (math.isnan(wanted) and math.isnan(value))
    if value is None:
        return text.lower() in ("none", "null")
    return str(value) == text


@dataclass
class RunFilter:
    """The conjunction of ``--only`` conditions; remembers the values it saw for its message."""

    conditions: dict[str, tuple[str, ...]] = field(default_factory=dict)
    seen: dict[str, set[str]] = field(default_factory=dict)

    @classmethod
    def from_texts(cls, texts: Iterable[str]) -> RunFilter:
        """Conditions from ``KEY=VALUE[,VALUE...]`` texts; a key given twice takes both lists."""
        conditions: dict[str, tuple[str, ...]] = {}
        for text in texts:
            key, values = parse_condition(text)
            conditions[key] = tuple(dict.fromkeys(conditions.get(key, ()) + values))
        return cls(conditions)

    def __bool__(self) -> bool:
        return bool(self.conditions)

    def selects(self, spec: RunSpec) -> bool:
        """Whether ``spec`` meets every condition (remembers nothing)."""
        return all(
            any(value_matches(spec_lookup(spec, key), text) for text in values)
            for key, values in self.conditions.items()
        )

    def matches(self, spec: RunSpec) -> bool:
        """:meth:`selects`, remembering ``spec``'s values for :meth:`values_seen`."""
        for key in self.conditions:
            value = spec_lookup(spec, key)
            self.seen.setdefault(key, set()).add("(absent)" if value is MISSING else str(value))
        return self.selects(spec)

    def describe(self) -> str:
        return " ".join(
            f"--only {key}={','.join(values)}" for key, values in self.conditions.items()
        )

    def values_seen(self) -> str:
        """What the unselected runs had for each key (the hint when nothing matched)."""
        return "; ".join(
            f"{key}: {', '.join(sorted(values))}" for key, values in sorted(self.seen.items())
        )
