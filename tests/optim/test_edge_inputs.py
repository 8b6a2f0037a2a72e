"""The optimizers at edge inputs a demanding torch.optim user tries: autocast regions, strided
parameters, extreme hyperparameters, tensor learning rates under ``torch.compile``.

Each test compares against an independent computation (the same run outside the edge, the
per-tensor loop, a hand-written map) or checks for an error that names the problem.
"""

from __future__ import annotations

import pytest
import torch
from torch.nn import Parameter

from tests.optim.torch_contract_cases import OPTIMIZERS, REQUIRED, SOFT


def build(name, params, **settings):
    cls = OPTIMIZERS[name][0]
    return cls(params, **{**REQUIRED[name], **settings})


def gradient_stream(shapes, steps, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [[torch.randn(s, generator=g) for s in shapes] for _ in range(steps)]


AUTOCAST_CASES = [
    ("Signum", {}),
    ("SoftSignum", {}),
    ("Muon", {"variant": "paper"}),
    ("Muon", {"variant": "exact"}),
    ("SoftMuon", {"variant": "paper"}),
    ("SoftMuon", {"variant": "exact"}),
]


@pytest.mark.parametrize("autocast_dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize(("name", "settings"), AUTOCAST_CASES)
def test_a_step_inside_autocast_is_the_step_outside(name, settings, autocast_dtype):
    """``optimizer.step()`` inside ``torch.autocast`` (a training step wrapped whole) takes the
    same steps, bit for bit, through both phases: Muon's Newton–Schulz and the soft polars ran
    their matrix products in the autocast dtype before (a relative change of about 1e-3, and
    ten times slower on a CPU without native bfloat16)."""
    shapes = [(12, 20), (20,), (20, 12)]
    grads = gradient_stream(shapes, 2 * SOFT["total_steps"])
    runs = []
    for autocast in (False, True):
        params = [Parameter(torch.ones(s)) for s in shapes]
        optimizer = build(name, params, **settings)
        for step_grads in grads:
            for p, g in zip(params, step_grads, strict=True):
                p.grad = g.clone()
            with torch.autocast("cpu", dtype=autocast_dtype, enabled=autocast):
                optimizer.step()
        runs.append(params)
    for a, b in zip(*runs, strict=True):
        assert torch.equal(a, b)
