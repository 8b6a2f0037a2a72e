"""Matrix functions of the Muon family, batched over leading dimensions.

* :func:`newton_schulz_polar`: the quintic Newton–Schulz iteration of Muon (Jordan et al.,
  2024), an approximate polar factor ``U V^T`` of ``G = U diag(s) V^T``, with one coefficient
  triple for every step or a per-step schedule (:class:`NewtonSchulzSchedule`, e.g. the Polar
  Express of Amsel et al., 2025).
* :func:`inverse_sqrt_newton_schulz`: the coupled Newton–Schulz iteration for ``A^(-1/2)`` of a
  symmetric positive definite ``A`` (Higham, *Functions of Matrices*, 2008, eq. 6.35), run to
  a tolerance on the residual ``||I - Z Y||_F``.
* :func:`soft_polar`: ``G (G^T G + tau^-2 I)^(-1/2) = U diag(s / sqrt(s^2 + tau^-2)) V^T``,
  the update of SoftMuon (Feoktistov et al., ICML 2026), converged to a tolerance.
* :func:`soft_polar_newton_schulz`: the soft polar as the Softsign authors compute it, a fixed
  number of coupled Newton–Schulz steps (by default in bfloat16) with no tolerance: softer than
  :func:`soft_polar` in the small singular directions.

Each computes in the dtype it is given (or its input's), with autocast switched off on the
input's device: inside a user's ``torch.autocast`` region too.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple, TypeVar

import torch
from torch import Tensor

from theoropt.optim.precision import auto_matmul_dtype
from theoropt.optim.soft_maps import SoftMap

_Result = TypeVar("_Result")


def _outside_autocast(function: Callable[..., _Result]) -> Callable[..., _Result]:
    """``function(G, ...)`` with autocast switched off on ``G``'s device.

    Each matrix function computes in the dtype it is given (or ``G``'s); inside a user's
    ``torch.autocast`` region its matrix products would otherwise run in the autocast dtype
    (measured on the CPU: a relative change of 1e-3 to 1e-2 and, without native bfloat16,
    10-250 times the time).
    """

    @functools.wraps(function)
    def outside_autocast(G: Tensor, *args: Any, **kwargs: Any) -> _Result:
        device_type = G.device.type
        if not torch.amp.is_autocast_available(device_type):
            return function(G, *args, **kwargs)
        with torch.autocast(device_type, enabled=False):
            return function(G, *args, **kwargs)

    return outside_autocast


QUINTIC_COEFFICIENTS = (3.4445, -4.7750, 2.0315)
"""``(a, b, c)`` of ``X <- a X + (b A + c A^2) X``, ``A = X X^T`` (Muon's tuned quintic)."""


class NewtonSchulzSchedule(NamedTuple):
    """The odd quintics ``p_k(x) = a_k x + b_k x^3 + c_k x^5`` applied to the singular values.

    Step ``k`` uses ``coefficients[min(k, len - 1)]`` (the last triple repeats); the iteration
    starts from ``X_0 = G / (norm_factor * ||G||_F + eps)``.
    """

    coefficients: tuple[tuple[float, float, float], ...]
    norm_factor: float = 1.0

    def at(self, step: int) -> tuple[float, float, float]:
        """The coefficients of step ``step`` (0-based)."""
        return self.coefficients[min(step, len(self.coefficients) - 1)]


_POLAR_EXPRESS_RAW = (
    (8.28721201814563, -23.595886519098837, 17.300387312530933),
    (4.107059111542203, -2.9478499167379106, 0.5448431082926601),
    (3.9486908534822946, -2.908902115962949, 0.5518191394370137),
    (3.3184196573706015, -2.488488024314874, 0.51004894012372),
    (2.300652019954817, -1.6689039845747493, 0.4188073119525673),
    (1.891301407787398, -1.2679958271945868, 0.37680408948524835),
    (1.8750014808534479, -1.2500016453999487, 0.3750001645474248),
    (1.875, -1.25, 0.375),
)
_POLAR_EXPRESS_SAFETY = 1.01

NS_SCHEDULES: dict[str, NewtonSchulzSchedule] = {
    # Muon's quintic for every step (Jordan et al., 2024).
    "jordan": NewtonSchulzSchedule((QUINTIC_COEFFICIENTS,)),
    # Polar Express, degree 5 (Amsel, Persson, Musco, Gower, 2025, Algorithm 1): the minimax
    # quintics for sign(x) on [1e-3, 1] composed step by step; every polynomial but the last is
    # damped by the safety factor, p(x / 1.01), and the input is normalised by 1.01 ||G||_F.
    "polar_express": NewtonSchulzSchedule(
        tuple(
            (a / _POLAR_EXPRESS_SAFETY, b / _POLAR_EXPRESS_SAFETY**3, c / _POLAR_EXPRESS_SAFETY**5)
            for a, b, c in _POLAR_EXPRESS_RAW[:-1]
        )
        + _POLAR_EXPRESS_RAW[-1:],
        norm_factor=_POLAR_EXPRESS_SAFETY,
    ),
}
"""Named Newton–Schulz schedules accepted as ``ns_coefficients``."""


def ns_schedule(spec: Any) -> NewtonSchulzSchedule:
    """The schedule named by ``spec``: a name in :data:`NS_SCHEDULES`, one ``(a, b, c)`` triple
    (every step), a sequence of triples (one per step, the last repeating) or a schedule."""
    if isinstance(spec, NewtonSchulzSchedule):
        return spec
    if isinstance(spec, str):
        if spec not in NS_SCHEDULES:
            known = ", ".join(repr(name) for name in NS_SCHEDULES)
            raise ValueError(f"unknown ns_coefficients {spec!r}; expected one of {known}")
        return NS_SCHEDULES[spec]
    message = (
        "ns_coefficients must be a name, an (a, b, c) triple or a sequence of triples, "
        f"got {spec!r}"
    )
    if not isinstance(spec, Sequence) or len(spec) == 0:
        raise ValueError(message)
    triples = [spec] if not isinstance(spec[0], Sequence) else list(spec)
    for triple in triples:
        if not isinstance(triple, Sequence) or len(triple) != 3:
            raise ValueError(message)
        for value in triple:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(message)
            if not math.isfinite(value):
                raise ValueError(message)
    return NewtonSchulzSchedule(tuple((float(a), float(b), float(c)) for a, b, c in triples))


def _check_matrices(G: Tensor, name: str) -> None:
    if G.ndim < 2:
        shape = tuple(G.shape)
        raise ValueError(f"{name} needs a matrix or a batch of matrices, got shape {shape}")
    if G.is_complex() or not G.is_floating_point():
        raise TypeError(f"{name} needs a real floating-point tensor, got {G.dtype}")
    if G.is_sparse:
        raise TypeError(f"{name} does not support sparse tensors")


class Arithmetic(NamedTuple):
    """How an iteration computes in a dtype: tensors are held in ``work`` and every result is
    passed through ``rounded``."""

    work: torch.dtype
    rounded: Callable[[Tensor], Tensor]


def _unchanged(t: Tensor) -> Tensor:
    return t


def _to_bfloat16_values(t: Tensor) -> Tensor:
    return t.to(torch.bfloat16).to(torch.float32)


def arithmetic(dtype: torch.dtype, device: torch.device) -> Arithmetic:
    """Native arithmetic in ``dtype``, except bfloat16 on a CPU without native bfloat16 matrix
    products (where :func:`~theoropt.optim.precision.auto_matmul_dtype` picks float32), which
    is emulated.

    Emulated bfloat16: float32 operations on bfloat16 values, each result rounded to bfloat16.
    That is the arithmetic of a bfloat16 matrix product with float32 accumulation (what CUDA's
    bfloat16 matmuls and the CPU's own bfloat16 kernels compute), up to the summation order,
    at about float32 speed: on a CPU without native bfloat16 (this project's AVX2 machine)
    torch's bfloat16 matmuls were 45x slower than float32 ones (128x128 by 128x512, measured).
    Where the CPU has them (AVX512-BF16, AMX), torch's bfloat16 kernels are the fast choice
    and are used.
    """
    if (
        dtype == torch.bfloat16
        and device.type == "cpu"
        and auto_matmul_dtype(device) != torch.bfloat16
    ):
        return Arithmetic(torch.float32, _to_bfloat16_values)
    return Arithmetic(dtype, _unchanged)


@_outside_autocast
def newton_schulz_polar(
    G: Tensor,
    steps: int = 5,
    *,
    coefficients: Any = "jordan",
    dtype: torch.dtype | None = None,
    eps: float = 1e-7,
) -> Tensor:
    """Approximate polar factor of ``G`` (shape ``(..., rows, cols)``) by quintic Newton–Schulz.

    ``X <- G / (f ||G||_F + eps)``, then ``steps`` times ``X <- a_k X + (b_k A + c_k A^2) X``
    with ``A = X X^T`` on the smaller side, i.e. ``p_k(x) = a_k x + b_k x^3 + c_k x^5`` applied
    to every singular value. ``coefficients`` is anything :func:`ns_schedule` accepts (default
    ``"jordan"``: Muon's tuned quintic every step, which trades accuracy for speed: singular
    values land in roughly [0.7, 1.2], not at 1). Computed in ``dtype`` (default: ``G``'s; see
    :func:`arithmetic` for bfloat16 on the CPU), returned in ``G``'s dtype.
    """
    _check_matrices(G, "newton_schulz_polar")
    schedule = ns_schedule(coefficients)
    work, r = arithmetic(dtype or G.dtype, G.device)
    X = r(G.to(work, copy=True))
    transposed = X.shape[-2] > X.shape[-1]
    if transposed:
        X = X.mT
    X = r(X / r(r(schedule.norm_factor * torch.linalg.matrix_norm(X, keepdim=True)) + eps))
    for step in range(steps):
        a, b, c = schedule.at(step)
        A = r(X @ X.mT)
        B = r(torch.baddbmm(A, A, A, beta=b, alpha=c) if A.ndim == 3 else b * A + c * (A @ A))
        X = r(torch.baddbmm(X, B, X, beta=a) if X.ndim == 3 else a * X + B @ X)
    if transposed:
        X = X.mT
    return X.to(G.dtype)


class InverseSqrtResult(NamedTuple):
    """``A^(-1/2)``, the iterations used and the final residual ``max ||I - Z Y||_F``."""

    inverse_sqrt: Tensor
    iterations: int
    residual: float


@_outside_autocast
def inverse_sqrt_newton_schulz(
    A: Tensor, *, tol: float | None = None, max_iter: int = 100
) -> InverseSqrtResult:
    """``A^(-1/2)`` of symmetric positive definite ``A`` (shape ``(..., n, n)``).

    Coupled Newton–Schulz iteration: ``A <- A / c`` with ``c`` an upper bound on the largest
    eigenvalue (eigenvalues in (0, 1]), ``Y = A``, ``Z = I``; repeat ``T = (3 I - Z Y) / 2``,
    ``Y <- Y T``, ``Z <- T Z``. Then ``Y -> A^(1/2)`` and ``Z -> A^(-1/2)`` quadratically once
    ``Z Y`` is near ``I``; an eigenvalue ``lam`` far below 1 first needs about
    ``log(1 / lam) / log(2.25)`` steps. ``c = ||A^2||_F^(1/2) = (sum lam^4)^(1/4)``, a tighter
    bound than ``||A||_F = (sum lam^2)^(1/2)`` for one extra product (on the gradients of a
    small GPT it saved 1–2 of 8–16 steps); the first step, from ``Z = I``, skips its two
    products with ``I``. The loop stops when every matrix's residual ``||I - Z Y||_F`` is below
    ``tol`` (default: 1e-10 in float64, 1e-5 otherwise), when it stops decreasing near the
    rounding floor, or after ``max_iter`` steps.
    """
    _check_matrices(A, "inverse_sqrt_newton_schulz")
    if A.shape[-1] != A.shape[-2]:
        raise ValueError(f"inverse_sqrt_newton_schulz needs square matrices, got {tuple(A.shape)}")
    if tol is None:
        tol = 1e-10 if A.dtype == torch.float64 else 1e-5
    if not tol > 0 or max_iter < 1:
        raise ValueError(f"need tol > 0 and max_iter >= 1, got tol={tol}, max_iter={max_iter}")
    frobenius = torch.linalg.matrix_norm(A, keepdim=True)
    if not torch.isfinite(frobenius).all():
        raise ValueError("inverse_sqrt_newton_schulz got non-finite entries")
    if not (frobenius > 0).all():
        raise ValueError("inverse_sqrt_newton_schulz got a zero matrix (not positive definite)")
    scaled = A / frobenius  # squared after scaling: no overflow
    norm = frobenius * torch.linalg.matrix_norm(scaled @ scaled, keepdim=True).sqrt()
    identity = torch.eye(A.shape[-1], dtype=A.dtype, device=A.device).expand_as(A)
    Y = A / norm
    Z: Tensor | None = None  # the identity, until the first step
    residual = math.inf
    iterations = 0
    for iterations in range(1, max_iter + 1):
        correction = identity - (Y if Z is None else Z @ Y)
        previous, residual = residual, float(torch.linalg.matrix_norm(correction).max())
        if residual < tol or (residual < 1e-2 and residual >= previous):
            iterations -= 1
            break
        T = identity + 0.5 * correction
        Y = Y @ T
        Z = T if Z is None else T @ Z
    Z = identity if Z is None else Z
    return InverseSqrtResult(Z / norm.sqrt(), iterations, residual)


def _inverse_square_temperature(
    tau: float | Tensor, dtype: torch.dtype, device: torch.device
) -> Tensor:
    """``tau^-2`` as a tensor (shaped to broadcast over a batch of matrices), checked."""
    tau = torch.as_tensor(tau, dtype=dtype, device=device)
    if not (tau > 0).all():
        raise ValueError("soft_polar needs tau > 0")
    if torch.isnan(tau).any():
        raise ValueError("soft_polar got a NaN temperature")
    if tau.ndim > 0:
        tau = tau.reshape(*tau.shape, 1, 1)
    return tau.reciprocal().square()


@_outside_autocast
def soft_polar(
    G: Tensor,
    tau: float | Tensor,
    *,
    tol: float | None = None,
    max_iter: int = 100,
    dtype: torch.dtype | None = None,
    relative_floor: float | None = None,
) -> Tensor:
    """Soft polar factor ``U diag(s / sqrt(s^2 + tau^-2)) V^T`` of ``G = U diag(s) V^T``.

    Equal to ``(G G^T + tau^-2 I)^(-1/2) G = G (G^T G + tau^-2 I)^(-1/2)``; computed on the
    smaller side with :func:`inverse_sqrt_newton_schulz` to ``tol``. ``G`` has shape
    ``(..., rows, cols)``; ``tau`` is a positive scalar or a tensor of the batch shape
    (``inf`` gives the polar factor of a full-rank ``G``). Computed in ``dtype`` (default:
    ``G``'s dtype) and returned in ``G``'s dtype.

    The shift ``tau^-2`` is floored at ``relative_floor * ||G G^T||_F`` (default 1e-12 in
    float64, 1e-5 otherwise): rounding makes the Gram matrix of a (nearly) rank-deficient ``G``
    indefinite, and on a non-positive eigenvalue the iteration grows without bound. The floor
    only changes singular values with ``s^2`` below it (relative to ``||G||^2``) and bounds
    the iteration count by about ``log(1 / relative_floor) / log(2.25) + 5``.
    """
    _check_matrices(G, "soft_polar")
    X = G.to(dtype) if dtype is not None else G
    if not torch.isfinite(X).all():
        raise ValueError("soft_polar got non-finite entries in G")
    shift = _inverse_square_temperature(tau, X.dtype, X.device)
    wide = X.shape[-2] <= X.shape[-1]
    gram = X @ X.mT if wide else X.mT @ X
    if relative_floor is None:
        relative_floor = 1e-12 if X.dtype == torch.float64 else 1e-5
    floor = relative_floor * torch.linalg.matrix_norm(gram, keepdim=True)
    shift = torch.maximum(shift, floor)
    n = gram.shape[-1]
    gram = gram + shift * torch.eye(n, dtype=X.dtype, device=X.device)
    Z = inverse_sqrt_newton_schulz(gram, tol=tol, max_iter=max_iter).inverse_sqrt
    return (Z @ X if wide else X @ Z).to(G.dtype)


@_outside_autocast
def soft_polar_newton_schulz(
    G: Tensor, tau: float | Tensor, steps: int = 5, *, dtype: torch.dtype | None = torch.bfloat16
) -> Tensor:
    """Soft polar factor by exactly ``steps`` coupled Newton–Schulz steps (the authors' SoftMuon).

    On the smaller side, with every operation in ``dtype`` (default bfloat16; ``None``: ``G``'s
    dtype; see :func:`arithmetic` for bfloat16 on the CPU): ``A = X X^T + tau^-2 I``,
    ``c = ||A||_F``, ``Y = A / c``, ``Z = I``; ``steps`` times ``T = (3 I - Z Y) / 2``,
    ``Y <- Y T``, ``Z <- T Z``; the result is ``Z X / sqrt(c)``, returned
    in ``G``'s dtype. There is no stopping rule and no floor on the shift. Per singular value ``s``
    of ``G`` the result is ``z_k(lam) s / sqrt(c)`` with ``lam = (s^2 + tau^-2) / c`` and the
    scalar recursion ``t = (3 - z y) / 2``, ``y <- y t``, ``z <- t z`` from ``y = lam``, ``z = 1``
    (in exact arithmetic); ``z_k(lam) sqrt(lam) -> 1`` only for ``k`` well above
    ``log(1 / lam) / log(2.25)``, so with 5 steps the directions with ``s^2 / c`` at 1e-2, 1e-3,
    1e-4 come out at about 0.7, 0.24, 0.08 of the converged :func:`soft_polar`.
    """
    _check_matrices(G, "soft_polar_newton_schulz")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"soft_polar_newton_schulz needs an int steps >= 1, got {steps!r}")
    work, r = arithmetic(dtype or G.dtype, G.device)
    X = r(G.to(work))
    if not torch.isfinite(X).all():
        raise ValueError("soft_polar_newton_schulz got non-finite entries in G")
    shift = r(_inverse_square_temperature(tau, torch.float64, X.device).to(work))
    transposed = X.shape[-2] > X.shape[-1]
    if transposed:
        X = X.mT
    identity = torch.eye(X.shape[-2], dtype=work, device=X.device)
    A = r(r(X @ X.mT) + r(shift * identity))
    norm = r(torch.linalg.matrix_norm(A, keepdim=True))
    Y = r(A / norm)
    Z = identity.expand_as(A)
    for _ in range(steps):
        T = r(0.5 * r(3.0 * identity - r(Z @ Y)))
        Y = r(Y @ T)
        Z = r(T @ Z)
    out = r(r(Z @ X) / r(norm.sqrt()))
    return (out.mT if transposed else out).to(G.dtype)


@_outside_autocast
def spectral_soft_map(G: Tensor, tau: float, soft_map: SoftMap) -> Tensor:
    """``U diag(phi(tau s)) V^T`` of ``G = U diag(s) V^T`` for any soft map, by an exact SVD.

    The reference for soft maps without a Newton–Schulz form (e.g. tanh): one SVD per call,
    computed in ``G``'s dtype (at least float32).
    """
    _check_matrices(G, "spectral_soft_map")
    work = G if G.dtype in (torch.float32, torch.float64) else G.float()
    U, s, Vh = torch.linalg.svd(work, full_matrices=False)
    mapped = soft_map(s, tau) if math.isfinite(tau) else torch.ones_like(s)
    return ((U * mapped.unsqueeze(-2)) @ Vh).to(G.dtype)
