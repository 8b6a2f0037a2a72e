"""Smoke test of theoropt installed from its wheel: run from outside the source tree.

Imports every subpackage, checks that the type-hint marker (PEP 561 ``py.typed``) is shipped,
loads the shipped data, takes one step of each kind of method and builds the fused step's C++
kernel from the installed source.
"""

from pathlib import Path

import numpy as np
import torch

import theoropt
from theoropt.convex import minimize
from theoropt.data import char_corpus, load_libsvm
from theoropt.optim import SoftMuon, SoftSignum, native_kernel
from theoropt.ot import sinkhorn

assert "site-packages" in Path(theoropt.__file__).parts, theoropt.__file__
assert (Path(theoropt.__file__).parent / "py.typed").is_file(), "py.typed not shipped"

features, labels = load_libsvm("mushrooms")
assert features.shape == (8124, 112) and set(np.unique(labels)) == {-1.0, 1.0}
assert len(char_corpus().vocab) > 30

weight = torch.nn.Parameter(torch.ones(4, 3))
for optimizer in (SoftSignum([weight], lr=0.1, total_steps=10), SoftMuon([weight], total_steps=10)):
    optimizer.zero_grad()
    (weight**2).sum().backward()
    optimizer.step()
assert torch.isfinite(weight).all()

# the fused step's C++ kernel: its source is shipped and builds from the installed package
assert native_kernel.SOURCE.is_file(), native_kernel.SOURCE
fused = SoftSignum([weight], lr=0.1, total_steps=10, fused=True)
weight.grad = torch.ones_like(weight)
before = weight.detach().clone()
assert native_kernel.load(), "the C++ kernel did not build from the installed package"
fused.step()
assert torch.equal(weight.detach(), before - 0.1), "a sign step of lr 0.1 from gradient 1"

result = minimize(lambda x: (float(x @ x), 2 * x), np.ones(5), jac=True, method="acc-graal")
assert result.success and np.abs(result.x).max() < 1e-3, result

plan = sinkhorn(np.full(3, 1 / 3), np.full(3, 1 / 3), np.ones((3, 3)) - np.eye(3), 0.1)
assert abs(float(plan.sum()) - 1) < 1e-6

print(f"theoropt {theoropt.__version__} installed from its wheel: imports, data and methods work")
