"""The first-order oracle shared by every solver: evaluates f and its gradient, counts calls,
checks shapes and finiteness, and supplies torch autograd gradients when no ``jac`` is given.

As in ``scipy.optimize``, ``fun`` and ``jac`` receive their own copy of the point, so a callable
that modifies its argument in place cannot change the solver's iterates."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, cast

import numpy as np
import torch

from theoropt.convex.arrays import Array, all_finite, copy_of, to_float


class NumericalBreakdown(ArithmeticError):
    """The run cannot continue: its message says why (the driver reports it with the iteration)."""


class NonFiniteEvaluation(NumericalBreakdown):
    """The objective or the gradient was NaN or infinite at a queried point."""


class UnboundedObjective(NumericalBreakdown):
    """The objective evaluated to -inf: it appears to be unbounded below."""


class Oracle:
    """Evaluates ``f(x)`` and ``∇f(x)`` together, with the conventions of ``scipy.optimize``.

    ``jac`` may be a callable returning the gradient, ``True`` (then ``fun`` returns the pair
    ``(f, grad)``), or ``None`` for torch inputs (the gradient comes from autograd). ``nfev`` and
    ``njev`` count the evaluations the solver asked for. ``args`` are passed after the point,
    ``fun(x, *args)`` and ``jac(x, *args)``, as in scipy.
    """

    def __init__(
        self,
        fun: Callable[..., Any],
        jac: Callable[..., Any] | bool | None,
        x0: Array,
        args: tuple[Any, ...] = (),
    ):
        if not callable(fun):
            raise TypeError(f"fun must be callable, got {type(fun).__name__}")
        if jac is not None and jac is not True and not callable(jac):
            raise TypeError(
                f"jac must be a callable, True (fun returns (f, grad)) or None, got {jac!r}"
            )
        if jac is None and not isinstance(x0, torch.Tensor):
            raise ValueError(
                "jac is required for numpy inputs: pass a gradient function, jac=True when fun "
                "returns (f, grad), or pass x0 as a torch tensor to use autograd"
            )
        self.fun = fun
        self.jac = jac
        self.args = args
        self.shape = tuple(x0.shape)
        self.tensor = isinstance(x0, torch.Tensor)
        self.dtype = x0.dtype
        self.device = x0.device if self.tensor else None
        self.nfev = 0
        self.njev = 0

    def __call__(self, x: Array) -> tuple[float, Array]:
        """``(f(x), ∇f(x))``; raises :class:`UnboundedObjective` if f is -inf and
        :class:`NonFiniteEvaluation` if f or the gradient is otherwise not finite."""
        self.nfev += 1
        self.njev += 1
        if self.jac is None:
            value, grad = self._autograd(x)
        elif self.jac is True:
            pair = self.fun(copy_of(x), *self.args)
            if not isinstance(pair, tuple | list) or len(pair) != 2:  # scipy indexes fg[0], fg[1]
                raise TypeError("with jac=True, fun must return a pair (f, grad)")
            value, grad = objective_value(pair[0]), self._check_gradient(pair[1])
        else:
            value = objective_value(self.fun(copy_of(x), *self.args))
            grad = self._check_gradient(self.jac(copy_of(x), *self.args))
        if value == -math.inf:
            raise UnboundedObjective("f = -inf: the objective appears to be unbounded below")
        if not np.isfinite(value) or not all_finite(grad):
            raise NonFiniteEvaluation("non-finite objective value or gradient")
        return value, grad

    def _autograd(self, x: Array) -> tuple[float, Array]:
        assert isinstance(x, torch.Tensor), "jac=None is refused for numpy x0 at construction"
        leaf = x.detach().clone().requires_grad_(True)
        with torch.enable_grad():
            value = self.fun(leaf, *self.args)
            if not isinstance(value, torch.Tensor) or value.numel() != 1:
                raise TypeError("without jac, fun must return a one-element torch tensor")
            if not value.requires_grad:
                raise ValueError(
                    "fun's output does not depend on x through autograd; pass jac explicitly"
                )
            (grad,) = torch.autograd.grad(value.reshape(()), leaf)
        return float(value.detach()), grad.detach()

    def _check_gradient(self, grad: Any) -> Array:
        if grad is None:
            raise TypeError("jac returned None; it must return the gradient, an array like x0")
        if self.tensor:
            if not isinstance(grad, torch.Tensor):
                raise TypeError(
                    f"x0 is a torch tensor but jac returned {type(grad).__name__}; "
                    "return a tensor on the same device"
                )
            if grad.is_complex():
                raise TypeError("jac returned a complex tensor; only real gradients are supported")
            grad = grad.detach().to(dtype=cast(torch.dtype, self.dtype), device=self.device)
        else:
            if isinstance(grad, torch.Tensor):
                raise TypeError("x0 is a numpy array but jac returned a torch tensor")
            try:
                grad = np.asarray(grad)
            except ValueError:  # ragged nested sequences
                raise TypeError("jac returned a ragged sequence, not an array like x0") from None
            if np.iscomplexobj(grad):
                raise TypeError("jac returned complex values; only real gradients are supported")
            if grad.dtype.kind not in "biuf":  # objects (e.g. None entries), strings
                raise TypeError(f"jac returned {grad.dtype} values; it must return real numbers")
            grad = grad.astype(np.float64, copy=False)
        if tuple(grad.shape) != self.shape:
            raise ValueError(
                f"jac returned shape {tuple(grad.shape)} but x0 has shape {self.shape}"
            )
        return grad


def objective_value(value: Any) -> float:
    """The value ``fun`` returned, as a Python float (a clear error for ``None``)."""
    if value is None:
        raise TypeError("fun returned None; it must return a real scalar (a missing `return`?)")
    return to_float(value)
