"""The phase clock of Softsign optimizers: a sign phase, then a cooling temperature.

A group with ``total_steps = K`` and ``sign_fraction = a`` takes ``round(a K)`` sign steps
(temperature ``inf``: exactly Signum / Muon), then ``K - round(a K)`` transition steps whose
temperatures come from :func:`~theoropt.optim.temperature.quantile_temperature_schedule`,
computed once when the transition starts. After step ``K`` the last temperature is kept.

Group entries written here (saved by ``state_dict``): ``step`` (steps taken), ``schedule``
(the transition temperatures, ``None`` until computed) and ``schedule_statistics`` (the robust
location and scale they were fitted to). :meth:`TemperatureScheduled.temperatures` reads the
temperature of each group's last step from them.

A transition step looks its temperature up in a tensor indexed by the step count, so that a
``torch.compile`` d step traces it without a graph break or a recompilation per step; the fused
path, which compiles its own kernel with the temperature as an input, takes it as a float.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, overload

import torch
from torch import Tensor
from torch.optim import Optimizer

from theoropt.optim.hyperparameters import plain_numbers
from theoropt.optim.soft_maps import get_soft_map
from theoropt.optim.temperature import quantile_temperature_schedule, robust_location_scale


def sign_steps(group: dict[str, Any]) -> int | None:
    """Number of sign steps of a group, ``None`` if it never leaves the sign phase."""
    if group.get("total_steps") is None:
        return None
    return round(group["sign_fraction"] * group["total_steps"])


class TemperatureScheduled(Optimizer):
    """Base of optimizers with the Softsign phase clock (see the module docstring).

    Subclasses provide :meth:`_group_step`, which asks :meth:`_transition_temperature` (or, once
    the schedule is fitted, :meth:`_scheduled_temperature`, a float) for each transition step's
    temperature and passes it the statistics the schedule is fitted to (called once, when the
    transition starts); subclasses gather them whole across ranks for sharded
    (``DTensor``) parameters, so every rank fits the same schedule (:mod:`theoropt.optim.sharded`).
    """

    temperature_tmin: float = 1.0
    _late_keys: tuple[str, ...] = ()
    """Group settings added after the first release: an older ``state_dict`` without them gets
    this optimizer's defaults when loaded (as ``torch.optim`` does for ``foreach``)."""

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        for group in self.param_groups:
            for key in self._late_keys:
                if key in self.defaults:
                    group.setdefault(key, self.defaults[key])

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group (NumPy scalars in it as Python numbers) and check it; a group that fails
        the check is not kept."""
        param_group.update(plain_numbers(param_group))
        super().add_param_group(param_group)
        try:
            self._check_group(self.param_groups[-1])
        except (TypeError, ValueError, RuntimeError):
            self.param_groups.pop()
            raise

    def _check_group(self, group: dict[str, Any]) -> None:
        """Validate a new group's settings and add the entries the optimizer keeps in it."""
        raise NotImplementedError

    def _group_step(self, group: dict[str, Any]) -> None:
        """Update the parameters of one group (gradients already computed)."""
        raise NotImplementedError

    @overload
    def step(self, closure: None = None) -> None: ...

    @overload
    def step(self, closure: Callable[[], float]) -> float: ...

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:
        """One optimizer step; ``closure`` re-evaluates the model and returns the loss."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            self._group_step(group)
        return loss

    def _fits_schedule_now(self, group: dict[str, Any]) -> bool:
        """Whether the step about to be taken starts the transition (and fits the schedule)."""
        return not self._in_sign_phase(group) and group["schedule"] is None

    def _in_sign_phase(self, group: dict[str, Any]) -> bool:
        """Whether the step about to be taken by ``group`` is a sign (Signum / Muon) step."""
        n_sign = sign_steps(group)
        return n_sign is None or group["step"] < n_sign or group["total_steps"] == n_sign

    def _transition_temperature(
        self, group: dict[str, Any], samples: Callable[[], Tensor] | None = None
    ) -> Tensor:
        """Temperature of the transition step about to be taken, a float64 scalar tensor (the
        schedule is fitted on the first transition step: :meth:`_fitted_schedule`). It is
        indexed out of the whole schedule as a tensor: under a user's ``torch.compile`` one
        graph then serves every step (a Python float would be a new constant each step). It is
        a copy, not a view: traced at a symbolic step, a view has a symbolic storage offset,
        which ``torch._foreach_mul`` cannot take as its scalar."""
        schedule = torch.tensor(self._fitted_schedule(group, samples), dtype=torch.float64)
        return schedule[self._schedule_index(group)].clone()

    def _scheduled_temperature(self, group: dict[str, Any]) -> float:
        """Temperature of the transition step about to be taken (schedule already fitted)."""
        return self._fitted_schedule(group, None)[self._schedule_index(group)]

    @staticmethod
    def _schedule_index(group: dict[str, Any]) -> int:
        return min(group["step"] - sign_steps(group), len(group["schedule"]) - 1)

    def _fitted_schedule(
        self, group: dict[str, Any], samples: Callable[[], Tensor] | None
    ) -> list[float]:
        """The group's temperature schedule, fitted on the first transition step to the robust
        location and scale (median, median deviation) of ``samples()``, the group's 1-D
        statistics; later steps need no ``samples``.
        """
        n_sign = sign_steps(group)
        if group["schedule"] is None:
            if samples is None:
                raise RuntimeError("the first transition step needs the schedule's statistics")
            loc, scale = self._schedule_statistics(samples)
            group["schedule_statistics"] = (loc, scale)
            soft_map = get_soft_map(group["soft_map"])
            group["schedule"] = quantile_temperature_schedule(
                loc,
                scale,
                group["total_steps"] - n_sign,
                inverse_at=soft_map.inverse(1.0 - group["eps"]),
                tmax=group["tmax"],
                tmin=self.temperature_tmin,
            )
        return group["schedule"]

    def _schedule_statistics(self, samples: Callable[[], Tensor]) -> tuple[float, float]:
        """Robust ``(location, scale)`` of ``samples()``: median and median deviation."""
        return robust_location_scale(samples())

    def _has_phases(self, group: dict[str, Any]) -> bool:
        """Whether ``group`` takes sign / soft steps (and so has a temperature)."""
        return True

    def temperatures(self) -> list[float | None]:
        """Temperature of each group's last step (``inf``: a sign step; ``None``: no step yet,
        or a group without a phase clock, such as Muon's AdamW groups)."""
        out: list[float | None] = []
        for group in self.param_groups:
            steps, n_sign = group["step"], sign_steps(group)
            if steps == 0 or not self._has_phases(group):
                out.append(None)
            elif n_sign is None or steps <= n_sign or group["total_steps"] == n_sign:
                out.append(math.inf)
            else:
                schedule = group["schedule"]
                out.append(schedule[min(steps - 1 - n_sign, len(schedule) - 1)])
        return out
