"""``minimize``: one entry point for every solver, returning a ``scipy.optimize.OptimizeResult``.

Stopping rule: the run stops successfully at the first iterate whose gradient has Euclidean
norm ``<= tol``; otherwise after ``max_iter`` iterations, when the callback asks to stop, or
(``success=False``, the message naming the iteration) with status 3 when f evaluates to -inf
or the run breaks down after f fell below ``-sqrt(largest float)`` (the objective appears
unbounded below) and status 2 when f or its gradient is otherwise not finite or the stepsize is
no longer a finite positive number. The gradient norm is measured at
the iterate the method reports (``Iterate.x``); when the method did not evaluate there
(Nesterov's ``x_k``) the driver does, for monitoring only: such evaluations are counted in
``nmonitor``, not in ``nfev`` / ``njev``, and their time is excluded from ``history["time"]``.
"""

from __future__ import annotations

import inspect
import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from scipy.optimize import OptimizeResult

from theoropt.convex.arrays import Array, as_iterate, copy_of, norm
from theoropt.convex.methods import METHODS, Iterate, Method
from theoropt.convex.oracle import NumericalBreakdown, Oracle, UnboundedObjective
from theoropt.convex.validation import non_negative, positive_int

STATUS_CONVERGED, STATUS_MAX_ITER, STATUS_NON_FINITE, STATUS_UNBOUNDED = 0, 1, 2, 3
STATUS_CALLBACK = 99
HISTORY_KEYS = ("f", "grad_norm", "step", "njev", "time")
_UNCONSTRAINED = "theoropt.convex solves unconstrained problems only (use scipy.optimize)"
_FIRST_ORDER = "the methods are first-order and use no second derivatives"
_KEYWORDS = "pass max_iter=... and the method's options (e.g. eta0=...) as keyword arguments"
SCIPY_ONLY = {
    "bounds": _UNCONSTRAINED,
    "constraints": _UNCONSTRAINED,
    "hess": _FIRST_ORDER,
    "hessp": _FIRST_ORDER,
    "options": _KEYWORDS,
    "maxiter": _KEYWORDS,
}
"""``scipy.optimize.minimize`` arguments that ``minimize`` does not take, with what to do."""


def make_method(name: str, oracle: Oracle, x0: Array, options: dict[str, Any]) -> Method:
    """Instantiate the solver ``name`` with ``options``, naming unknown or missing options."""
    if not isinstance(name, str) or name not in METHODS:
        raise ValueError(f"unknown method {name!r}; choose one of {', '.join(METHODS)}")
    cls = METHODS[name]
    keyword_only = [
        p for p in inspect.signature(cls.__init__).parameters.values() if p.kind == p.KEYWORD_ONLY
    ]
    accepted = [p.name for p in keyword_only]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise TypeError(
            f"method {name!r} does not take option(s) {', '.join(unknown)}; "
            f"its options are: {', '.join(accepted) or '(none)'}"
        )
    missing = [p.name for p in keyword_only if p.default is p.empty and p.name not in options]
    if missing:
        raise TypeError(f"method {name!r} needs option(s) {', '.join(missing)}")
    return cls(oracle, x0, **options)


class _Recorder:
    """Per-iterate history, monitoring evaluations and solver time."""

    def __init__(self, oracle: Oracle, synchronize: Callable[[], None]):
        self.oracle = oracle
        self.synchronize = synchronize
        self.rows: dict[str, list[float]] = {key: [] for key in HISTORY_KEYS}
        self.solver_time = 0.0
        self.nmonitor = 0

    def timed(self, action: Callable[[], Iterate]) -> Iterate:
        start = time.perf_counter()
        iterate = action()
        self.synchronize()
        self.solver_time += time.perf_counter() - start
        return iterate

    def record(self, iterate: Iterate) -> tuple[float, Array, float]:
        f, grad = iterate.f, iterate.grad
        if f is None or grad is None:
            njev, nfev = self.oracle.njev, self.oracle.nfev
            f, grad = self.oracle(iterate.x)
            self.oracle.njev, self.oracle.nfev = njev, nfev
            self.nmonitor += 1
        grad_norm = norm(grad)
        values = (f, grad_norm, iterate.step, self.oracle.njev, self.solver_time)
        for key, value in zip(HISTORY_KEYS, values, strict=True):
            self.rows[key].append(float(value))
        return f, grad, grad_norm

    def history(self) -> dict[str, np.ndarray]:
        return {key: np.asarray(values, dtype=float) for key, values in self.rows.items()}


