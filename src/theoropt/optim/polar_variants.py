"""The two variants of Muon / SoftMuon: the Softsign authors' algorithm and theoropt's own.

A variant decides the parts of a step where the two differ; the rest of the step (EMA momentum
``m <- beta m + (1 - beta) g``, Nesterov direction ``u = (1 - beta) g + beta m``, the phase
clock and the temperature schedule fitted to the raw gradients' singular values) is shared.

* momentum buffer: ``"paper"`` starts it at zero (``m_1 = (1 - beta) g_1``), ``"exact"`` at
  the first gradient (``m_1 = g_1``);
* polar factor (sign phase): quintic Newton–Schulz, 5 steps, ``X / (||X||_F + 1e-7)``, in
  bfloat16 on every device (``"paper"``) or in bfloat16 where the device multiplies it natively
  and float32 elsewhere (``"exact"``, :func:`theoropt.optim.precision.auto_matmul_dtype`);
* soft polar (transition): ``"paper"`` runs exactly ``ns_steps`` coupled Newton–Schulz steps in
  bfloat16 with no tolerance and no floor on the shift, which damps the small singular
  directions strongly; ``"exact"`` runs the iteration to a tolerance in float32 with a floored
  shift (the converged soft polar), or applies any soft map by an SVD;
* update scale (``adjust_lr_fn``, by default ``sqrt(max(1, rows / cols))``): ``"paper"`` takes
  ``rows x cols`` of the ``"original"`` rule from the parameter's last two dims (the authors'),
  ``"exact"`` from the matrix the update was computed on; ``"match_rms_adamw"``, which is not
  the authors', takes the matrix in both;
* AdamW part: ``eps`` 1e-10 (``"paper"``) or 1e-8 (``"exact"``).

The authors' code is the repository brain-lab-research/softsign (``softmuon/softmuon.py``,
Apache-2.0); this module is written from its description, not copied. The scale rules differ
only for convolution kernels (the authors' code scales a ``(out, in, kh, kw)`` kernel by
``sqrt(max(1, kh / kw))``). Left as they are here, in both variants: the schedule's singular
values come from an exact SVD (the authors use an approximate one), its folded-Cauchy quantiles
are solved to convergence (the authors take 10 Newton steps), a 3-D kernel that is not a
``stacked`` group is one ``out x rest`` matrix (the authors' code orthogonalises its ``out``
slices separately), a parameter without a gradient is skipped (the authors give it a zero
gradient), and rounding: the authors round the scaled update to bfloat16 before adding it to
the parameter, and compute ``(c A) A`` where the batched code here computes ``c (A A)``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import torch
from torch import Tensor

from theoropt.optim.matrix_functions import soft_polar, soft_polar_newton_schulz, spectral_soft_map
from theoropt.optim.precision import auto_matmul_dtype
from theoropt.optim.soft_maps import AlgebraicMap, get_soft_map

EXACT_NS_TOL = 1e-3
EXACT_NS_MAX_ITER = 30
"""Defaults of ``ns_tol`` / ``ns_max_iter``: the stopping rule of the exact variant's soft polar,
which the paper variant does not have (it rejects other values)."""


class PolarVariant(ABC):
    """The parts of a Muon / SoftMuon step in which the variants differ."""

    name: str = ""
    adamw_eps: float = 1e-8
    """Default ``eps`` of the AdamW groups."""

    @abstractmethod
    def start_momentum(self, grad: Tensor) -> tuple[Tensor, bool]:
        """A new momentum buffer for ``grad``, and whether this step's EMA update still applies."""

    @abstractmethod
    def ns_dtype(self, device: torch.device) -> torch.dtype:
        """Precision of the quintic Newton–Schulz polar factor (the sign phase) on ``device``."""

    @abstractmethod
    def soft_polar_dtype(self, device: torch.device) -> torch.dtype:
        """Precision of the soft polar factor (the transition) on ``device``."""

    @abstractmethod
    def soft_polar(
        self, G: Tensor, tau: Tensor, group: dict[str, Any], dtype: torch.dtype
    ) -> Tensor:
        """The transition's update of a batch ``(k, rows, cols)`` of directions at ``tau``."""

    @abstractmethod
    def scale_dims(
        self, param_shape: torch.Size, matrix_shape: torch.Size, adjust_lr_fn: str
    ) -> tuple[int, int]:
        """The ``(rows, cols)`` that set the ``adjust_lr_fn`` update scale of a parameter
        (shape) whose update was computed on a matrix (shape)."""

    @abstractmethod
    def check_group(self, group: dict[str, Any]) -> None:
        """Reject settings this variant cannot run (``ValueError`` naming them)."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class PaperVariant(PolarVariant):
    """The Softsign authors' SoftMuon and its Muon phase, step for step (module docstring)."""

    name = "paper"
    adamw_eps = 1e-10

    def start_momentum(self, grad: Tensor) -> tuple[Tensor, bool]:
        return torch.zeros_like(grad), True

    def ns_dtype(self, device: torch.device) -> torch.dtype:
        return torch.bfloat16

    def soft_polar_dtype(self, device: torch.device) -> torch.dtype:
        return torch.bfloat16

    def soft_polar(
        self, G: Tensor, tau: Tensor, group: dict[str, Any], dtype: torch.dtype
    ) -> Tensor:
        return soft_polar_newton_schulz(G, tau, group["ns_steps"], dtype=dtype)

    def scale_dims(
        self, param_shape: torch.Size, matrix_shape: torch.Size, adjust_lr_fn: str
    ) -> tuple[int, int]:
        """The authors' ``sqrt(max(1, rows / cols))`` reads the parameter's last two dims (a
        convolution kernel's ``kh x kw``); ``"match_rms_adamw"`` is not theirs and matches
        AdamW's RMS only with the orthogonalised matrix's sides."""
        if adjust_lr_fn == "original":
            return param_shape[-2], param_shape[-1]
        return matrix_shape[-2], matrix_shape[-1]

    def check_group(self, group: dict[str, Any]) -> None:
        if group.get("total_steps") is None:
            return
        if not isinstance(get_soft_map(group["soft_map"]), AlgebraicMap):
            raise ValueError(
                f"variant='paper' is the authors' algebraic soft polar; soft_map="
                f"{group['soft_map']!r} is only available with variant='exact'"
            )
        if (group["ns_tol"], group["ns_max_iter"]) != (EXACT_NS_TOL, EXACT_NS_MAX_ITER):
            raise ValueError(
                f"ns_tol={group['ns_tol']!r} / ns_max_iter={group['ns_max_iter']!r} set the "
                "stopping rule of variant='exact'; variant='paper' runs exactly ns_steps "
                "coupled Newton–Schulz steps (pass variant='exact' or leave them unset)"
            )


