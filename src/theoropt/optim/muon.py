"""Muon and SoftMuon: (soft) polar updates for matrices, AdamW for the other parameters.

For a matrix parameter (convolution kernels flattened to ``out x rest``), with an EMA momentum
``m`` and ``rows x cols`` the matrix shape::

    p <- p * (1 - lr * weight_decay)
    m <- momentum * m + (1 - momentum) * g              # Nesterov: u = (1-momentum) g + momentum m
    O <- polar(u)                 in the sign phase     # quintic Newton–Schulz (Muon)
    O <- softpolar(u, tau_t)      in the transition     # SoftMuon (Feoktistov et al., 2026)
    p <- p - lr * sqrt(max(1, rows / cols)) * O

``softpolar(G, tau) = U diag(phi(tau s)) V^T`` for ``G = U diag(s) V^T``; with the default
algebraic soft map ``phi(z) = z / sqrt(1 + z^2)`` it is ``G (G^T G + tau^-2 I)^(-1/2)``, computed
by a coupled Newton–Schulz iteration. The temperature schedule is fitted once per group to the
singular values of the raw gradients of its matrices (exact SVD).

Two variants (:mod:`theoropt.optim.polar_variants`): ``"paper"``, the Softsign authors' code
step for step (momentum started at zero, bfloat16 Newton–Schulz, exactly ``ns_steps`` coupled
steps for the soft polar, AdamW ``eps`` 1e-10), and ``"exact"``, theoropt's (momentum started
at the first gradient, the soft polar converged to a tolerance).

Groups with ``use_muon=False`` are updated by AdamW (Loshchilov & Hutter, 2019) in the same
optimizer. Matrices of the same shape are stacked and orthogonalised in one batched call. A
group with ``stacked=True`` treats the leading dims of each parameter as a stack of matrices
(mixture-of-experts weights ``(experts, out, in)``); otherwise a tensor of 3 or more dims is one
matrix ``out x rest`` (convolution kernels). Parameters sharded by FSDP2 (``DTensor``) are
orthogonalised round-robin across ranks (:mod:`theoropt.optim.sharded`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import torch
from torch import Tensor

from theoropt.optim import multi_tensor as mt
from theoropt.optim.hyperparameters import (
    check_grad,
    check_int,
    check_params,
    check_range,
    check_schedule,
)
from theoropt.optim.matrix_functions import newton_schulz_polar
from theoropt.optim.phases import TemperatureScheduled
from theoropt.optim.polar_variants import get_polar_variant
from theoropt.optim.sharded import as_matrices, gathered, local, matrix_updates
from theoropt.optim.soft_maps import get_soft_map

ParamsT = Iterable[Tensor] | Iterable[dict[str, Any]]


class _PolarDescent(TemperatureScheduled):
    """Shared implementation of :class:`Muon` and :class:`SoftMuon`."""

    def __init__(
        self,
        params: ParamsT,
        muon_defaults: dict[str, Any],
        adamw_defaults: dict[str, Any],
        *,
        ns_dtype: torch.dtype | None,
        soft_polar_dtype: torch.dtype | None = None,
    ) -> None:
        self._kind_defaults = {True: muon_defaults, False: adamw_defaults}
        self.ns_dtype = ns_dtype
        self.soft_polar_dtype = soft_polar_dtype
        super().__init__(self._split_groups(params), {})

    @staticmethod
    def _split_groups(params: ParamsT) -> list[dict[str, Any]]:
        """Groups without ``use_muon`` are split by dimension: matrices to Muon, rest to AdamW.

        The settings of such a group apply to its matrices; its other parameters get the AdamW
        defaults.
        """
        params = list(params)
        if not params:
            raise ValueError("optimizer got an empty parameter list")
        groups = params if isinstance(params[0], dict) else [{"params": params}]
        split = []
        for group in groups:
            if "use_muon" in group:
                split.append(dict(group))
                continue
            tensors = [group["params"]] if isinstance(group["params"], Tensor) else group["params"]
            tensors = list(tensors)
            matrices = [p for p in tensors if p.ndim >= 2]
            rest = [p for p in tensors if p.ndim < 2]
            if matrices:
                split.append({**group, "params": matrices, "use_muon": True})
            if rest:
                split.append({"params": rest, "use_muon": False})
        return split

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        use_muon = param_group.get("use_muon")
        if not isinstance(use_muon, bool):
            raise ValueError("each parameter group needs use_muon=True or use_muon=False")
        for key, value in self._kind_defaults[use_muon].items():
            param_group.setdefault(key, value)
        super().add_param_group(param_group)

    def _check_group(self, group: dict[str, Any]) -> None:
        use_muon = group["use_muon"]
        name = type(self).__name__
        check_params(group["params"], name)
        check_range("lr", group["lr"], 0.0)
        check_range("weight_decay", group["weight_decay"], 0.0)
        group.setdefault("step", 0)
        if not use_muon:
            for beta in group["betas"]:
                check_range("betas", beta, 0.0, 1.0, high_open=True)
            check_range("eps", group["eps"], 0.0, low_open=True)
            return
        for p in group["params"]:
            if p.ndim < 2:
                raise ValueError(
                    f"{name}: a use_muon group holds a {p.ndim}-D parameter of shape "
                    f"{tuple(p.shape)}; put vectors and scalars in a use_muon=False group"
                )
        check_range("momentum", group["momentum"], 0.0, 1.0, high_open=True)
        check_int("ns_steps", group["ns_steps"], 1)
        variant = get_polar_variant(group["variant"])
        group.setdefault("stacked", False)
        if not isinstance(group["stacked"], bool):
            raise ValueError(f"{name}: stacked must be True or False, got {group['stacked']!r}")
        if group.get("total_steps") is not None:
            check_schedule(
                group["total_steps"], group["sign_fraction"], group["eps"], group["tmax"]
            )
            get_soft_map(group["soft_map"])
            check_range("ns_tol", group["ns_tol"], 0.0, 1.0, low_open=True)
            check_int("ns_max_iter", group["ns_max_iter"], 1)
        variant.check_group(group)
        group.setdefault("schedule", None)
        group.setdefault("schedule_statistics", None)
        group.setdefault("temperature", None)

    @staticmethod
    def _gradient_singular_values(grads: list[Tensor], stacked: bool) -> Tensor:
        """Singular values of the raw gradients (exact SVD, float64): the schedule's statistics."""
        full = [gathered(g).double() for g in grads]
        return torch.cat([torch.linalg.svdvals(as_matrices(g, stacked)).reshape(-1) for g in full])

    def _group_step(self, group: dict[str, Any]) -> None:
        params = [p for p in group["params"] if p.grad is not None]
        if not params:
            return
        grads = [check_grad(p, type(self).__name__) for p in params]
        foreach = group.get("foreach")
        foreach = True if foreach is None else foreach
        if group["weight_decay"] != 0:
            mt.mul_(params, 1.0 - group["lr"] * group["weight_decay"], foreach)
        if group["use_muon"]:
            self._muon_step(group, params, grads, foreach)
        else:
            self._adamw_step(group, params, grads, foreach)
        group["step"] += 1

    def _muon_step(
        self, group: dict[str, Any], params: list[Tensor], grads: list[Tensor], foreach: bool
    ) -> None:
        beta, stacked = group["momentum"], group["stacked"]
        variant = get_polar_variant(group["variant"])
        buffers, old_buffers, old_grads = [], [], []
        for p, g in zip(params, grads, strict=True):
            state = self.state[p]
            if "momentum_buffer" not in state:
                state["momentum_buffer"], update_now = variant.start_momentum(g)
            else:
                update_now = True
            if update_now:
                old_buffers.append(state["momentum_buffer"])
                old_grads.append(g)
            buffers.append(state["momentum_buffer"])
        if old_buffers:
            mt.lerp_(old_buffers, old_grads, 1.0 - beta, foreach)
        directions = buffers
        if group["nesterov"]:
            directions = [g.lerp(m, beta) for g, m in zip(grads, buffers, strict=True)]
        tau = self._step_temperature(group, lambda: self._gradient_singular_values(grads, stacked))
        group["temperature"] = tau

        def orthogonalise(G: Tensor) -> Tensor:
            """Polar factor (``tau = inf``) or the variant's soft polar of a batch of matrices."""
            if math.isinf(tau):
                dtype = self.ns_dtype or variant.ns_dtype(G.device)
                return newton_schulz_polar(G, group["ns_steps"], dtype=dtype)
            dtype = self.soft_polar_dtype or variant.soft_polar_dtype(G.device)
            return variant.soft_polar(G, tau, group, dtype)

        updates = matrix_updates(directions, stacked, orthogonalise)
        for p, update in zip(params, updates, strict=True):
            scale = variant.update_scale(p.shape, as_matrices(p, stacked).shape)
            local(p).add_(update.view_as(local(p)), alpha=-group["lr"] * scale)

    def _adamw_step(
        self, group: dict[str, Any], params: list[Tensor], grads: list[Tensor], foreach: bool
    ) -> None:
        beta1, beta2 = group["betas"]
        for p in params:
            state = self.state[p]
            if "exp_avg" not in state:
                state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        exp_avgs = [self.state[p]["exp_avg"] for p in params]
        exp_avg_sqs = [self.state[p]["exp_avg_sq"] for p in params]
        step = group["step"] + 1
        mt.lerp_(exp_avgs, grads, 1.0 - beta1, foreach)
        mt.mul_(exp_avg_sqs, beta2, foreach)
        mt.addcmul_(exp_avg_sqs, grads, grads, 1.0 - beta2, foreach)
        denominators = mt.sqrt(exp_avg_sqs, foreach)
        mt.mul_(denominators, 1.0 / math.sqrt(1.0 - beta2**step), foreach)
        mt.add_scalar_(denominators, group["eps"], foreach)
        mt.addcdiv_(params, exp_avgs, denominators, -group["lr"] / (1.0 - beta1**step), foreach)