def _synchronizer(x: Array) -> Callable[[], None]:
    if isinstance(x, torch.Tensor) and x.device.type == "cuda":
        return lambda: torch.cuda.synchronize(x.device)
    return lambda: None


def minimize(
    fun: Callable[..., Any],
    x0: Any,
    jac: Callable[..., Any] | bool | None = None,
    method: str = "acc-graal",
    tol: float = 1e-8,
    max_iter: int = 10_000,
    callback: Callable[..., Any] | None = None,
    *,
    args: Any = (),
    **method_options: Any,
) -> OptimizeResult:
    """Minimise a differentiable convex function with a first-order method.

    Parameters
    ----------
    fun, jac
        ``fun(x)`` returns f(x); ``jac(x)`` returns ∇f(x) with x's shape. ``jac=True`` means
        ``fun`` returns ``(f, grad)``. With torch tensors ``jac`` may be omitted (autograd).
    x0
        Starting point: a numpy array (computed in float64) or a floating torch tensor (its
        dtype and device are kept).
    method
        ``"gd"``, ``"nesterov"`` (both need ``L=``; Nesterov also takes ``mu=``), ``"adgd"``,
        ``"adgd2"``, ``"graal"``, ``"adaptive-graal"``, ``"ac-fgm"``, ``"adanag"`` or
        ``"acc-graal"`` (default).
    tol
        Stop when the Euclidean norm of the gradient at the reported iterate is ``<= tol``.
    max_iter
        Maximum number of iterations.
    callback
        Called after every iteration, the last included, as in ``scipy.optimize.minimize``:
        ``callback(intermediate_result=state)`` when its only parameter is named
        ``intermediate_result`` (``state`` is an ``OptimizeResult`` holding ``x``, ``fun``,
        ``grad_norm``, ``step``, ``nit`` and ``njev``), otherwise ``callback(xk)`` with a copy
        of the current point. Raising ``StopIteration`` or returning ``True`` stops the run
        (status 99) unless it converged at that iteration.
    args
        Extra arguments of ``fun`` and ``jac``: ``fun(x, *args)`` (a non-tuple is one argument,
        as in scipy).
    **method_options
        The method's hyperparameters (see its class in :mod:`theoropt.convex.methods`).

    Returns
    -------
    OptimizeResult with ``x``, ``fun``, ``jac``, ``nit``, ``nfev``, ``njev`` (evaluations the
    method used), ``nmonitor`` (extra evaluations for monitoring), ``success``, ``status``,
    ``message``, ``method`` and ``history``: equal-length arrays ``"f"``, ``"grad_norm"``,
    ``"step"``, ``"njev"`` (cumulative) and ``"time"`` (cumulative solver seconds), one entry
    per iterate starting with x0 (length ``nit + 1``). ``status``: 0 converged, 1 ``max_iter``
    reached, 2 non-finite values (diverged), 3 f = -inf or a breakdown after f < -1.3e154 in
    float64 (unbounded below), 99 stopped by the callback. ``fun`` and ``jac`` are called with
    a copy of the point (scipy's convention).
    """
    x = as_iterate(x0)
    tol = non_negative("tol", tol)
    max_iter = positive_int("max_iter", max_iter)
    if callback is not None and not callable(callback):
        raise TypeError(f"callback must be callable, got {type(callback).__name__}")
    stop_rule = None if callback is None else _stop_rule(callback)
    _reject_scipy_only(method_options)
    oracle = Oracle(fun, jac, x, args if isinstance(args, tuple) else (args,))
    solver = make_method(method, oracle, x, method_options)
    recorder = _Recorder(oracle, _synchronizer(x))

    nit, status, message = 0, STATUS_MAX_ITER, f"reached max_iter={max_iter}"
    iterate = Iterate(x, None, None, float("nan"))
    f, grad = float("nan"), None
    current = 0  # the iteration being computed (0: the evaluation at x0)
    try:  # the result keeps the last iterate whose f and gradient were finite
        candidate = recorder.timed(solver.start)
        f, grad, grad_norm = recorder.record(candidate)
        iterate = candidate
        if grad_norm <= tol:
            status, message = STATUS_CONVERGED, f"gradient norm {grad_norm:.3g} <= tol"
        while status == STATUS_MAX_ITER and nit < max_iter:
            current = nit + 1
            candidate = recorder.timed(solver.step)
            f, grad, grad_norm = recorder.record(candidate)
            iterate, nit = candidate, current
            stops = stop_rule is not None and stop_rule(
                OptimizeResult(
                    x=iterate.x,
                    fun=f,
                    grad_norm=grad_norm,
                    step=iterate.step,
                    nit=nit,
                    njev=oracle.njev,
                )
            )
            if grad_norm <= tol:
                status, message = STATUS_CONVERGED, f"gradient norm {grad_norm:.3g} <= tol"
            elif stops:
                status, message = STATUS_CALLBACK, f"stopped by the callback at iteration {nit}"
    except UnboundedObjective as error:
        status, message = STATUS_UNBOUNDED, f"{error} ({_where(current)})"
    except NumericalBreakdown as error:
        if f <= -_unbounded_scale(x):
            status = STATUS_UNBOUNDED
            message = (
                f"f fell to {f:.3g} before the run broke down ({error} at {_where(current)}): "
                "the objective appears to be unbounded below"
            )
        else:
            status, message = STATUS_NON_FINITE, f"{error} at {_where(current)}; the run diverged"
    return OptimizeResult(
        x=iterate.x,
        fun=f,
        jac=grad,
        nit=nit,
        nfev=oracle.nfev,
        njev=oracle.njev,
        nmonitor=recorder.nmonitor,
        success=status == STATUS_CONVERGED,
        status=status,
        message=message,
        method=method,
        history=recorder.history(),
    )


