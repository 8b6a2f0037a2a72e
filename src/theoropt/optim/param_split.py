"""Split a model's parameters into the matrices Muon updates and the rest (AdamW).

The usual split (Jordan et al., 2024): hidden weight matrices, including convolution kernels
(flattened to ``out x (in * k * k)``), get the (soft) polar update; embeddings, the output
head, gains and biases get AdamW. Tensors of 3 or more dims outside convolutions (the
``(experts, out, in)`` weights of mixture-of-experts layers) are stacks of matrices. Name
patterns (``fnmatch`` style, on qualified parameter names) override the rule by shape.
"""

from __future__ import annotations

from collections.abc import Iterable
from fnmatch import fnmatchcase
from typing import Any

from torch import nn
from torch.nn.modules.conv import _ConvNd

DEFAULT_HEAD_NAMES = ("head", "lm_head")

MATRIX, STACKED, ADAMW = "matrix", "stacked", "adamw"


def _matches(name: str, patterns: Iterable[str]) -> bool:
    return any(fnmatchcase(name, pattern) for pattern in patterns)


def _listed(argument: str, values: Iterable[str]) -> list[str]:
    """``values`` as a list; ``TypeError`` for one string (its characters would be the names)."""
    if isinstance(values, str):
        raise TypeError(
            f"split_params: {argument} takes a list of names, got the string {values!r}; "
            f"write [{values!r}]"
        )
    return list(values)


def _check_every_pattern_matches(model: nn.Module, patterns: dict[str, list[str]]) -> None:
    """A pattern that matches no parameter name would do nothing, silently (a relative name such
    as ``"router.*"`` for ``blocks.0.router.weight``, or a tied parameter's second name, which
    patterns never see): ``ValueError`` naming it."""
    first_names: dict[int, str] = {}
    tied: dict[str, str] = {}  # a tied parameter's later names -> its first
    for name, p in model.named_parameters(remove_duplicate=False):
        first = first_names.setdefault(id(p), name)
        if name != first:
            tied[name] = first
    names = list(first_names.values())
    for argument, listed in patterns.items():
        unmatched = [p for p in listed if not any(fnmatchcase(name, p) for name in names)]
        if unmatched:
            context = (
                f"the model's first: {', '.join(repr(name) for name in names[:3])}"
                if names
                else "the model has no parameters"
            )
            aliases = [f"{n!r} is {f!r}" for n, f in tied.items() if _matches(n, unmatched)]
            if aliases:
                context += f"; tied parameters go by their first name: {', '.join(aliases)}"
            raise ValueError(
                f"split_params: {argument} pattern(s) {unmatched} match no parameter name; "
                f"patterns match the whole qualified name ({context})"
            )


def _kind_by_shape(module: nn.Module, module_name: str, ndim: int, heads: set[str]) -> str:
    is_head = module_name.rsplit(".", 1)[-1] in heads
    if ndim < 2 or isinstance(module, nn.Embedding) or is_head:
        return ADAMW
    if ndim >= 3 and not isinstance(module, _ConvNd):
        return STACKED
    return MATRIX


def split_params(
    model: nn.Module,
    *,
    head_names: Iterable[str] = DEFAULT_HEAD_NAMES,
    adamw: Iterable[str] = (),
    matrix: Iterable[str] = (),
    stacked: Iterable[str] = (),
) -> list[dict[str, Any]]:
    """Parameter groups for :class:`~theoropt.optim.Muon` / :class:`~theoropt.optim.SoftMuon`.

    Returns up to three groups: ``{"params": ..., "use_muon": True}`` (matrices),
    ``{"params": ..., "use_muon": True, "stacked": True}`` (stacks of matrices) and
    ``{"params": ..., "use_muon": False}`` (AdamW). By shape, a parameter is AdamW's when it has
    fewer than 2 dims, belongs to an ``nn.Embedding`` or to a module whose own name is in
    ``head_names``; a matrix when it has 2 dims or belongs to a convolution; a stack otherwise.
    The patterns ``adamw``, ``matrix`` and ``stacked`` (checked in this order, e.g.
    ``"blocks.*.experts.*"``) take precedence; each must match at least one parameter's whole
    qualified name (``ValueError`` otherwise). Tied parameters are listed once, under their
    first name (the name patterns see). Empty groups are left out.
    """
    heads = set(_listed("head_names", head_names))
    patterns = {ADAMW: adamw, MATRIX: matrix, STACKED: stacked}
    listed = {argument: _listed(argument, values) for argument, values in patterns.items()}
    _check_every_pattern_matches(model, listed)
    chosen: dict[str, list[nn.Parameter]] = {MATRIX: [], STACKED: [], ADAMW: []}
    seen: set[int] = set()
    for module_name, module in model.named_modules():
        for local_name, p in module.named_parameters(recurse=False):
            if id(p) in seen:
                continue
            seen.add(id(p))
            name = f"{module_name}.{local_name}" if module_name else local_name
            if _matches(name, listed[ADAMW]):
                kind = ADAMW
            elif _matches(name, listed[MATRIX]):
                kind = MATRIX
            elif _matches(name, listed[STACKED]):
                kind = STACKED
            else:
                kind = _kind_by_shape(module, module_name, p.ndim, heads)
            if kind != ADAMW and p.ndim < 2:
                raise ValueError(
                    f"parameter {name!r} of shape {tuple(p.shape)} matches a matrix pattern "
                    "but has fewer than 2 dims"
                )
            chosen[kind].append(p)
    groups = [
        {"params": chosen[MATRIX], "use_muon": True},
        {"params": chosen[STACKED], "use_muon": True, "stacked": True},
        {"params": chosen[ADAMW], "use_muon": False},
    ]
    return [group for group in groups if group["params"]]
