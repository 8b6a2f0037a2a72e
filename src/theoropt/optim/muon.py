"""Muon and SoftMuon: (soft) polar updates for matrices, AdamW for the other parameters.

For a matrix parameter (convolution kernels flattened to ``out x rest``), with an EMA momentum
``m`` and ``rows x cols`` the matrix shape::

    p <- p * (1 - lr * weight_decay)
    m <- momentum * m + (1 - momentum) * g              # Nesterov: u = (1-momentum) g + momentum m
    O <- polar(u)                 in the sign phase     # quintic Newton–Schulz (Muon)
    O <- softpolar(u, tau_t)      in the transition     # SoftMuon (Feoktistov et al., 2026)
    p <- p - lr * scale(rows, cols) * O                 # scale: adjust_lr_fn

``scale`` is ``sqrt(max(1, rows / cols))`` (``adjust_lr_fn="original"``, Jordan et al., 2024)
or ``0.2 sqrt(max(rows, cols))`` (``"match_rms_adamw"``, Liu et al., 2025: the update's RMS
matches AdamW's, so one learning rate serves both kinds of parameters), as in
``torch.optim.Muon``. ``softpolar(G, tau) = U diag(phi(tau s)) V^T`` for
``G = U diag(s) V^T``; with the default algebraic soft map ``phi(z) = z / sqrt(1 + z^2)`` it is
``G (G^T G + tau^-2 I)^(-1/2)``, computed by a coupled Newton–Schulz iteration. The temperature
schedule is fitted once per group to the singular values of the raw gradients of its matrices
(exact SVD).

Two variants (:mod:`theoropt.optim.polar_variants`, a group setting): ``"paper"``, the Softsign
authors' code step for step (momentum started at zero, bfloat16 Newton–Schulz, exactly
``ns_steps`` coupled steps for the soft polar, AdamW ``eps`` 1e-10), and ``"exact"``,
theoropt's (momentum started at the first gradient, Newton–Schulz in ``"auto"`` precision, the
soft polar converged to a tolerance in float32). The default is ``"paper"``: in the char-lm
default mode it ended lower than ``"exact"`` in every seed (docs/optim.md).

Parameter groups stay the user's groups. Within a group the update is chosen per parameter:

* ``use_muon=True``: every parameter is a matrix (an error names any that is not);
* ``use_muon=False``: every parameter takes AdamW (Loshchilov & Hutter, 2019) steps with the
  group's ``lr``, ``weight_decay``, ``betas``, ``eps`` (defaults: the ``adamw_*`` arguments);
* no ``use_muon`` (plain parameters, or a group the user did not mark): parameters with 2 or more
  dims take the matrix update, the others AdamW steps — both with the group's own ``lr`` and
  ``weight_decay`` (and ``adamw_betas``, ``adamw_eps``), so a learning-rate scheduler and the
  group's settings reach all of them. For AdamW settings of their own, ask for separate groups
  (:func:`~theoropt.optim.split_params`).

Matrices of the same shape are stacked and orthogonalised in one batched call. A group with
``stacked=True`` treats the leading dims of each parameter as a stack of matrices
(mixture-of-experts weights ``(experts, out, in)``); otherwise a tensor of 3 or more dims is one
matrix ``out x rest`` (convolution kernels). Parameters sharded by FSDP2 (``DTensor``) are
orthogonalised round-robin across ranks, and replicated ones (DDP) are shared out across the
ranks of ``distributed_mesh`` (:mod:`theoropt.optim.sharded`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from importlib import import_module
from typing import Any, cast

import torch
import torch.distributed as dist
from torch import Tensor

from theoropt.optim import multi_tensor as mt
from theoropt.optim.hyperparameters import (
    as_float,
    check_bool,
    check_elementwise_tmax,
    check_fused_foreach,
    check_grad,
    check_int,
    check_lr,
    check_params,
    check_range,
    check_schedule,
    plain_number,
    plain_numbers,
)
from theoropt.optim.matrix_functions import newton_schulz_polar, ns_schedule
from theoropt.optim.phases import TemperatureScheduled
from theoropt.optim.polar_variants import (
    EXACT_NS_MAX_ITER,
    EXACT_NS_TOL,
    PolarVariant,
    get_polar_variant,
)
from theoropt.optim.precision import AUTO, DTYPES, dtype_name
from theoropt.optim.sharded import as_matrices, gathered, local, matrix_updates, process_group
from theoropt.optim.soft_maps import AlgebraicMap, get_soft_map

ParamsT = Iterable[Tensor] | Iterable[dict[str, Any]] | Iterable[tuple[str, Tensor]]

# torch.optim.adamw is shadowed by the class name in torch.optim's namespace.
_torch_adamw = import_module("torch.optim.adamw").adamw
# torch.optim.AdamW(fused=True)'s own check: floating-point parameters on a device with the kernel.
_check_fused_adamw_param = import_module("torch.optim.optimizer")._device_dtype_check_for_fused

ADJUST_LR_FNS: dict[str, Callable[[int, int], float]] = {
    "original": lambda rows, cols: math.sqrt(max(1.0, rows / cols)),
    "match_rms_adamw": lambda rows, cols: 0.2 * math.sqrt(max(rows, cols)),
}
"""Learning-rate factor of a ``rows x cols`` matrix update, by ``adjust_lr_fn``."""


def _has_fused_adamw(p: Tensor) -> bool:
    """Whether ``torch.optim``'s fused AdamW kernel takes ``p`` (CPU and CUDA floats)."""
    return p.device.type in ("cpu", "cuda") and p.dtype in (
        torch.float64,
        torch.float32,
        torch.float16,
        torch.bfloat16,
    )


