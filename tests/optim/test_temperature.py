"""The folded-Cauchy quantile and the temperature schedule against scipy."""

import math

import numpy as np
import pytest
import torch
from scipy import optimize, stats

from theoropt.optim import (
    folded_cauchy_quantile,
    get_soft_map,
    quantile_temperature_schedule,
    robust_location_scale,
)


@pytest.mark.parametrize("loc", [0.0, 0.3, -2.0, 1e-3])
@pytest.mark.parametrize("scale", [0.5, 1e-3, 7.0])
def test_quantile_matches_scipy_foldcauchy(loc, scale):
    levels = np.array([0.0, 1e-4, 0.1, 0.37, 0.5, 0.9, 0.999])
    ours = folded_cauchy_quantile(levels, loc, scale)
    # |X| for X ~ Cauchy(loc, scale) is scale * foldcauchy(|loc| / scale).
    reference = stats.foldcauchy.ppf(levels, abs(loc) / scale, scale=scale)
    np.testing.assert_allclose(ours, reference, rtol=1e-9, atol=1e-12 * scale)


def test_quantile_matches_root_finding_on_cauchy_cdf():
    loc, scale = 0.7, 0.2
    for p in (0.05, 0.5, 0.95):

        def excess(q, p=p):
            return stats.cauchy.cdf(q, loc, scale) - stats.cauchy.cdf(-q, loc, scale) - p

        root = optimize.brentq(excess, 0.0, 1e6, xtol=1e-15)
        assert folded_cauchy_quantile(p, loc, scale) == pytest.approx(root, rel=1e-10)


def test_quantile_of_point_mass_and_bad_input():
    np.testing.assert_array_equal(folded_cauchy_quantile([0.0, 0.5], -3.0, 0.0), [0.0, 3.0])
    with pytest.raises(ValueError, match="quantile levels"):
        folded_cauchy_quantile(1.0, 0.0, 1.0)
    with pytest.raises(ValueError, match="scale"):
        folded_cauchy_quantile(0.5, 0.0, -1.0)
    with pytest.raises(ValueError, match="finite"):
        folded_cauchy_quantile(0.5, math.nan, 1.0)


@pytest.mark.parametrize("soft_map", ["tanh", "algebraic"])
def test_schedule_is_clamped_non_increasing_and_matches_scipy(soft_map):
    loc, scale, steps, tmax, eps = 1e-3, 4e-3, 50, 20.0, 1e-4
    inverse = get_soft_map(soft_map).inverse(1.0 - eps)
    taus = np.array(quantile_temperature_schedule(loc, scale, steps, inverse_at=inverse, tmax=tmax))
    assert taus.shape == (steps,)
    assert np.all((taus >= 1.0) & (taus <= tmax))
    assert np.all(np.diff(taus) <= 0)
    assert taus[0] == tmax
    levels = np.arange(steps) / steps
    q = stats.foldcauchy.ppf(levels, loc / scale, scale=scale)
    with np.errstate(divide="ignore"):
        expected = np.clip(inverse / q, 1.0, tmax)
    np.testing.assert_allclose(taus, expected, rtol=1e-9)


def test_soft_map_inverses():
    assert get_soft_map("tanh").inverse(1 - 1e-4) == pytest.approx(np.arctanh(1 - 1e-4))
    assert get_soft_map("algebraic").inverse(1 - 1e-4) == pytest.approx(70.71, abs=0.01)
    with pytest.raises(ValueError, match="unknown soft_map"):
        get_soft_map("relu")


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_soft_maps_against_closed_forms(dtype):
    z = torch.linspace(-30, 30, 10001, dtype=dtype)
    tol = 2.5e-7 if dtype == torch.float32 else 1e-15
    torch.testing.assert_close(get_soft_map("tanh")(z, 0.7), torch.tanh(0.7 * z), atol=tol, rtol=0)
    algebraic = 0.7 * z / torch.sqrt(1 + (0.7 * z) ** 2)
    torch.testing.assert_close(get_soft_map("algebraic")(z, 0.7), algebraic, atol=tol, rtol=0)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64])
def test_algebraic_map_is_plus_minus_one_where_its_square_overflows(dtype):
    """``z / sqrt(1 + z^2)`` squared ``z`` first: above the square root of the dtype's largest
    value (256 in float16, 1.8e19 in float32) the map gave 0, and NaN at infinity, where it is
    +-1. Against ``z / hypot(1, z)`` in float64 (no overflow), rounded to ``dtype``, on the
    multi-tensor, per-tensor and fused (``elementwise``) forms; NaN stays NaN."""
    big = torch.finfo(dtype).max
    values = [0.0, 1e-3, 0.5, 3.0, 200.0, 300.0, 1e4, 1e20, 1e200, big, math.inf]
    z = torch.tensor([v for v in values if v <= big or math.isinf(v)], dtype=torch.float64)
    z = torch.cat([z, -z]).to(dtype)
    exact = z.double()
    expected = torch.where(
        exact.isinf(), exact.sign(), exact / torch.hypot(exact.new_ones(()), exact)
    )
    algebraic = get_soft_map("algebraic")
    tol = dict(atol=torch.finfo(dtype).eps, rtol=0)
    for foreach in (True, False):
        mapped = algebraic.applied([z], 1.0, foreach)[0]
        torch.testing.assert_close(mapped.double(), expected.to(dtype).double(), **tol)
    torch.testing.assert_close(
        algebraic.elementwise(z).double(), expected.to(dtype).double(), **tol
    )
    assert torch.isnan(algebraic(torch.tensor([math.nan], dtype=dtype))).all()


def test_robust_location_scale_matches_numpy_and_rejects_nan():
    v = torch.randn(1001, generator=torch.Generator().manual_seed(0)) ** 3
    loc, scale = robust_location_scale(v)
    x = v.double().numpy()
    assert loc == np.median(x)
    assert scale == pytest.approx(np.median(np.abs(x - np.median(x))), rel=1e-15)
    with pytest.raises(ValueError, match="non-finite"):
        robust_location_scale(torch.tensor([1.0, math.nan, 2.0]))
    with pytest.raises(ValueError, match="empty"):
        robust_location_scale(torch.tensor([]))