def _adamw_defaults(
    variant: str,
    lr: float,
    betas: tuple[float, float],
    eps: float | None,
    weight_decay: float,
    foreach: bool | None,
) -> dict[str, Any]:
    """Defaults of the AdamW groups; ``eps=None`` takes the variant's (1e-10 paper, 1e-8 exact)."""
    if eps is None:
        eps = get_polar_variant(variant).adamw_eps
    return dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, foreach=foreach)


class Muon(_PolarDescent):
    """Muon (Jordan et al., 2024) for matrices with AdamW for the other parameters.

    Pass ``split_params(model)`` (embeddings and the head to AdamW) or plain parameters (then
    matrices go to Muon and the rest to AdamW). The polar factor is the quintic Newton–Schulz
    iteration. ``Muon(variant=v)`` is exactly the sign phase of ``SoftMuon(variant=v)``:
    ``"paper"`` is the Muon of the Softsign authors' code (as Jordan's: momentum started at zero,
    Newton–Schulz in bfloat16; AdamW ``eps`` 1e-10), ``"exact"`` theoropt's (momentum started at
    the first gradient; float32 Newton–Schulz on the CPU, bfloat16 on CUDA; AdamW ``eps`` 1e-8).

    Args:
        params: parameters or groups; groups with ``use_muon`` True/False pick the update.
        lr, momentum, nesterov, weight_decay, ns_steps: settings of the Muon groups.
        variant: ``"exact"`` (default) or ``"paper"`` (:mod:`theoropt.optim.polar_variants`).
        adamw_lr, adamw_betas, adamw_eps, adamw_weight_decay: defaults of the AdamW groups
            (``adamw_eps=None``: the variant's).
        ns_dtype: dtype of the Newton–Schulz iteration (``None``: the variant's, see above).
        foreach: multi-tensor kernels for the elementwise parts (``None``: yes).
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float = 0.02,
        momentum: float = 0.95,
        nesterov: bool = True,
        weight_decay: float = 0.0,
        ns_steps: int = 5,
        *,
        variant: str = "exact",
        adamw_lr: float = 3e-4,
        adamw_betas: tuple[float, float] = (0.9, 0.95),
        adamw_eps: float | None = None,
        adamw_weight_decay: float = 0.0,
        ns_dtype: torch.dtype | None = None,
        foreach: bool | None = None,
    ) -> None:
        muon_defaults = dict(
            lr=lr,
            momentum=momentum,
            nesterov=nesterov,
            weight_decay=weight_decay,
            ns_steps=ns_steps,
            variant=variant,
            total_steps=None,
            foreach=foreach,
        )
        adamw = _adamw_defaults(
            variant, adamw_lr, adamw_betas, adamw_eps, adamw_weight_decay, foreach
        )
        super().__init__(params, muon_defaults, adamw, ns_dtype=ns_dtype)


class SoftMuon(_PolarDescent):
    """SoftMuon (Feoktistov et al., "Softsign", ICML 2026): Muon, then a soft polar factor.

    The first ``round(sign_fraction * total_steps)`` steps are exactly ``Muon(variant=...)``;
    then ``softpolar(u, tau_t)`` with the quantile temperature schedule fitted once per group to
    the singular values of the raw gradients (soft-map inverse ``phi^-1(1 - eps)``, about 70.7
    for the algebraic map at ``eps = 1e-4``; temperatures clamped to ``[1, tmax]``).

    ``variant="paper"`` is the authors' algorithm step for step: momentum started at zero,
    bfloat16 Newton–Schulz in both phases, the soft polar by exactly ``ns_steps`` coupled
    Newton–Schulz steps with no tolerance and no floor (which leaves small singular directions
    strongly damped), AdamW ``eps`` 1e-10. ``variant="exact"`` (default) is theoropt's: momentum
    started at the first gradient, float32 Newton–Schulz on the CPU, the soft polar converged to
    ``ns_tol`` in float32 (see :mod:`theoropt.optim.polar_variants` and docs/optim.md).

    Args:
        params, lr, momentum, nesterov, weight_decay, ns_steps, variant, adamw_*, ns_dtype,
            foreach: as :class:`Muon`.
        total_steps, sign_fraction, eps, tmax: the phase schedule (as :class:`SoftSignum`).
        soft_map: ``"algebraic"`` (default: the soft polar, by Newton–Schulz) or, with
            ``variant="exact"`` only, ``"tanh"`` (``U tanh(tau S) V^T`` by an exact SVD per
            matrix: slow, for comparison).
        ns_tol, ns_max_iter: stopping rule of the converged soft polar (``variant="exact"``).
        soft_polar_dtype: dtype of the soft polar (``None``: the variant's, float32 for
            ``"exact"`` on every device, bfloat16 for ``"paper"``; float64 makes ``"exact"`` runs
            that differ only by rounding, e.g. data-parallel ones, agree closely).
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float = 0.02,
        momentum: float = 0.95,
        nesterov: bool = True,
        weight_decay: float = 0.0,
        ns_steps: int = 5,
        *,
        total_steps: int,
        sign_fraction: float = 0.9,
        eps: float = 1e-4,
        tmax: float = 1e9,
        variant: str = "exact",
        soft_map: str = "algebraic",
        ns_tol: float = 1e-3,
        ns_max_iter: int = 30,
        adamw_lr: float = 3e-4,
        adamw_betas: tuple[float, float] = (0.9, 0.95),
        adamw_eps: float | None = None,
        adamw_weight_decay: float = 0.0,
        ns_dtype: torch.dtype | None = None,
        soft_polar_dtype: torch.dtype | None = None,
        foreach: bool | None = None,
    ) -> None:
        muon_defaults = dict(
            lr=lr,
            momentum=momentum,
            nesterov=nesterov,
            weight_decay=weight_decay,
            ns_steps=ns_steps,
            variant=variant,
            total_steps=total_steps,
            sign_fraction=sign_fraction,
            eps=eps,
            tmax=tmax,
            soft_map=soft_map,
            ns_tol=ns_tol,
            ns_max_iter=ns_max_iter,
            foreach=foreach,
        )
        adamw = _adamw_defaults(
            variant, adamw_lr, adamw_betas, adamw_eps, adamw_weight_decay, foreach
        )
        super().__init__(
            params, muon_defaults, adamw, ns_dtype=ns_dtype, soft_polar_dtype=soft_polar_dtype
        )