def _layout(t: Tensor) -> tuple[tuple[int, int], ...]:
    """``(size, stride)`` of each dim of ``t`` with more than one entry: the order in which its
    memory holds its entries."""
    return tuple(
        (size, stride) for size, stride in zip(t.shape, t.stride(), strict=True) if size > 1
    )


def _is_dense(t: Tensor) -> bool:
    """Whether the entries of ``t`` fill a block of memory without gaps or overlaps."""
    expected = 1
    for size, stride in sorted(_layout(t), key=lambda dim: dim[1]):
        if stride != expected:
            return False
        expected *= size
    return True


def _fused_adamw_reads(p: Tensor, state: dict[str, Any]) -> bool:
    """Whether ``torch.optim``'s fused AdamW kernel updates ``p`` right.

    The kernel walks the memory of the parameter, its gradient and its moments in one order;
    torch's CUDA kernel checks that their layouts allow it, its CPU kernel does not (a strided
    column of a matrix had its updates written into the neighbouring column, and a gradient
    with other strides than its parameter's was read in the wrong order; torch 2.13). So ``p``
    must be dense and the others laid out as ``p``.
    """
    others = [p.grad, *(state[key] for key in ("exp_avg", "exp_avg_sq") if key in state)]
    return _is_dense(p) and all(_layout(t) == _layout(p) for t in others)


class _Shared:
    """A value that copies of the optimizer share instead of copying (a process group)."""

    def __init__(self, value: Any) -> None:
        self.value = value

    def __deepcopy__(self, memo: dict[int, Any]) -> _Shared:
        return self


VARIANT_BEFORE_VARIANTS = "exact"
"""The variant of a loaded ``state_dict`` group without ``variant`` (saved before variants
existed): the algorithm those states ran, whatever the optimizer's default now is."""


def _step_dtype() -> torch.dtype:
    """dtype of AdamW's per-parameter step counts (``torch.optim``'s rule)."""
    return torch.float64 if torch.get_default_dtype() == torch.float64 else torch.float32


