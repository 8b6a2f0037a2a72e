"""Muon and SoftMuon: (soft) polar updates for matrices, AdamW for the other parameters.

For a matrix parameter (convolution kernels flattened to ``out x rest``), with an EMA momentum
``m`` (set to the first gradient) and ``rows x cols`` the matrix shape::

    p <- p * (1 - lr * weight_decay)
    m <- momentum * m + (1 - momentum) * g              # Nesterov: u = (1-momentum) g + momentum m
    O <- polar(u)                 in the sign phase     # quintic Newton–Schulz (Muon)
    O <- softpolar(u, tau_t)      in the transition     # SoftMuon (Feoktistov et al., 2026)
    p <- p - lr * sqrt(max(1, rows / cols)) * O

``softpolar(G, tau) = U diag(phi(tau s)) V^T`` for ``G = U diag(s) V^T``; with the default
algebraic soft map ``phi(z) = z / sqrt(1 + z^2)`` it is ``G (G^T G + tau^-2 I)^(-1/2)``, computed
by a coupled Newton–Schulz iteration to a tolerance. The temperature schedule is fitted once
per group to the singular values of the raw gradients of its matrices (exact SVD).

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
from theoropt.optim.matrix_functions import newton_schulz_polar, soft_polar, spectral_soft_map
from theoropt.optim.phases import TemperatureScheduled
from theoropt.optim.sharded import as_matrices, gathered, local, matrix_updates
from theoropt.optim.soft_maps import AlgebraicMap, get_soft_map

ParamsT = Iterable[Tensor] | Iterable[dict[str, Any]]


def default_ns_dtype(device: torch.device) -> torch.dtype:
    """bfloat16 on CUDA (tensor cores), float32 elsewhere (bfloat16 matmuls are slow on CPUs)."""
    return torch.bfloat16 if device.type == "cuda" else torch.float32


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
        group.setdefault("schedule", None)
        group.setdefault("schedule_statistics", None)
        group.setdefault("temperature", None)

    def _temperature_samples(self, group: dict[str, Any]) -> Tensor:
        """Singular values of the raw gradients of the group's matrices (exact SVD, float64)."""
        stacked = group["stacked"]
        grads = [gathered(p.grad).double() for p in group["params"] if p.grad is not None]
        return torch.cat([torch.linalg.svdvals(as_matrices(g, stacked)).reshape(-1) for g in grads])

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
        beta = group["momentum"]
        buffers, old_buffers, old_grads = [], [], []
        for p, g in zip(params, grads, strict=True):
            state = self.state[p]
            if "momentum_buffer" not in state:
                state["momentum_buffer"] = g.detach().clone()
            else:
                old_buffers.append(state["momentum_buffer"])
                old_grads.append(g)
            buffers.append(state["momentum_buffer"])
        if old_buffers:
            mt.lerp_(old_buffers, old_grads, 1.0 - beta, foreach)
        directions = buffers
        if group["nesterov"]:
            directions = [g.lerp(m, beta) for g, m in zip(grads, buffers, strict=True)]
        tau = self._step_temperature(group)
        group["temperature"] = tau
        updates = matrix_updates(
            directions, group["stacked"], lambda G: self._orthogonalise(G, tau, group)
        )
        for p, update in zip(params, updates, strict=True):
            rows, cols = as_matrices(p, group["stacked"]).shape[-2:]
            scale = math.sqrt(max(1.0, rows / cols))
            local(p).add_(update.view_as(local(p)), alpha=-group["lr"] * scale)

    def _orthogonalise(self, G: Tensor, tau: float, group: dict[str, Any]) -> Tensor:
        """Polar factor (``tau = inf``) or soft polar factor of a batch of matrices."""
        if math.isinf(tau):
            dtype = self.ns_dtype or default_ns_dtype(G.device)
            return newton_schulz_polar(G, group["ns_steps"], dtype=dtype)
        soft_map = get_soft_map(group["soft_map"])
        if isinstance(soft_map, AlgebraicMap):
            return soft_polar(
                G,
                tau,
                tol=group["ns_tol"],
                max_iter=group["ns_max_iter"],
                dtype=self.soft_polar_dtype or torch.float32,
            )
        return spectral_soft_map(G, tau, soft_map)

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
    lr: float, betas: tuple[float, float], eps: float, weight_decay: float, foreach: bool | None
) -> dict[str, Any]:
    return dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, foreach=foreach)


