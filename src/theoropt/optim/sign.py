"""Signum and SoftSignum: sign descent with momentum and its smooth, temperature-scheduled form.

Per parameter, with a PyTorch-SGD-style momentum buffer ``m`` (set to the first gradient)::

    p <- p * (1 - lr * weight_decay)                       # decoupled weight decay
    m <- momentum * m + (1 - dampening) * g                # Nesterov: u = g + momentum * m
    u_hat <- sign(u)          in the sign phase            # Signum (Bernstein et al., 2018)
    u_hat <- phi(tau_t * u)   in the transition            # SoftSignum (Feoktistov et al., 2026)
    p <- p - eta * u_hat

with ``u = m`` (or the Nesterov direction, or ``g`` without momentum) and the step size ``eta``
``lr``, or, as in the Softsign authors' code, ``lr / ||u||_2`` (``normalized=True``) or
``lr * ||u||_2`` (``sign_norm=True``), the norm taken over all the directions of the group.
``Signum`` is the sign phase forever; ``SoftSignum`` switches to the soft map ``phi`` (tanh by
default) after ``sign_fraction * total_steps`` steps, with the temperatures of
:mod:`theoropt.optim.temperature` fitted once to the entries of the group's directions ``u``.
``maximize=True`` uses ``-g``. A NaN or infinite direction entry makes its parameter NaN
(``u + 0 * m``), as a NaN gradient does in ``torch.optim.SGD``, instead of freezing it
(``sign(NaN) = 0``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import Tensor

from theoropt.optim import fused as fu
from theoropt.optim import multi_tensor as mt
from theoropt.optim.hyperparameters import (
    as_float,
    check_bool,
    check_elementwise_tmax,
    check_fused_foreach,
    check_grad,
    check_lr,
    check_momentum,
    check_params,
    check_range,
    check_schedule,
    plain_numbers,
)
from theoropt.optim.phases import TemperatureScheduled
from theoropt.optim.sharded import gathered
from theoropt.optim.soft_maps import get_soft_map

ParamsT = Iterable[Tensor] | Iterable[dict[str, Any]]
StepSize = Callable[[float, list[Tensor], bool], float]
"""``(lr, directions, foreach) -> eta``: the step size of one sign / soft-sign step."""


def direction_norm(directions: list[Tensor], foreach: bool) -> float:
    """``||(u_1, ..., u_n)||_2`` over whole tensors (sharded ``DTensor`` s reduced over ranks)."""
    total = torch.linalg.vector_norm(torch.stack(mt.norms(directions, foreach)))
    return float(gathered(total))


def constant_step(lr: float, directions: list[Tensor], foreach: bool) -> float:
    """``eta = lr``: Signum / SoftSignum."""
    return lr


def normalized_step(lr: float, directions: list[Tensor], foreach: bool) -> float:
    """``eta = lr / ||u||_2`` (the authors' ``normalized``); 0 when every direction is 0."""
    norm = direction_norm(directions, foreach)
    return lr / norm if norm > 0 else 0.0


def norm_scaled_step(lr: float, directions: list[Tensor], foreach: bool) -> float:
    """``eta = lr * ||u||_2`` (the authors' ``sign_norm``)."""
    return lr * direction_norm(directions, foreach)


def step_size_rule(normalized: bool, sign_norm: bool) -> StepSize:
    """The step-size rule of a group's ``normalized`` / ``sign_norm`` settings."""
    if normalized and sign_norm:
        raise ValueError("normalized and sign_norm are mutually exclusive; set at most one")
    if normalized:
        return normalized_step
    return norm_scaled_step if sign_norm else constant_step


class _SignDescent(TemperatureScheduled):
    """Shared implementation of :class:`Signum` and :class:`SoftSignum`."""

    _late_keys = ("normalized", "sign_norm", "maximize", "foreach", "fused")

    def __init__(self, params: ParamsT, defaults: dict[str, Any]) -> None:
        defaults = plain_numbers(defaults)
        check_lr(defaults["lr"])
        super().__init__(params, defaults)

    def _check_group(self, group: dict[str, Any]) -> None:
        name = type(self).__name__
        check_params(group["params"], name)
        check_lr(group["lr"])
        check_range("weight_decay", group["weight_decay"], 0.0)
        check_momentum(group["momentum"], group["dampening"], group["nesterov"])
        for flag in ("normalized", "sign_norm"):
            check_bool(flag, group[flag])
        step_size_rule(group["normalized"], group["sign_norm"])
        check_bool("maximize", group["maximize"])
        check_fused_foreach(group["fused"], group["foreach"], name)
        if group["fused"] and (group["normalized"] or group["sign_norm"]):
            raise RuntimeError(
                f"{name}: fused=True takes the step lr; normalized / sign_norm need the "
                "group's direction norm first: use fused=None or False"
            )
        if group["total_steps"] is not None:
            check_schedule(
                group["total_steps"], group["sign_fraction"], group["eps"], group["tmax"]
            )
            check_elementwise_tmax(group["tmax"])
            get_soft_map(group["soft_map"])
        group.setdefault("step", 0)
        group.setdefault("schedule", None)
        group.setdefault("schedule_statistics", None)

    @staticmethod
    def _direction_entries(directions: list[Tensor]) -> Tensor:
        """Every entry of the group's directions (float64): the schedule's statistics."""
        return torch.cat([gathered(u.detach()).reshape(-1).to(torch.float64) for u in directions])

    def _update_momentum(
        self,
        params: list[Tensor],
        grads: list[Tensor],
        beta: float,
        dampening: float,
        foreach: bool,
    ) -> None:
        """``m <- beta m + (1 - dampening) g``; a new buffer starts as a copy of ``g``."""
        old_buffers, old_grads = [], []
        for p, g in zip(params, grads, strict=True):
            state = self.state[p]
            if "momentum_buffer" not in state:
                state["momentum_buffer"] = g.detach().clone()
            else:
                old_buffers.append(state["momentum_buffer"])
                old_grads.append(g)
        if old_buffers:
            mt.mul_(old_buffers, beta, foreach)
            mt.add_(old_buffers, old_grads, 1.0 - dampening, foreach)

    def _group_step(self, group: dict[str, Any]) -> None:
        name = type(self).__name__
        # an empty tensor has nothing to update, nor entries for the schedule's statistics
        params, grads = [], []
        for p in group["params"]:
            if p.grad is not None and p.numel() > 0:
                params.append(p)
                grads.append(check_grad(p, name))
        if not params:
            return
        plain_step = not (group["normalized"] or group["sign_norm"])
        fused = plain_step and fu.use_fused(group["fused"], group["foreach"], params, name)
        if fused and not self._fits_schedule_now(group):  # the fit needs this step's momentum
            self._fused_step(group, params, grads)
            return
        foreach = True if group["foreach"] is None else group["foreach"]
        lr, beta = as_float(group["lr"]), group["momentum"]
        if group["weight_decay"] != 0:
            mt.mul_(params, 1.0 - lr * group["weight_decay"], foreach)
        if group["maximize"]:
            grads = mt.negated(grads, foreach)
        if beta > 0:
            self._update_momentum(params, grads, beta, group["dampening"], foreach)
            buffers = [self.state[p]["momentum_buffer"] for p in params]
            directions = mt.added(grads, buffers, beta, foreach) if group["nesterov"] else buffers
        else:
            directions = grads
        eta = step_size_rule(group["normalized"], group["sign_norm"])(lr, directions, foreach)
        if self._in_sign_phase(group):
            updates = mt.signs(directions, foreach)
            mt.carry_non_finite_(updates, directions, foreach)
            mt.add_(params, updates, -eta, foreach)
        else:
            tau = self._transition_temperature(group, lambda: self._direction_entries(directions))
            soft_map = get_soft_map(group["soft_map"]).for_dtypes(u.dtype for u in directions)
            cores = soft_map.applied(directions, tau, foreach, affine=False)
            mt.carry_non_finite_(cores, directions, foreach)
            soft_map.add_mapped_(params, cores, -eta, foreach)
        group["step"] += 1

    def _fused_step(self, group: dict[str, Any], params: list[Tensor], grads: list[Tensor]) -> None:
        """The same step as one compiled pass per tensor (:mod:`theoropt.optim.fused`)."""
        lr, beta, dampening = as_float(group["lr"]), group["momentum"], group["dampening"]
        sign = -1.0 if group["maximize"] else 1.0
        buffers = []
        if beta > 0:
            for p, g in zip(params, grads, strict=True):
                state = self.state[p]
                if "momentum_buffer" not in state:  # the kernel's first update makes it s g
                    state["momentum_buffer"] = torch.mul(g.detach(), sign * dampening / beta)
                buffers.append(state["momentum_buffer"])
        tau = math.inf if self._in_sign_phase(group) else self._scheduled_temperature(group)
        fu.sign_descent_(
            params,
            grads,
            buffers,
            decay=1.0 - lr * group["weight_decay"],
            lr=lr,
            beta=beta,
            dampening=dampening,
            sign=sign,
            nesterov=group["nesterov"],
            tau=tau,
            soft_map=get_soft_map(group["soft_map"]),
        )
        group["step"] += 1


class Signum(_SignDescent):
    """Sign descent with momentum (Bernstein et al., ICML 2018), decoupled weight decay.

    Args:
        params: parameters or parameter groups (each group may override any setting).
        lr: learning rate (step size of every coordinate).
        momentum: momentum factor of the SGD-style buffer (0 gives signSGD).
        dampening: dampening of the gradient in the buffer update.
        nesterov: use ``g + momentum * m`` as the direction.
        weight_decay: decoupled weight decay ``p <- p (1 - lr wd)``.
        normalized: step ``lr / ||u||_2`` instead of ``lr``, ``u`` the group's directions
            (the Softsign authors' option; one host synchronisation per step).
        sign_norm: step ``lr * ||u||_2`` instead (exclusive with ``normalized``).
        maximize: maximise the objective (the gradients' sign is flipped).
        foreach: multi-tensor kernels; ``False`` loops over tensors.
        fused: one compiled pass per tensor and step (:mod:`theoropt.optim.fused`; the same
            results to float rounding). ``None`` (default): fused for groups of at least 2^20
            elements where ``torch.compile`` can build the kernels, ``foreach`` is not set and
            the step is ``lr`` (not ``normalized`` / ``sign_norm``), multi-tensor kernels
            otherwise.
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float | Tensor = 1e-3,
        momentum: float = 0.9,
        dampening: float = 0.0,
        nesterov: bool = False,
        weight_decay: float = 0.0,
        *,
        normalized: bool = False,
        sign_norm: bool = False,
        maximize: bool = False,
        foreach: bool | None = None,
        fused: bool | None = None,
    ) -> None:
        defaults = dict(
            lr=lr,
            momentum=momentum,
            dampening=dampening,
            nesterov=nesterov,
            weight_decay=weight_decay,
            normalized=normalized,
            sign_norm=sign_norm,
            total_steps=None,
            sign_fraction=1.0,
            eps=1e-4,
            tmax=20.0,
            soft_map="tanh",
            maximize=maximize,
            foreach=foreach,
            fused=fused,
        )
        super().__init__(params, defaults)


class SoftSignum(_SignDescent):
    """SoftSignum (Feoktistov et al., "Softsign", ICML 2026): Signum, then a soft sign.

    The first ``round(sign_fraction * total_steps)`` steps are exactly :class:`Signum`; the
    remaining steps use ``phi(tau_t * u)`` with the adaptive quantile temperature schedule
    (:mod:`theoropt.optim.temperature`), fitted once per group, when the transition starts, to
    the entries of its directions ``u`` (the momentum, the Nesterov direction with
    ``nesterov=True``, the gradient without momentum), as the authors' code does; after
    ``total_steps`` the last temperature is kept. ``temperatures()`` reads the temperature of
    each group's last step. The authors' class defaults to ``momentum=0``; this one to 0.9, like
    :class:`Signum`.

    Args:
        params, lr, momentum, dampening, nesterov, weight_decay, normalized, sign_norm,
            maximize, foreach, fused: as :class:`Signum`.
        total_steps: planned number of steps (sets the phase lengths).
        sign_fraction: share of the steps in the sign phase (paper default 0.9).
        eps: coordinates with ``|m| >= q_t`` are within ``eps`` of +-1 (``eps`` in
            ``[2^-53, 1)``).
        tmax: largest temperature (the smallest is 1), at most 1e38 (the temperature
            multiplies float32 entries; beyond, a zero entry would become NaN).
        soft_map: ``"tanh"`` (default, the paper's) or ``"algebraic"`` (``z / sqrt(1 + z^2)``).
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float | Tensor = 1e-3,
        momentum: float = 0.9,
        dampening: float = 0.0,
        nesterov: bool = False,
        weight_decay: float = 0.0,
        *,
        total_steps: int,
        sign_fraction: float = 0.9,
        eps: float = 1e-4,
        tmax: float = 20.0,
        soft_map: str = "tanh",
        normalized: bool = False,
        sign_norm: bool = False,
        maximize: bool = False,
        foreach: bool | None = None,
        fused: bool | None = None,
    ) -> None:
        defaults = dict(
            lr=lr,
            momentum=momentum,
            dampening=dampening,
            nesterov=nesterov,
            weight_decay=weight_decay,
            normalized=normalized,
            sign_norm=sign_norm,
            total_steps=total_steps,
            sign_fraction=sign_fraction,
            eps=eps,
            tmax=tmax,
            soft_map=soft_map,
            maximize=maximize,
            foreach=foreach,
            fused=fused,
        )
        super().__init__(params, defaults)