def _canonicalise(group: dict[str, Any]) -> None:
    """Write the settings that have several spellings as the one the step reads.

    ``None`` stands for the group variant's value (``adamw_eps``; ``eps`` of a
    ``use_muon=False`` group; ``ns_dtype``: ``"auto"``; ``soft_polar_dtype`` stays ``None``) or
    torch's default (``adjust_lr_fn``: ``"original"``), and a ``torch.dtype`` becomes its name.
    Runs on every new group and on every loaded one (a ``state_dict`` saved before a setting
    existed gets it from ``defaults``, spelled as the user passed it). ``ValueError`` for an
    unknown variant or dtype.
    """
    variant = get_polar_variant(group["variant"])
    if group.get("use_muon") is False and group["eps"] is None:
        group["eps"] = variant.adamw_eps
    if group["adamw_eps"] is None:
        group["adamw_eps"] = variant.adamw_eps
    if group["adjust_lr_fn"] is None:
        group["adjust_lr_fn"] = "original"  # torch.optim.Muon's spelling of the default
    group["ns_dtype"] = dtype_name(
        AUTO if group["ns_dtype"] is None else group["ns_dtype"], "ns_dtype"
    )
    if group.get("soft_polar_dtype") is not None:
        group["soft_polar_dtype"] = dtype_name(
            group["soft_polar_dtype"], "soft_polar_dtype", allow_auto=False
        )


