"""Split a model's parameters into the matrices Muon updates and the rest (AdamW).

The usual split (Jordan et al., 2024): hidden weight matrices, including convolution kernels
(flattened to ``out x (in * k * k)``), get the (soft) polar update; embeddings, the output
head, gains and biases get AdamW.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from torch import nn

DEFAULT_HEAD_NAMES = ("head", "lm_head")


def split_params(
    model: nn.Module, *, head_names: Iterable[str] = DEFAULT_HEAD_NAMES
) -> list[dict[str, Any]]:
    """Two parameter groups: ``{"params": matrices, "use_muon": True}`` and the rest (AdamW).

    A parameter is a Muon matrix when it has at least 2 dimensions, its module is not an
    ``nn.Embedding`` and the module's own name (the last part of its qualified name) is not in
    ``head_names``. Shared (tied) parameters are listed once, under the first module that owns
    them. Groups without parameters are left out.
    """
    heads = set(head_names)
    matrices, rest, seen = [], [], set()
    for module_name, module in model.named_modules():
        for p in module.parameters(recurse=False):
            if id(p) in seen:
                continue
            seen.add(id(p))
            is_head = module_name.rsplit(".", 1)[-1] in heads
            if p.ndim >= 2 and not isinstance(module, nn.Embedding) and not is_head:
                matrices.append(p)
            else:
                rest.append(p)
    groups = [{"params": matrices, "use_muon": True}, {"params": rest, "use_muon": False}]
    return [group for group in groups if group["params"]]
