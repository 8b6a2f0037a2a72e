"""Softsign optimizers (Feoktistov et al., ICML 2026) and their baselines, as torch.optim classes.

``SoftSignum`` / ``Signum`` update every coordinate by a (soft) sign of its momentum;
``SoftMuon`` / ``Muon`` update matrices by a (soft) polar factor and everything else by AdamW.
"""

from theoropt.optim.matrix_functions import (
    NS_SCHEDULES,
    NewtonSchulzSchedule,
    inverse_sqrt_newton_schulz,
    newton_schulz_polar,
    soft_polar,
    soft_polar_newton_schulz,
    spectral_soft_map,
)
from theoropt.optim.muon import Muon, SoftMuon
from theoropt.optim.param_split import split_params
from theoropt.optim.polar_variants import POLAR_VARIANTS, PolarVariant, get_polar_variant
from theoropt.optim.precision import auto_matmul_dtype
from theoropt.optim.sign import Signum, SoftSignum
from theoropt.optim.soft_maps import SOFT_MAPS, AlgebraicMap, SoftMap, TanhMap, get_soft_map
from theoropt.optim.temperature import (
    folded_cauchy_quantile,
    quantile_temperature_schedule,
    robust_location_scale,
)

__all__ = [
    "NS_SCHEDULES",
    "POLAR_VARIANTS",
    "SOFT_MAPS",
    "AlgebraicMap",
    "Muon",
    "NewtonSchulzSchedule",
    "PolarVariant",
    "Signum",
    "SoftMap",
    "SoftMuon",
    "SoftSignum",
    "TanhMap",
    "auto_matmul_dtype",
    "folded_cauchy_quantile",
    "get_polar_variant",
    "get_soft_map",
    "inverse_sqrt_newton_schulz",
    "newton_schulz_polar",
    "quantile_temperature_schedule",
    "robust_location_scale",
    "soft_polar",
    "soft_polar_newton_schulz",
    "spectral_soft_map",
    "split_params",
]