class _PolarDescent(TemperatureScheduled):
    """Shared implementation of :class:`Muon` and :class:`SoftMuon`."""

    _late_keys = (  # ``variant`` is loaded by its own rule (VARIANT_BEFORE_VARIANTS)
        "maximize",
        "foreach",
        "fused",
        "ns_dtype",
        "ns_coefficients",
        "adjust_lr_fn",
        "adamw_betas",
        "adamw_eps",
        "soft_polar_dtype",
    )

    def __init__(
        self,
        params: ParamsT,
        defaults: dict[str, Any],
        adamw_lr: float | None,
        adamw_weight_decay: float | None,
        distributed_mesh: Any,
    ) -> None:
        defaults = plain_numbers(defaults)
        adamw_lr, adamw_weight_decay = plain_number(adamw_lr), plain_number(adamw_weight_decay)
        check_lr(defaults["lr"])
        # the AdamW settings are checked here too: a run may have no group that takes them
        if adamw_lr is not None:
            check_lr(adamw_lr, "adamw_lr")
        if adamw_weight_decay is not None:
            check_range("adamw_weight_decay", adamw_weight_decay, 0.0)
        self._check_adamw(defaults["adamw_betas"], defaults["adamw_eps"], "adamw_")
        self._adamw_defaults = {
            "lr": 3e-4 if adamw_lr is None else adamw_lr,
            "weight_decay": 0.0 if adamw_weight_decay is None else adamw_weight_decay,
            "betas": defaults["adamw_betas"],
            "eps": defaults["adamw_eps"],  # None: the group's variant's
        }
        self._adamw_settings_given = adamw_lr is not None or adamw_weight_decay is not None
        self._distributed_group = _Shared(process_group(distributed_mesh))
        super().__init__(params, defaults)

    def __getstate__(self) -> dict[str, Any]:
        return {
            **super().__getstate__(),
            "_adamw_defaults": self._adamw_defaults,
            "_adamw_settings_given": self._adamw_settings_given,
            "_distributed_group": self._distributed_group,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        for group in state.get("param_groups", ()):
            # saved before variants existed, when the only algorithm was today's "exact"
            group.setdefault("variant", VARIANT_BEFORE_VARIANTS)
        super().__setstate__(state)
        self.__dict__.setdefault("_adamw_settings_given", False)  # pickled before it existed
        for group in self.param_groups:
            _canonicalise(group)
        for p_state in self.state.values():
            step = p_state.get("step")
            if step is not None and not torch.is_tensor(step):  # as torch.optim.AdamW loads it
                p_state["step"] = torch.tensor(float(step), dtype=_step_dtype())

    def _reject_unused_adamw_settings(self, group: dict[str, Any]) -> None:
        """``adamw_lr`` / ``adamw_weight_decay`` could not apply to the vectors of a group
        without ``use_muon`` (a constructor's or one added later): an error that says so."""
        if not self._adamw_settings_given or group.get("use_muon") is not None:
            return
        if any(p.ndim < 2 for p in group["params"]):
            raise ValueError(
                "adamw_lr / adamw_weight_decay are the settings of use_muon=False groups, "
                "but a group without use_muon holds non-matrix parameters: they take the "
                "group's own lr and weight_decay. Pass split_params(model) (or groups with "
                "use_muon) to give them AdamW settings of their own."
            )

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group; ``use_muon`` (True, False or absent) chooses its updates (module doc)."""
        use_muon = param_group.get("use_muon")
        if use_muon is not None and not isinstance(use_muon, bool):
            raise ValueError(f"use_muon must be True, False or absent, got {use_muon!r}")
        for key in ("adamw_lr", "adamw_weight_decay"):
            if key in param_group:  # constructor-only: a group's would be silently ignored
                raise ValueError(
                    f"{key} is a constructor setting (the default of use_muon=False groups); "
                    f"in a group, set {key.removeprefix('adamw_')} in a use_muon=False group"
                )
        if use_muon is False:
            for key, value in self._adamw_defaults.items():
                param_group.setdefault(key, value)
        super().add_param_group(param_group)

    def _check_group(self, group: dict[str, Any]) -> None:
        name = type(self).__name__
        use_muon = group.get("use_muon")
        check_params(group["params"], name)
        check_lr(group["lr"])
        check_range("weight_decay", group["weight_decay"], 0.0)
        check_bool("maximize", group["maximize"])
        check_fused_foreach(group["fused"], group["foreach"], name)
        self._reject_unused_adamw_settings(group)
        group.setdefault("step", 0)
        _canonicalise(group)
        if use_muon is False:
            self._check_adamw(group["betas"], group["eps"], "")
            return
        if use_muon is True:
            for p in group["params"]:
                if p.ndim < 2:
                    raise ValueError(
                        f"{name}: a use_muon group holds a {p.ndim}-D parameter of shape "
                        f"{tuple(p.shape)}; put vectors and scalars in a use_muon=False group"
                    )
        else:
            self._check_adamw(group["adamw_betas"], group["adamw_eps"], "adamw_")
        check_range("momentum", group["momentum"], 0.0, 1.0, high_open=True)
        check_bool("nesterov", group["nesterov"])
        check_int("ns_steps", group["ns_steps"], 1)
        ns_schedule(group["ns_coefficients"])
        if group["adjust_lr_fn"] not in ADJUST_LR_FNS:
            raise ValueError(
                f"Adjust learning rate function {group['adjust_lr_fn']} is not supported "
                f"(expected one of {list(ADJUST_LR_FNS)})"
            )
        group.setdefault("stacked", False)
        if not isinstance(group["stacked"], bool):
            raise ValueError(f"{name}: stacked must be True or False, got {group['stacked']!r}")
        if group.get("total_steps") is not None:
            check_schedule(
                group["total_steps"], group["sign_fraction"], group["eps"], group["tmax"]
            )
            if not isinstance(get_soft_map(group["soft_map"]), AlgebraicMap):  # an SVD's map
                check_elementwise_tmax(group["tmax"])
            check_range("ns_tol", group["ns_tol"], 0.0, 1.0, low_open=True)
            check_int("ns_max_iter", group["ns_max_iter"], 1)
        get_polar_variant(group["variant"]).check_group(group)
        group.setdefault("schedule", None)
        group.setdefault("schedule_statistics", None)

    @staticmethod
    def _check_adamw(betas: Any, eps: Any, prefix: str) -> None:
        """AdamW's ``betas`` and ``eps`` (``None``: the variant's, set later)."""
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise ValueError(f"{prefix}betas must be a pair (beta1, beta2), got {betas!r}")
        for beta in betas:
            check_range(f"{prefix}betas", beta, 0.0, 1.0, high_open=True)
        if eps is not None:
            check_range(f"{prefix}eps", eps, 0.0, low_open=True)

    @staticmethod
    def _matrices(group: dict[str, Any], params: list[Tensor]) -> list[Tensor]:
        """The parameters of ``group`` (among ``params``) that take the matrix update."""
        use_muon = group.get("use_muon")
        if use_muon is False:
            return []
        return [p for p in params if use_muon or p.ndim >= 2]

    def _has_phases(self, group: dict[str, Any]) -> bool:
        return bool(self._matrices(group, group["params"]))

    @staticmethod
    def _ns_dtype(group: dict[str, Any], device: torch.device) -> torch.dtype:
        """The dtype of the group's Newton–Schulz polar factor on ``device`` (``"auto"``: the
        variant's)."""
        if group["ns_dtype"] == AUTO:
            return get_polar_variant(group["variant"]).ns_dtype(device)
        return DTYPES[group["ns_dtype"]]

    @property
    def ns_dtypes(self) -> list[torch.dtype | None]:
        """The dtype of each group's Newton–Schulz iteration (``ns_dtype``, ``"auto"`` resolved
        for the variant and the device of the group's matrices); ``None`` for a group without
        matrices."""
        dtypes = []
        for group in self.param_groups:
            matrices = self._matrices(group, group["params"])
            dtypes.append(self._ns_dtype(group, matrices[0].device) if matrices else None)
        return dtypes

    def _temperature_samples(self, group: dict[str, Any]) -> Tensor:
        """Singular values of the raw gradients of the group's matrices (exact SVD, float64)."""
        stacked = group["stacked"]
        matrices = self._matrices(group, [p for p in group["params"] if p.grad is not None])
        grads = [gathered(cast(Tensor, p.grad)).double() for p in matrices if p.numel() > 0]
        if not all(torch.isfinite(g).all() for g in grads):
            raise ValueError(
                "non-finite values (NaN or inf) in the gradients the temperature schedule is "
                "fitted to; the gradients have diverged"
            )
        return torch.cat([torch.linalg.svdvals(as_matrices(g, stacked)).reshape(-1) for g in grads])

    def _schedule_statistics(self, samples: Callable[[], Tensor]) -> tuple[float, float]:
        """As every optimizer here; under ``distributed_mesh``, rank 0's numbers on every rank."""
        loc, scale = super()._schedule_statistics(samples)
        if self._distributed_group.value is None:
            return loc, scale
        shared = torch.tensor([loc, scale], dtype=torch.float64)
        dist.broadcast(shared, group=self._distributed_group.value, group_src=0)
        return float(shared[0]), float(shared[1])

    def _group_step(self, group: dict[str, Any]) -> None:
        params = [p for p in group["params"] if p.grad is not None]
        if not params:
            return
        for p in params:
            check_grad(p, type(self).__name__)
        matrices = self._matrices(group, params)
        chosen = {id(p) for p in matrices}
        others = [p for p in params if id(p) not in chosen]
        if others and group["fused"]:  # checked before any parameter moves, as torch does
            for p in others:
                _check_fused_adamw_param(p)
                if not _fused_adamw_reads(p, self.state.get(p, {})):
                    raise RuntimeError(
                        f"{type(self).__name__}: fused=True runs torch's fused AdamW kernel, "
                        "which needs a dense parameter whose gradient and moments have its "
                        f"strides; got a parameter of shape {tuple(p.shape)} with strides "
                        f"{p.stride()} and a gradient with strides {p.grad.stride()}. Use "
                        "fused=None (the multi-tensor path for such parameters) or False"
                    )
        matrices = [p for p in matrices if p.numel() > 0]  # an empty matrix has nothing to update
        if matrices:
            self._muon_step(group, matrices)
        if others:
            self._adamw_step(group, others)
        group["step"] += 1

    def _muon_step(self, group: dict[str, Any], params: list[Tensor]) -> None:
        foreach = True if group["foreach"] is None else group["foreach"]
        lr = as_float(group["lr"])
        if group["weight_decay"] != 0:
            mt.mul_(params, 1.0 - lr * group["weight_decay"], foreach)
        grads = [cast(Tensor, p.grad) for p in params]
        if group["maximize"]:
            grads = mt.negated(grads, foreach)
        beta, variant = group["momentum"], get_polar_variant(group["variant"])
        buffers, old_buffers, old_grads = [], [], []
        for p, g in zip(params, grads, strict=True):
            state = self.state[p]
            update_now = True
            if "momentum_buffer" not in state:
                state["momentum_buffer"], update_now = variant.start_momentum(g)
            if update_now:
                old_buffers.append(state["momentum_buffer"])
                old_grads.append(g)
            buffers.append(state["momentum_buffer"])
        if old_buffers:
            mt.lerp_(old_buffers, old_grads, 1.0 - beta, foreach)
        directions = buffers
        if group["nesterov"]:
            directions = [g.lerp(m, beta) for g, m in zip(grads, buffers, strict=True)]
        tau = None
        if not self._in_sign_phase(group):
            tau = self._transition_temperature(group, lambda: self._temperature_samples(group))
        updates = matrix_updates(
            directions,
            group["stacked"],
            lambda G: self._orthogonalise(G, tau, group, variant),
            self._distributed_group.value,
        )
        adjust_lr_fn = group["adjust_lr_fn"]
        scale_of = ADJUST_LR_FNS[adjust_lr_fn]
        for p, update in zip(params, updates, strict=True):
            matrix_shape = as_matrices(p, group["stacked"]).shape
            rows, cols = variant.scale_dims(p.shape, matrix_shape, adjust_lr_fn)
            local(p).add_(update.view_as(local(p)), alpha=-lr * scale_of(rows, cols))

    def _orthogonalise(
        self, G: Tensor, tau: Tensor | None, group: dict[str, Any], variant: PolarVariant
    ) -> Tensor:
        """Polar factor (sign phase: ``tau`` is ``None``) or the variant's soft polar factor of
        a batch."""
        if tau is None:
            return newton_schulz_polar(
                G,
                group["ns_steps"],
                coefficients=group["ns_coefficients"],
                dtype=self._ns_dtype(group, G.device),
            )
        name = group["soft_polar_dtype"]
        dtype = variant.soft_polar_dtype(G.device) if name is None else DTYPES[name]
        return variant.soft_polar(G, tau, group, dtype)

    def _adamw_step(self, group: dict[str, Any], params: list[Tensor]) -> None:
        """AdamW steps by ``torch.optim``'s functional AdamW (state ``exp_avg``, ``exp_avg_sq``,
        ``step`` per parameter, as ``torch.optim.AdamW``)."""
        adamw_group = group.get("use_muon") is False
        beta1, beta2 = group["betas"] if adamw_group else group["adamw_betas"]
        eps = group["eps"] if adamw_group else group["adamw_eps"]
        # Traced by a user's torch.compile: torch's capturable form keeps the bias corrections
        # and a tensor lr in tensors (no .item(), no graph break); eagerly its plain form, which
        # needs a float lr, is the same math.
        traced = torch.compiler.is_compiling()
        fused = group["fused"]
        if fused is None:  # torch's fused kernel where it has one, unless foreach was asked for
            eligible = all(
                _has_fused_adamw(p) and _fused_adamw_reads(p, self.state.get(p, {})) for p in params
            )
            fused = group["foreach"] is None and eligible and not traced
        step_dtype = torch.float32 if fused else _step_dtype()
        for p in params:
            state = self.state[p]
            if "exp_avg" not in state:
                state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                state["step"] = torch.tensor(0.0, dtype=step_dtype)
            elif "step" not in state:  # saved before the step was counted per parameter
                state["step"] = torch.tensor(float(group["step"]), dtype=step_dtype)
            if fused and state["step"].device != p.device:  # the fused kernel's requirement
                state["step"] = state["step"].to(p.device)
        states = [self.state[p] for p in params]
        _torch_adamw(
            params,
            [p.grad for p in params],
            [s["exp_avg"] for s in states],
            [s["exp_avg_sq"] for s in states],
            [],
            [s["step"] for s in states],
            foreach=not fused and group["foreach"] is not False,
            fused=fused,
            capturable=traced,
            amsgrad=False,
            beta1=beta1,
            beta2=beta2,
            lr=group["lr"] if traced else as_float(group["lr"]),
            weight_decay=group["weight_decay"],
            eps=eps,
            maximize=group["maximize"],
        )


