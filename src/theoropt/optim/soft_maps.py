"""Soft sign maps: smooth, odd, increasing maps of R onto (-1, 1) that tend to sign(z).

In the Softsign framework (Feoktistov et al., ICML 2026, Sec. 3) an update is the minimiser of
``<m, d> + V(d) / tau`` for a strongly convex regulariser ``V``; the minimiser is
``-phi(tau * m)`` for a soft map ``phi`` determined by ``V``. As ``tau -> inf`` every soft map
tends to the sign (Signum) or, applied to singular values, to the polar factor (Muon):

* ``"tanh"``: ``phi(z) = tanh(z)`` (entropy-type regulariser, the paper's SoftSignum);
* ``"algebraic"``: ``phi(z) = z / sqrt(1 + z^2)``; on singular values it is the soft polar
  factor ``G (G^T G + tau^-2 I)^(-1/2)`` used by SoftMuon.

Each map knows its inverse, which the temperature schedule needs: ``tau = phi^-1(1 - eps) / q``
makes every coordinate with ``|m| >= q`` land within ``eps`` of +-1.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Iterable

import torch
from torch import Tensor

from theoropt.optim import multi_tensor as mt


class SoftMap(ABC):
    """An odd, increasing map of R onto (-1, 1) with a closed-form inverse.

    ``phi(scale * z) = gain * core(prefactor(scale) * z) + offset``: the input is multiplied by
    :meth:`prefactor` (one pass that also makes the copy), :meth:`finish_` computes the core in
    place, and the affine part is applied by :meth:`applied` or folded by the
    optimizer into the parameter update (:meth:`add_mapped_`), which saves two passes.
    """

    name: str = ""
    gain: float = 1.0
    offset: float = 0.0

    @abstractmethod
    def prefactor(self, scale: float | Tensor) -> float | Tensor:
        """The factor the input is multiplied by before :meth:`finish_`."""

    @abstractmethod
    def finish_(self, tensors: list[Tensor], foreach: bool) -> None:
        """The core of ``phi`` in place, on inputs already multiplied by :meth:`prefactor`."""

    @abstractmethod
    def inverse(self, y: float) -> float:
        """``phi^-1(y)`` for ``y`` in (-1, 1)."""

    def applied(
        self, tensors: list[Tensor], scale: float | Tensor, foreach: bool, *, affine: bool = True
    ) -> list[Tensor]:
        """New tensors ``phi(scale * t)`` (only the core if not ``affine``)."""
        out = mt.scaled(tensors, self.prefactor(scale), foreach)
        self.finish_(out, foreach)
        if affine:
            self._affine_(out, foreach)
        return out

    def add_mapped_(
        self, targets: list[Tensor], cores: list[Tensor], alpha: float, foreach: bool
    ) -> None:
        """``target += alpha * phi`` given the cores (``affine=False`` results)."""
        mt.add_(targets, cores, alpha * self.gain, foreach)
        if self.offset:
            mt.add_scalar_(targets, alpha * self.offset, foreach)

    def _affine_(self, tensors: list[Tensor], foreach: bool) -> None:
        if self.gain != 1.0:
            mt.mul_(tensors, self.gain, foreach)
        if self.offset:
            mt.add_scalar_(tensors, self.offset, foreach)

    def for_dtypes(self, dtypes: Iterable[torch.dtype]) -> SoftMap:
        """The same map, evaluated in a form that is accurate in each of ``dtypes``."""
        return self

    def elementwise(self, z: Tensor) -> Tensor:
        """``phi(z)`` of one tensor in plain tensor operations (compiled by the fused path)."""
        return self.applied([z], 1.0, foreach=False)[0]

    def native_form(self, dtype: torch.dtype) -> tuple[str, tuple[float, ...]] | None:
        """:meth:`elementwise` as the C++ kernel knows it (:mod:`theoropt.optim.native_kernel`):
        a form's name and its values; ``None`` (a map of the user's own): the kernel cannot."""
        return None

    def __call__(self, z: Tensor, scale: float | Tensor = 1.0) -> Tensor:
        """``phi(scale * z)`` of one tensor."""
        return self.for_dtypes([z.dtype]).applied([z], scale, foreach=False)[0]

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


_TANH_NUMERATOR = (
    1.0,
    0.13383980451010033,
    0.0034989963081863834,
    2.0661267291100736e-05,
    1.3419830493816703e-08,
)
_TANH_DENOMINATOR = (
    1.0,
    0.46717301932844546,
    0.025890207206513787,
    0.00032910387885319705,
    7.804732441247446e-07,
)
_TANH_CLAMP = 9.0


class TanhMap(SoftMap):
    """``tanh(z)``, evaluated as ``2 * sigmoid(2z) - 1`` (multi-tensor path) or by a rational
    approximation (fused path).

    On the CPU ``torch.sigmoid`` is markedly cheaper than ``torch.tanh`` (benchmarks/
    optim_step_time.py measures both). The identity is exact; in float32 the subtraction costs
    an absolute error of at most about 1.8e-7 (measured on a dense grid against float64 tanh),
    far below any learning-rate-scaled update that matters.

    In a fused kernel even ``sigmoid`` makes the step compute-bound (its ``exp``), so
    :meth:`elementwise` uses ``z P(z^2) / Q(z^2)`` with ``P``, ``Q`` of degree 4 in ``z^2``
    (``P(0) = Q(0) = 1``) and the input clamped to ``[-9, 9]`` (where tanh rounds to +-1 in
    float32). The coefficients are ours: a least-squares fit of the linearised relative error
    on ``(0, 9]``, reweighted towards minimax (Lawson's iteration). Measured against float64
    tanh on a dense grid: relative error 2.1e-8 in exact arithmetic and at most 3.6e-7
    evaluated in float32 with separate multiplies and adds, 3.0e-7 with fused multiply-adds (as
    the fused kernel is compiled; 4 M points in ``[-12, 12]``, 3.4e-7 on the first fit's coarser
    grid; torch.tanh: 3e-8); odd and exact at 0 by construction; its
    largest value is ``1 + 2.4e-7`` (``1 + 1.2e-7`` with fused multiply-adds; clamping it cost
    7 % of the step).

    The sigmoid form is used in float32 and float64 only (:meth:`for_dtypes`): in bfloat16 and
    float16 ``sigmoid(2z)`` near 1/2 is rounded to a spacing of 2^-8 / 2^-11, so ``2 s - 1``
    would be exactly 0 for every ``|z|`` below about 2e-3 / 2.4e-4 (the small updates of the
    transition); there ``torch.tanh`` itself is evaluated (:class:`DirectTanhMap`).
    """

    name = "tanh"
    gain = 2.0
    offset = -1.0

    def prefactor(self, scale: float | Tensor) -> float | Tensor:
        return 2.0 * scale

    def finish_(self, tensors: list[Tensor], foreach: bool) -> None:
        mt.sigmoid_(tensors, foreach)

    def for_dtypes(self, dtypes: Iterable[torch.dtype]) -> SoftMap:
        """This map for float32 / float64 tensors, :class:`DirectTanhMap` if any is narrower."""
        if all(dtype in _SIGMOID_FORM_DTYPES for dtype in dtypes):
            return self
        return _DIRECT_TANH

    def elementwise(self, z: Tensor) -> Tensor:
        z = z.clamp(-_TANH_CLAMP, _TANH_CLAMP)
        square = z * z
        return z * _estrin(_TANH_NUMERATOR, square) / _estrin(_TANH_DENOMINATOR, square)

    def native_form(self, dtype: torch.dtype) -> tuple[str, tuple[float, ...]] | None:
        """``z P(z^2) / Q(z^2)`` on ``z`` clamped to the bound: the bound, P's and Q's
        coefficients."""
        return "odd_rational", (_TANH_CLAMP, *_TANH_NUMERATOR, *_TANH_DENOMINATOR)

    def inverse(self, y: float) -> float:
        return math.atanh(y)


_SIGMOID_FORM_DTYPES = (torch.float32, torch.float64)


class DirectTanhMap(TanhMap):
    """``tanh(z)`` by ``torch.tanh``: what :class:`TanhMap` evaluates in bfloat16 and float16."""

    gain = 1.0
    offset = 0.0

    def prefactor(self, scale: float | Tensor) -> float | Tensor:
        return scale

    def finish_(self, tensors: list[Tensor], foreach: bool) -> None:
        mt.tanh_(tensors, foreach)

    def for_dtypes(self, dtypes: Iterable[torch.dtype]) -> SoftMap:
        return self


_DIRECT_TANH = DirectTanhMap()


def _square_safe_bound(dtype: torch.dtype) -> float:
    """Half the square root of ``dtype``'s largest value: ``1 + z^2`` is finite for ``|z|`` up
    to it, and ``z / sqrt(1 + z^2)`` rounds to +-1 there in every floating dtype."""
    return math.sqrt(torch.finfo(dtype).max) / 2


class AlgebraicMap(SoftMap):
    """``z / sqrt(1 + z^2)``: the algebraic soft sign; on singular values, the soft polar.

    The input is clamped to ``+-sqrt(max) / 2`` of its dtype first (where the map rounds to
    +-1): beyond, ``z^2`` overflows and the map would give 0 (NaN at infinity) instead of +-1
    (above 256 in float16, 1.8e19 in float32).
    """

    name = "algebraic"

    def prefactor(self, scale: float | Tensor) -> float | Tensor:
        return scale

    def finish_(self, tensors: list[Tensor], foreach: bool) -> None:
        mt.clamp_(tensors, [_square_safe_bound(t.dtype) for t in tensors], foreach)
        denominators = mt.squares(tensors, foreach)
        mt.add_scalar_(denominators, 1.0, foreach)
        mt.rsqrt_(denominators, foreach)
        mt.mul_elementwise_(tensors, denominators, foreach)

    def native_form(self, dtype: torch.dtype) -> tuple[str, tuple[float, ...]] | None:
        """``z / sqrt(1 + z^2)`` on ``z`` clamped to the bound of ``dtype``."""
        return "algebraic", (_square_safe_bound(dtype),)

    def inverse(self, y: float) -> float:
        return y / math.sqrt((1.0 - y) * (1.0 + y))


def _estrin(c: tuple[float, float, float, float, float], x: Tensor) -> Tensor:
    """``c0 + c1 x + c2 x^2 + c3 x^3 + c4 x^4`` by Estrin's scheme (a shorter dependency chain
    than Horner's rule: the fused kernel is compute-bound on the CPU)."""
    x2 = x * x
    return (c[0] + c[1] * x) + x2 * ((c[2] + c[3] * x) + x2 * c[4])


SOFT_MAPS: dict[str, SoftMap] = {m.name: m for m in (TanhMap(), AlgebraicMap())}


def get_soft_map(soft_map: str | SoftMap) -> SoftMap:
    """The soft map called ``soft_map`` (``"tanh"`` or ``"algebraic"``), or ``soft_map`` itself."""
    if isinstance(soft_map, SoftMap):
        return soft_map
    if soft_map not in SOFT_MAPS:
        known = ", ".join(repr(name) for name in SOFT_MAPS)
        raise ValueError(f"unknown soft_map {soft_map!r}; expected one of {known}")
    return SOFT_MAPS[soft_map]
