"""The configurations our ports of torch.optim's generic optimizer checks run through.

``torch/testing/_internal/common_optimizers.py`` describes every torch optimizer by a list of
constructor settings (``optim_inputs_func``) and of inputs that must fail (``error_inputs``);
``test/test_optim.py`` (``TestOptimRenewed``) runs generic checks over them. This module is our
description of Signum, SoftSignum, Muon and SoftMuon in that spirit: settings that exercise
every option, including the transition of the soft methods (``total_steps=10``, half of them
sign steps: the 20-step checks cross it).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from theoropt.optim import Muon, Signum, SoftMuon, SoftSignum

SOFT = dict(total_steps=10, sign_fraction=0.5)


def _signum_settings() -> list[dict[str, Any]]:
    return [
        {},
        {"lr": 1e-2},
        {"lr": torch.tensor(1e-3)},
        {"weight_decay": 0.1},
        {"momentum": 0.0},
        {"momentum": 0.9, "dampening": 0.5},
        {"nesterov": True, "weight_decay": 0.1},
        {"maximize": True, "weight_decay": 0.1},
        {"sign_norm": True, "nesterov": True},
    ]


def _softsignum_settings() -> list[dict[str, Any]]:
    return [
        SOFT,
        {**SOFT, "lr": 1e-2},
        {**SOFT, "lr": torch.tensor(1e-3)},
        {**SOFT, "weight_decay": 0.1},
        {**SOFT, "nesterov": True},
        {**SOFT, "soft_map": "algebraic"},
        {**SOFT, "maximize": True},
        {**SOFT, "normalized": True},
    ]


def _muon_settings() -> list[dict[str, Any]]:
    return [
        {},
        {"lr": torch.tensor(0.001)},
        {"weight_decay": 0.2},
        {"momentum": 0.8, "nesterov": False, "ns_steps": 6},
        {"ns_coefficients": (3.4, -4.7, 2.0)},
        {"ns_coefficients": "polar_express"},
        {"adjust_lr_fn": "match_rms_adamw", "lr": 1e-3},
        {"maximize": True, "ns_dtype": "float32"},
        {"variant": "exact"},
    ]


def _softmuon_settings() -> list[dict[str, Any]]:
    return [
        SOFT,
        {**SOFT, "lr": torch.tensor(0.001)},
        {**SOFT, "weight_decay": 0.2},
        {**SOFT, "ns_coefficients": "polar_express"},
        {**SOFT, "adjust_lr_fn": "match_rms_adamw", "lr": 1e-3},
        {**SOFT, "soft_polar_dtype": "float64"},
        {**SOFT, "maximize": True},
        {**SOFT, "variant": "exact"},
    ]


OPTIMIZERS: dict[str, tuple[type[torch.optim.Optimizer], Callable[[], list[dict[str, Any]]]]] = {
    "Signum": (Signum, _signum_settings),
    "SoftSignum": (SoftSignum, _softsignum_settings),
    "Muon": (Muon, _muon_settings),
    "SoftMuon": (SoftMuon, _softmuon_settings),
}
"""Each optimizer with a function returning fresh settings (a tensor lr is mutated by use)."""

REQUIRED = {"Signum": {}, "SoftSignum": SOFT, "Muon": {}, "SoftMuon": SOFT}
"""Settings every construction needs (the soft methods have no default ``total_steps``)."""

IMPLEMENTATIONS = {"Signum": ("foreach",), "SoftSignum": ("foreach",)}
IMPLEMENTATIONS |= {"Muon": ("foreach", "fused"), "SoftMuon": ("foreach", "fused")}
"""The implementation flags (torch's "global cliquey" kwargs) the generic checks go through.
Signum's and SoftSignum's ``fused`` compiles kernels (seconds each): test_fused.py covers it."""


def with_implementations(name: str) -> list[dict[str, Any]]:
    """Every setting with each implementation flag off (all) and on (each in turn), as torch's
    ``_get_optim_inputs_including_global_cliquey_kwargs``."""
    out = []
    for settings in OPTIMIZERS[name][1]():
        flags = IMPLEMENTATIONS[name]
        out.append({**settings, **dict.fromkeys(flags, False)})
        for flag in flags:
            out.append({**settings, **dict.fromkeys(flags, False), flag: True})
    return out
