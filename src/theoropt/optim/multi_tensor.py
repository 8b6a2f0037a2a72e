"""In-place elementwise operations on lists of tensors, by multi-tensor kernels or one by one.

The optimizers write each update once against these functions; ``foreach=True`` dispatches to
``torch._foreach_*`` (fewer kernel launches and Python calls), ``foreach=False`` to a plain loop
of tensor methods. Both perform the same arithmetic in the same order.
"""

from __future__ import annotations

import torch
from torch import Tensor


def mul_(tensors: list[Tensor], scalar: float, foreach: bool) -> None:
    """``t *= scalar`` for every ``t``."""
    if foreach:
        torch._foreach_mul_(tensors, scalar)
    else:
        for t in tensors:
            t.mul_(scalar)


def add_(tensors: list[Tensor], others: list[Tensor], alpha: float, foreach: bool) -> None:
    """``t += alpha * o`` pairwise."""
    if foreach:
        torch._foreach_add_(tensors, others, alpha=alpha)
    else:
        for t, o in zip(tensors, others, strict=True):
            t.add_(o, alpha=alpha)


def added(tensors: list[Tensor], others: list[Tensor], alpha: float, foreach: bool) -> list[Tensor]:
    """New tensors ``t + alpha * o`` pairwise."""
    if foreach:
        return list(torch._foreach_add(tensors, others, alpha=alpha))
    return [torch.add(t, o, alpha=alpha) for t, o in zip(tensors, others, strict=True)]


def lerp_(tensors: list[Tensor], ends: list[Tensor], weight: float, foreach: bool) -> None:
    """``t += weight * (e - t)`` pairwise."""
    if foreach:
        torch._foreach_lerp_(tensors, ends, weight)
    else:
        for t, e in zip(tensors, ends, strict=True):
            t.lerp_(e, weight)


def negated(tensors: list[Tensor], foreach: bool) -> list[Tensor]:
    """New tensors ``-t``."""
    if foreach:
        return list(torch._foreach_neg(tensors))
    return [torch.neg(t) for t in tensors]


def scaled(tensors: list[Tensor], scalar: float | Tensor, foreach: bool) -> list[Tensor]:
    """New tensors ``scalar * t``."""
    if foreach:
        return list(torch._foreach_mul(tensors, scalar))
    return [torch.mul(t, scalar) for t in tensors]


def carry_non_finite_(tensors: list[Tensor], sources: list[Tensor], foreach: bool) -> None:
    """``t += 0 * s``: where ``s`` is NaN or infinite, ``t`` becomes NaN (elsewhere unchanged).

    ``sign`` maps NaN to 0 and a soft sign maps infinity to +-1; this makes a non-finite
    momentum visible in the update instead of freezing its coordinate silently.
    """
    add_(tensors, sources, 0.0, foreach)


def clamp_(tensors: list[Tensor], bounds: list[float], foreach: bool) -> None:
    """``t = clamp(t, -b, b)`` with one bound ``b`` per tensor (NaN stays NaN)."""
    if foreach:
        torch._foreach_clamp_min_(tensors, [-b for b in bounds])
        torch._foreach_clamp_max_(tensors, bounds)
    else:
        for t, b in zip(tensors, bounds, strict=True):
            t.clamp_(-b, b)


def signs(tensors: list[Tensor], foreach: bool) -> list[Tensor]:
    """New tensors ``sign(t)``."""
    if foreach:
        return list(torch._foreach_sign(tensors))
    return [torch.sign(t) for t in tensors]


def addcmul_(
    tensors: list[Tensor], left: list[Tensor], right: list[Tensor], value: float, foreach: bool
) -> None:
    """``t += value * l * r`` elementwise."""
    if foreach:
        torch._foreach_addcmul_(tensors, left, right, value=value)
    else:
        for t, lt, rt in zip(tensors, left, right, strict=True):
            t.addcmul_(lt, rt, value=value)


def addcdiv_(
    tensors: list[Tensor], num: list[Tensor], den: list[Tensor], value: float, foreach: bool
) -> None:
    """``t += value * n / d`` elementwise."""
    if foreach:
        torch._foreach_addcdiv_(tensors, num, den, value=value)
    else:
        for t, n, d in zip(tensors, num, den, strict=True):
            t.addcdiv_(n, d, value=value)


def sqrt(tensors: list[Tensor], foreach: bool) -> list[Tensor]:
    """New tensors ``sqrt(t)``."""
    if foreach:
        return list(torch._foreach_sqrt(tensors))
    return [torch.sqrt(t) for t in tensors]


def add_scalar_(tensors: list[Tensor], scalar: float, foreach: bool) -> None:
    """``t += scalar``."""
    if foreach:
        torch._foreach_add_(tensors, scalar)
    else:
        for t in tensors:
            t.add_(scalar)


def sigmoid_(tensors: list[Tensor], foreach: bool) -> None:
    """``t = sigmoid(t)``."""
    if foreach:
        torch._foreach_sigmoid_(tensors)
    else:
        for t in tensors:
            t.sigmoid_()


def tanh_(tensors: list[Tensor], foreach: bool) -> None:
    """``t = tanh(t)``."""
    if foreach:
        torch._foreach_tanh_(tensors)
    else:
        for t in tensors:
            t.tanh_()


def rsqrt_(tensors: list[Tensor], foreach: bool) -> None:
    """``t = 1 / sqrt(t)``."""
    if foreach:
        torch._foreach_rsqrt_(tensors)
    else:
        for t in tensors:
            t.rsqrt_()


def squares(tensors: list[Tensor], foreach: bool) -> list[Tensor]:
    """New tensors ``t * t``."""
    if foreach:
        return list(torch._foreach_mul(tensors, tensors))
    return [torch.mul(t, t) for t in tensors]


def mul_elementwise_(tensors: list[Tensor], others: list[Tensor], foreach: bool) -> None:
    """``t *= o`` pairwise, elementwise."""
    if foreach:
        torch._foreach_mul_(tensors, others)
    else:
        for t, o in zip(tensors, others, strict=True):
            t.mul_(o)


def norms(tensors: list[Tensor], foreach: bool) -> list[Tensor]:
    """The 2-norm of each tensor (0-dim tensors)."""
    if foreach:
        return list(torch._foreach_norm(tensors))
    return [torch.linalg.vector_norm(t) for t in tensors]