class Muon(_PolarDescent):
    """Muon (Jordan et al., 2024) for matrices with AdamW for the other parameters.

    Pass ``split_params(model)`` (embeddings and the head to AdamW, with the ``adamw_*``
    settings) or plain parameters / groups without ``use_muon`` (then matrices take the Muon
    update and the other parameters AdamW steps, both with the group's ``lr`` and
    ``weight_decay``; see the module docstring). ``Muon(variant=v)`` is exactly the sign phase
    of ``SoftMuon(variant=v)``: ``"paper"`` is the Muon of the Softsign authors' code (as
    Jordan's: momentum started at zero, Newton–Schulz in bfloat16, AdamW ``eps`` 1e-10),
    ``"exact"`` theoropt's (momentum started at the first gradient, ``ns_dtype="auto"``
    precision, AdamW ``eps`` 1e-8).

    Args:
        params: parameters (or ``(name, parameter)`` pairs) or groups; a group's ``use_muon``
            (True / False / absent) chooses its updates.
        lr, momentum, nesterov, weight_decay, ns_steps: settings of the matrix updates (and,
            in groups without ``use_muon``, ``lr`` and ``weight_decay`` of their AdamW part).
        variant: ``"paper"`` (default) or ``"exact"`` (:mod:`theoropt.optim.polar_variants`;
            docs/optim.md says why the default).
        ns_coefficients: the quintic's ``(a, b, c)``, a per-step sequence of triples (the last
            repeats) or a name: ``"jordan"`` (default, ``(3.4445, -4.7750, 2.0315)``) or
            ``"polar_express"`` (Amsel et al., 2025, Algorithm 1).
        adjust_lr_fn: ``"original"`` (``sqrt(max(1, rows/cols))``) or ``"match_rms_adamw"``
            (``0.2 sqrt(max(rows, cols))``), as ``torch.optim.Muon``.
        adamw_lr, adamw_weight_decay: ``lr`` / ``weight_decay`` of ``use_muon=False`` groups
            (default 3e-4 / 0).
        adamw_betas, adamw_eps: AdamW's betas and eps for every group's AdamW part
            (``adamw_eps=None``: the variant's, 1e-10 paper, 1e-8 exact).
        ns_dtype: dtype of the Newton–Schulz iteration: ``"auto"`` (default: the variant's;
            ``"paper"`` bfloat16 everywhere, ``"exact"`` bfloat16 where the device multiplies it
            natively and float32 elsewhere, :mod:`theoropt.optim.precision`), or a
            ``torch.dtype`` or its name; the choice is visible as :attr:`ns_dtypes`.
        maximize: maximise the objective (the gradients' sign is flipped).
        foreach: multi-tensor kernels for the elementwise parts.
        fused: the AdamW part through ``torch.optim``'s fused AdamW kernel (``None``: where
            that kernel exists, i.e. CPU and CUDA floating-point parameters laid out as it
            reads them, unless ``foreach`` is set); the matrix part is dominated by the
            orthogonalisation and stays multi-tensor.
        distributed_mesh: a process group (or 1-D device mesh) over which replicated parameters
            (DistributedDataParallel) share the orthogonalisation work: each rank computes
            about ``1/world`` of it and the results are exchanged.
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float | Tensor = 0.02,
        *,
        momentum: float = 0.95,
        nesterov: bool = True,
        weight_decay: float = 0.0,
        ns_steps: int = 5,
        variant: str = "paper",
        ns_coefficients: Any = "jordan",
        adjust_lr_fn: str | None = "original",
        adamw_lr: float | None = None,
        adamw_betas: tuple[float, float] = (0.9, 0.95),
        adamw_eps: float | None = None,
        adamw_weight_decay: float | None = None,
        ns_dtype: torch.dtype | str = "auto",
        maximize: bool = False,
        foreach: bool | None = None,
        fused: bool | None = None,
        distributed_mesh: Any = None,
    ) -> None:
        defaults = dict(
            lr=lr,
            momentum=momentum,
            nesterov=nesterov,
            weight_decay=weight_decay,
            ns_steps=ns_steps,
            variant=variant,
            ns_coefficients=ns_coefficients,
            adjust_lr_fn=adjust_lr_fn,
            ns_dtype=ns_dtype,
            adamw_betas=tuple(adamw_betas),
            adamw_eps=adamw_eps,
            total_steps=None,
            maximize=maximize,
            foreach=foreach,
            fused=fused,
        )
        super().__init__(params, defaults, adamw_lr, adamw_weight_decay, distributed_mesh)


class SoftMuon(_PolarDescent):
    """SoftMuon (Feoktistov et al., "Softsign", ICML 2026): Muon, then a soft polar factor.

    The first ``round(sign_fraction * total_steps)`` steps are exactly ``Muon(variant=...)``;
    then ``softpolar(u, tau_t)`` with the quantile temperature schedule fitted once per group to
    the singular values of the raw gradients (soft-map inverse ``phi^-1(1 - eps)``, about 70.7
    for the algebraic map at ``eps = 1e-4``; temperatures clamped to ``[1, tmax]``).

    ``variant="paper"`` (default) is the authors' algorithm step for step: momentum started at
    zero, bfloat16 Newton–Schulz in both phases, the soft polar by exactly ``ns_steps`` coupled
    Newton–Schulz steps with no tolerance and no floor (which leaves small singular directions
    strongly damped), AdamW ``eps`` 1e-10. ``variant="exact"`` is theoropt's: momentum started
    at the first gradient, the soft polar converged to ``ns_tol`` in float32 (see
    :mod:`theoropt.optim.polar_variants` and docs/optim.md).

    Args:
        params, lr, momentum, nesterov, weight_decay, ns_steps, variant, ns_coefficients,
            adjust_lr_fn, adamw_*, ns_dtype, maximize, foreach, fused, distributed_mesh: as
            :class:`Muon`.
        total_steps, sign_fraction, eps, tmax: the phase schedule (as :class:`SoftSignum`).
        soft_map: ``"algebraic"`` (default: the soft polar, by Newton–Schulz) or, with
            ``variant="exact"`` only, ``"tanh"`` (``U tanh(tau S) V^T`` by an exact SVD per
            matrix: slow, for comparison).
        ns_tol, ns_max_iter: stopping rule of the converged soft polar (``variant="exact"``;
            other values than the defaults are an error with ``variant="paper"``).
        soft_polar_dtype: dtype of the soft polar (``None``: the variant's, float32 for
            ``"exact"`` on every device whatever ``ns_dtype`` is, since the iteration amplifies
            rounding, and bfloat16 for ``"paper"``; float64 makes ``"exact"`` runs that differ
            only by rounding, e.g. data-parallel ones, agree closely).
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float | Tensor = 0.02,
        *,
        momentum: float = 0.95,
        nesterov: bool = True,
        weight_decay: float = 0.0,
        ns_steps: int = 5,
        total_steps: int,
        sign_fraction: float = 0.9,
        eps: float = 1e-4,
        tmax: float = 1e9,
        soft_map: str = "algebraic",
        ns_tol: float = EXACT_NS_TOL,
        ns_max_iter: int = EXACT_NS_MAX_ITER,
        variant: str = "paper",
        ns_coefficients: Any = "jordan",
        adjust_lr_fn: str | None = "original",
        adamw_lr: float | None = None,
        adamw_betas: tuple[float, float] = (0.9, 0.95),
        adamw_eps: float | None = None,
        adamw_weight_decay: float | None = None,
        ns_dtype: torch.dtype | str = "auto",
        soft_polar_dtype: torch.dtype | str | None = None,
        maximize: bool = False,
        foreach: bool | None = None,
        fused: bool | None = None,
        distributed_mesh: Any = None,
    ) -> None:
        defaults = dict(
            lr=lr,
            momentum=momentum,
            nesterov=nesterov,
            weight_decay=weight_decay,
            ns_steps=ns_steps,
            variant=variant,
            ns_coefficients=ns_coefficients,
            adjust_lr_fn=adjust_lr_fn,
            ns_dtype=ns_dtype,
            adamw_betas=tuple(adamw_betas),
            adamw_eps=adamw_eps,
            total_steps=total_steps,
            sign_fraction=sign_fraction,
            eps=eps,
            tmax=tmax,
            soft_map=soft_map,
            ns_tol=ns_tol,
            ns_max_iter=ns_max_iter,
            soft_polar_dtype=soft_polar_dtype,
            maximize=maximize,
            foreach=foreach,
            fused=fused,
        )
        super().__init__(params, defaults, adamw_lr, adamw_weight_decay, distributed_mesh)