def _reject_scipy_only(options: dict[str, Any]) -> None:
    """A clear error for ``scipy.optimize.minimize`` arguments that have no meaning here."""
    for name, hint in SCIPY_ONLY.items():
        if name in options:
            raise TypeError(f"minimize does not take {name}=: {hint}")


def _unbounded_scale(x: Array) -> float:
    """``sqrt`` of the largest float of ``x``'s dtype (1.3e154 in float64): a run that breaks
    down after f fell below minus this is taken as f -> -inf (squares of such numbers overflow,
    so the solver cannot go on; no sensible minimum lies there)."""
    largest = torch.finfo(x.dtype).max if isinstance(x, torch.Tensor) else np.finfo(np.float64).max
    return math.sqrt(largest)


def _where(current: int) -> str:
    return "the starting point x0" if current == 0 else f"iteration {current}"


def _stop_rule(callback: Callable[..., Any]) -> Callable[[OptimizeResult], bool]:
    """The callback in scipy's calling convention, as "does it stop the run?".

    scipy's rule: a callback whose only parameter is named ``intermediate_result`` receives
    the ``OptimizeResult`` (by keyword); any other callback receives a copy of the current point
    ``xk``.
    Raising ``StopIteration`` or returning ``True`` stops the run.
    """
    try:
        parameters = set(inspect.signature(callback).parameters)
    except (TypeError, ValueError):  # builtins without a signature: the xk form
        parameters = set()
    if parameters == {"intermediate_result"}:

        def call(state: OptimizeResult) -> Any:
            return callback(intermediate_result=state)

    else:

        def call(state: OptimizeResult) -> Any:
            return callback(copy_of(state.x))

    def stops(state: OptimizeResult) -> bool:
        try:
            return call(state) is True
        except StopIteration:
            return True

    return stops
