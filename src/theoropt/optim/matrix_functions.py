"""Matrix functions of the Muon family, batched over leading dimensions.

* :func:`newton_schulz_polar`: the quintic Newton–Schulz iteration of Muon (Jordan et al.,
  2024), an approximate polar factor ``U V^T`` of ``G = U diag(s) V^T``.
* :func:`inverse_sqrt_newton_schulz`: the coupled Newton–Schulz iteration for ``A^(-1/2)`` of a
  symmetric positive definite ``A`` (Higham, *Functions of Matrices*, 2008, eq. 6.35), run to
  a tolerance on the residual ``||I - Z Y||_F``.
* :func:`soft_polar`: ``G (G^T G + tau^-2 I)^(-1/2) = U diag(s / sqrt(s^2 + tau^-2)) V^T``,
  the update of SoftMuon (Feoktistov et al., ICML 2026), converged to a tolerance.
* :func:`soft_polar_newton_schulz`: the soft polar as the Softsign authors compute it, a fixed
  number of coupled Newton–Schulz steps (by default in bfloat16) with no tolerance: softer than
  :func:`soft_polar` in the small singular directions.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import torch
from torch import Tensor

from theoropt.optim.soft_maps import SoftMap

QUINTIC_COEFFICIENTS = (3.4445, -4.7750, 2.0315)
"""``(a, b, c)`` of ``X <- a X + (b A + c A^2) X``, ``A = X X^T`` (Muon's tuned quintic)."""


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
    """Native arithmetic in ``dtype``, except bfloat16 on the CPU, which is emulated.

    Emulated bfloat16: float32 operations on bfloat16 values, each result rounded to bfloat16.
    That is the arithmetic of a bfloat16 matrix product with float32 accumulation (what CUDA's
    bfloat16 matmuls and the CPU's own bfloat16 kernels compute), up to the summation order,
    at float32 speed: on a CPU without native bfloat16 (this project's AVX2 machine) torch's
    bfloat16 matmuls were 45x slower than float32 ones (128x128 by 128x512, measured).
    """
    if dtype == torch.bfloat16 and device.type == "cpu":
        return Arithmetic(torch.float32, _to_bfloat16_values)
    return Arithmetic(dtype, _unchanged)


def newton_schulz_polar(
    G: Tensor, steps: int = 5, *, dtype: torch.dtype | None = None, eps: float = 1e-7
) -> Tensor:
    """Approximate polar factor of ``G`` (shape ``(..., rows, cols)``) by quintic Newton–Schulz.

    ``X <- G / (||G||_F + eps)``, then ``steps`` times ``X <- a X + (b A + c A^2) X`` with
    ``A = X X^T`` on the smaller side. The tuned coefficients trade accuracy for speed: singular
    values land in roughly [0.7, 1.2], not at 1. Computed in ``dtype`` (default: ``G``'s; see
    :func:`arithmetic` for bfloat16 on the CPU), returned in ``G``'s dtype.
    """
    _check_matrices(G, "newton_schulz_polar")
    a, b, c = QUINTIC_COEFFICIENTS
    work, r = arithmetic(dtype or G.dtype, G.device)
    X = r(G.to(work, copy=True))
    transposed = X.shape[-2] > X.shape[-1]
    if transposed:
        X = X.mT
    X = r(X / r(r(torch.linalg.matrix_norm(X, keepdim=True)) + eps))
    for _ in range(steps):
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


def inverse_sqrt_newton_schulz(
    A: Tensor, *, tol: float | None = None, max_iter: int = 100
) -> InverseSqrtResult:
    """``A^(-1/2)`` of symmetric positive definite ``A`` (shape ``(..., n, n)``).

    Coupled Newton–Schulz iteration: ``A <- A / ||A||_F`` (eigenvalues in (0, 1]), ``Y = A``,
    ``Z = I``; repeat ``T = (3 I - Z Y) / 2``, ``Y <- Y T``, ``Z <- T Z``. Then ``Y -> A^(1/2)``
    and ``Z -> A^(-1/2)`` quadratically once ``Z Y`` is near ``I``; an eigenvalue ``lam`` far
    below 1 first needs about ``log(1 / lam) / log(2.25)`` steps. The loop stops when every
    matrix's residual ``||I - Z Y||_F`` is below ``tol`` (default: 1e-10 in float64, 1e-5
    otherwise), when it stops decreasing near the rounding floor, or after ``max_iter`` steps.
    """
    _check_matrices(A, "inverse_sqrt_newton_schulz")
    if A.shape[-1] != A.shape[-2]:
        raise ValueError(f"inverse_sqrt_newton_schulz needs square matrices, got {tuple(A.shape)}")
    if tol is None:
        tol = 1e-10 if A.dtype == torch.float64 else 1e-5
    if not tol > 0 or max_iter < 1:
        raise ValueError(f"need tol > 0 and max_iter >= 1, got tol={tol}, max_iter={max_iter}")
    norm = torch.linalg.matrix_norm(A, keepdim=True)
    if not torch.isfinite(norm).all():
        raise ValueError("inverse_sqrt_newton_schulz got non-finite entries")
    if not (norm > 0).all():
        raise ValueError("inverse_sqrt_newton_schulz got a zero matrix (not positive definite)")
    identity = torch.eye(A.shape[-1], dtype=A.dtype, device=A.device).expand_as(A)
    Y = A / norm
    Z = identity.clone()
    residual = math.inf
    iterations = 0
    for iterations in range(1, max_iter + 1):
        correction = identity - Z @ Y
        previous, residual = residual, float(torch.linalg.matrix_norm(correction).max())
        if residual < tol or (residual < 1e-2 and residual >= previous):
            iterations -= 1
            break
        T = identity + 0.5 * correction
        Y = Y @ T
        Z = T @ Z
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