class ExactVariant(PolarVariant):
    """theoropt's variant: the converged soft polar (module docstring)."""

    name = "exact"
    adamw_eps = 1e-8

    def start_momentum(self, grad: Tensor) -> tuple[Tensor, bool]:
        return grad.detach().clone(), False

    def ns_dtype(self, device: torch.device) -> torch.dtype:
        return auto_matmul_dtype(device)

    def soft_polar_dtype(self, device: torch.device) -> torch.dtype:
        return torch.float32

    def check_group(self, group: dict[str, Any]) -> None:
        """Every soft map and precision is available."""

    def soft_polar(
        self, G: Tensor, tau: Tensor, group: dict[str, Any], dtype: torch.dtype
    ) -> Tensor:
        soft_map = get_soft_map(group["soft_map"])
        if isinstance(soft_map, AlgebraicMap):
            return soft_polar(
                G, tau, tol=group["ns_tol"], max_iter=group["ns_max_iter"], dtype=dtype
            )
        return spectral_soft_map(G, float(tau), soft_map)

    def scale_dims(
        self, param_shape: torch.Size, matrix_shape: torch.Size, adjust_lr_fn: str
    ) -> tuple[int, int]:
        return matrix_shape[-2], matrix_shape[-1]


POLAR_VARIANTS: dict[str, PolarVariant] = {v.name: v for v in (PaperVariant(), ExactVariant())}


def get_polar_variant(variant: str) -> PolarVariant:
    """The variant called ``variant``: ``"paper"`` or ``"exact"``."""
    if not isinstance(variant, str) or variant not in POLAR_VARIANTS:
        known = ", ".join(repr(name) for name in POLAR_VARIANTS)
        raise ValueError(f"unknown variant {variant!r}; expected one of {known}")
    return POLAR_VARIANTS[variant]