class Muon(_PolarDescent):
    """Muon (Jordan et al., 2024) for matrices with AdamW for the other parameters.

    Pass ``split_params(model)`` (embeddings and the head to AdamW) or plain parameters (then
    matrices go to Muon and the rest to AdamW). The polar factor is the quintic Newton–Schulz
    iteration in ``ns_dtype`` (default: float32 on CPU, bfloat16 on CUDA).

    Args:
        params: parameters or groups; groups with ``use_muon`` True/False pick the update.
        lr, momentum, nesterov, weight_decay, ns_steps: settings of the Muon groups.
        adamw_lr, adamw_betas, adamw_eps, adamw_weight_decay: defaults of the AdamW groups.
        ns_dtype: dtype of the Newton–Schulz iteration (``None``: per device, see above).
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
        adamw_lr: float = 3e-4,
        adamw_betas: tuple[float, float] = (0.9, 0.95),
        adamw_eps: float = 1e-8,
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
            total_steps=None,
            foreach=foreach,
        )
        adamw = _adamw_defaults(adamw_lr, adamw_betas, adamw_eps, adamw_weight_decay, foreach)
        super().__init__(params, muon_defaults, adamw, ns_dtype=ns_dtype)


class SoftMuon(_PolarDescent):
    """SoftMuon (Feoktistov et al., "Softsign", ICML 2026): Muon, then a soft polar factor.

    The first ``round(sign_fraction * total_steps)`` steps are exactly :class:`Muon`; then
    ``softpolar(u, tau_t)`` with the quantile temperature schedule fitted once per group to the
    singular values of the raw gradients (soft-map inverse ``phi^-1(1 - eps)``, about 70.7 for
    the algebraic map at ``eps = 1e-4``; temperatures clamped to ``[1, tmax]``).

    Args:
        params, lr, momentum, nesterov, weight_decay, ns_steps, adamw_*, ns_dtype, foreach:
            as :class:`Muon`.
        total_steps, sign_fraction, eps, tmax: the phase schedule (as :class:`SoftSignum`).
        soft_map: ``"algebraic"`` (default: the soft polar, by Newton–Schulz) or ``"tanh"``
            (``U tanh(tau S) V^T`` by an exact SVD per matrix: slow, for comparison).
        ns_tol, ns_max_iter: stopping rule of the coupled Newton–Schulz inverse square root.
        soft_polar_dtype: dtype of the soft polar (``None``: float32 on every device; float64
            makes runs that differ only by rounding, e.g. data-parallel ones, agree closely).
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
        soft_map: str = "algebraic",
        ns_tol: float = 1e-3,
        ns_max_iter: int = 30,
        adamw_lr: float = 3e-4,
        adamw_betas: tuple[float, float] = (0.9, 0.95),
        adamw_eps: float = 1e-8,
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
            total_steps=total_steps,
            sign_fraction=sign_fraction,
            eps=eps,
            tmax=tmax,
            soft_map=soft_map,
            ns_tol=ns_tol,
            ns_max_iter=ns_max_iter,
            foreach=foreach,
        )
        adamw = _adamw_defaults(adamw_lr, adamw_betas, adamw_eps, adamw_weight_decay, foreach)
        super().__init__(
            params, muon_defaults, adamw, ns_dtype=ns_dtype, soft_polar_dtype=soft_polar_dtype
        )
