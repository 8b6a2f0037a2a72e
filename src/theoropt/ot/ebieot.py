"""EBiEOT (Persiianov, Asadulaev, ..., Burnaev, Korotin; ICML 2026, "Inverse Entropic Optimal
Transport Solves Semi-supervised Learning via Data Likelihood Maximization") with the Gaussian
mixture parameterisation, and LightSB (Korotin, Gushchin, Burnaev; ICLR 2024) as its special case.

Model (:mod:`theoropt.ot._ebieot_model`, docs/ot.md): potential ``f(y) = eps log sum_n
w_n N(y | a_n, eps A_n)``, cost ``c(x, y) = -eps log sum_m v_m(x) exp(<b_m(x), y> / eps)``; the
conditional ``pi(y|x) ∝ exp((f(y) - c(x, y)) / eps)`` is a Gaussian mixture in closed form, so
sampling and ``log_prob`` are exact. How the model is parameterised and trained is the
``scheme`` (:mod:`theoropt.ot._ebieot_schemes`): ``"paper"``, the authors' training as their
Swiss-roll notebooks run it (the default); ``"paper-alternating"``, as their ``scripts/train.py``
runs it; ``"block"``, ours (block-coordinate maximum likelihood with early stopping; docs/ot.md).
With no pairs the cost is fixed to ``-<x, y>`` and only the potential is fitted: LightSB.
"""

from __future__ import annotations

from typing import Any

import torch
from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError as SklearnNotFittedError
from torch import nn

from theoropt.ot._arrays import (
    ArrayLike,
    check_non_negative,
    check_non_negative_int,
    check_positive,
    check_positive_int,
    is_numpy_input,
    to_output,
    to_tensor,
)
from theoropt.ot._ebieot_model import (
    GaussianMixturePotential,
    conditional_mixture,
    gaussian_log_density,
)
from theoropt.ot._ebieot_schemes import (
    SCHEMES,
    FitHistory,
    FitProblem,
    TrainingData,
)

#: constructor options whose default depends on the scheme (``None``: the scheme's default)
SCHEME_OPTIONS = (
    "n_potentials n_costs hidden min_variance init_variance steps batch_size lr_potential "
    "lr_cost weight_decay warmup_steps validation_fraction eval_every patience"
).split()
#: all constructor arguments, in order (scikit-learn's ``get_params``)
PARAMS = (
    "eps", "n_potentials", "n_costs", "scheme", *SCHEME_OPTIONS[2:], "seed", "progress", "device",
    "dtype",
)  # fmt: skip


class NotFittedError(SklearnNotFittedError, RuntimeError):
    """Sampling or scoring before ``fit``: scikit-learn's ``NotFittedError`` (a ``ValueError``
    and ``AttributeError``), and a ``RuntimeError`` as this error was before."""


POSITIVE_INT = ("n_potentials", "n_costs", "hidden", "steps", "batch_size", "eval_every")
POSITIVE = ("min_variance", "init_variance", "lr_potential", "lr_cost")


def _checked_options(options: dict[str, Any]) -> dict[str, Any]:
    """The resolved options, each checked for its range (a clear error naming it)."""
    for name, value in options.items():
        if name in POSITIVE_INT or (name == "patience" and value is not None):
            options[name] = check_positive_int(name, value)
        elif name in POSITIVE:
            options[name] = check_positive(name, value)
        elif name == "weight_decay":
            options[name] = check_non_negative(name, value)
        elif name == "warmup_steps":
            options[name] = check_non_negative_int(name, value)
        elif name == "validation_fraction":
            options[name] = check_non_negative(name, value)
            if value >= 1.0:
                raise ValueError(f"validation_fraction must be in [0, 1), got {value!r}")
    return options


def _checked_device(device: str | torch.device | None) -> torch.device:
    """``device`` as a ``torch.device``, failing now (not in ``fit``) when it is unusable,
    e.g. ``"cuda"`` on a machine without a GPU, or not a device name (``"gpu"``). The message
    keeps the first line of torch's reason (for some backends a page of dispatcher tables)."""
    try:
        resolved = torch.device("cpu" if device is None else device)
        torch.empty(0, device=resolved)
    except (RuntimeError, AssertionError) as error:
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise ValueError(
            f"device={device!r} is not available on this machine ({reason}); "
            "pass device=None or 'cpu'"
        ) from error
    return resolved


class EBiEOT(BaseEstimator):
    """Semi-supervised conditional model ``pi(y|x)`` from few pairs and unpaired x and y.

    Options left at ``None`` take the scheme's default; an option the scheme does not use is
    an error (e.g. early stopping with ``scheme="paper"``). Defaults (docs/ot.md):

    ==================  ==========================  ===================
    option              ``"paper"`` (and -alt.)      ``"block"``
    ==================  ==========================  ===================
    n_potentials        50                          50
    n_costs             25                          25
    hidden              (linear heads)              64
    init_variance       0.1 eps (``A_init = 0.1``)  0.1
    steps               25,001                      2000
    batch_size          128                         256
    lr_potential        1e-3                        1e-2
    lr_cost             3e-4                        1e-3
    dtype               float64 (-alt.: float32)    float32
    ==================  ==========================  ===================

    Args:
        eps: entropic regularisation; the conditional covariances are ``eps * A_n``.
        n_potentials: mixture components N of the potential.
        n_costs: components M of the learned cost.
        scheme: ``"paper"``, ``"paper-alternating"`` or ``"block"`` (module docstring).
        hidden: width of the cost network (block only; the authors' heads are linear).
        min_variance: floor on every conditional variance ``eps * A_n`` (in data units; block
            only): without it the mixture collapses onto the training points (docs/ot.md).
        init_variance: starting conditional variance ``eps * A_n``.
        steps, batch_size: training iterations (block: alternating steps after the warm-up)
            and their batch size.
        lr_potential, lr_cost: Adam learning rates of the potential and of the cost.
        weight_decay: decoupled weight decay of the cost network (AdamW; block only).
        warmup_steps: dual-only steps before the alternating phase (block only): the potential
            is first fitted to the marginals under the initial cost, as LightSB fits it.
        validation_fraction: fraction of the pairs held out for early stopping (block only;
            at least one pair; not used for training at all): their mean negative conditional
            log-likelihood is computed every ``eval_every`` steps and ``fit`` returns the state
            with the lowest value; 0 turns early stopping off. Skipped with a warning when
            there is a single pair.
        eval_every: alternating steps between two validation evaluations (block only).
        patience: stop once this many evaluations in a row did not improve on the best one
            (block only; ``None``: run all ``steps`` and keep the best state).
        seed: seeds initialisation, batches and (by default) sampling.
        progress: show a tqdm progress bar during ``fit``.
        device, dtype: where and in which precision the model lives (default CPU; dtype
            float32 or float64, by default the scheme's).
    """

    def __init__(
        self,
        eps: float = 1.0,
        n_potentials: int | None = None,
        n_costs: int | None = None,
        *,
        scheme: str = "paper",
        hidden: int | None = None,
        min_variance: float | None = None,
        init_variance: float | None = None,
        steps: int | None = None,
        batch_size: int | None = None,
        lr_potential: float | None = None,
        lr_cost: float | None = None,
        weight_decay: float | None = None,
        warmup_steps: int | None = None,
        validation_fraction: float | None = None,
        eval_every: int | None = None,
        patience: int | None = None,
        seed: int = 0,
        progress: bool = True,
        device: str | torch.device | None = None,
        dtype: torch.dtype | None = None,
    ):
        self.eps = check_positive("eps", eps)
        if scheme not in SCHEMES:
            raise ValueError(f"unknown scheme {scheme!r}; choose one of {tuple(SCHEMES)}")
        self.scheme = scheme
        given = {
            "n_potentials": n_potentials,
            "n_costs": n_costs,
            "hidden": hidden,
            "min_variance": min_variance,
            "init_variance": init_variance,
            "steps": steps,
            "batch_size": batch_size,
            "lr_potential": lr_potential,
            "lr_cost": lr_cost,
            "weight_decay": weight_decay,
            "warmup_steps": warmup_steps,
            "validation_fraction": validation_fraction,
            "eval_every": eval_every,
            "patience": patience,
        }
        for name, value in given.items():
            setattr(self, name, value)  # as given (scikit-learn convention)
        self._options = _checked_options(SCHEMES[scheme].resolve(given, self.eps))
        if dtype not in (None, torch.float32, torch.float64):
            raise TypeError(f"dtype must be torch.float32 or torch.float64, got {dtype}")
        self.seed, self.progress, self.dtype = int(seed), bool(progress), dtype
        self.device = device  # as given (scikit-learn convention); see ``_torch_device``
        self._device = _checked_device(device)
        self.dim_x_ = self.dim_y_ = 0
        self.potential_: GaussianMixturePotential | None = None
        self.cost_: nn.Module | None = None
        self.history_ = FitHistory()
        #: block: alternating step (after the warm-up) of the returned state; else None
        self.best_step_: int | None = None
        #: block: indices (into the pairs given to ``fit``) of the held-out validation pairs
        self.validation_index_: torch.Tensor | None = None

    @property
    def _torch_device(self) -> torch.device:
        """The device the model lives on (CPU when ``device`` is None)."""
        return self._device

    @property
    def _dtype(self) -> torch.dtype:
        return SCHEMES[self.scheme].dtype if self.dtype is None else self.dtype

    # ----------------------------------------------------------------------------- fitting
    def _tensor(self, name: str, value: ArrayLike, dim: int | None = None) -> torch.Tensor:
        """``value`` as a 2-D tensor of the model's dtype and device; a tensor that requires
        grad is detached (the model is fitted to its values, not differentiated through)."""
        if isinstance(value, torch.Tensor):
            value = value.detach()
        tensor = to_tensor(name, value, ndim=2, dtype=self._dtype, device=self._torch_device)
        if tensor.shape[0] == 0:
            raise ValueError(f"{name} is empty")
        if dim is not None and tensor.shape[1] != dim:
            raise ValueError(f"{name} has dimension {tensor.shape[1]}, expected {dim}")
        return tensor

    def _validate(
        self,
        x_paired: ArrayLike | None,
        y_paired: ArrayLike | None,
        x_unpaired: ArrayLike | None,
        y_unpaired: ArrayLike | None,
    ) -> TrainingData:
        if (x_paired is None) != (y_paired is None):
            raise ValueError("give both x_paired and y_paired, or neither")
        parts = {
            "x_paired": x_paired,
            "y_paired": y_paired,
            "x_unpaired": x_unpaired,
            "y_unpaired": y_unpaired,
        }
        tensors = {k: self._tensor(k, v) for k, v in parts.items() if v is not None}
        dims_x = {tensors[k].shape[1] for k in ("x_paired", "x_unpaired") if k in tensors}
        dims_y = {tensors[k].shape[1] for k in ("y_paired", "y_unpaired") if k in tensors}
        if len(dims_x) > 1 or len(dims_y) > 1:
            raise ValueError(f"inconsistent dimensions: x has {dims_x}, y has {dims_y}")
        if "x_paired" in tensors and len(tensors["x_paired"]) != len(tensors["y_paired"]):
            raise ValueError(
                f"x_paired has {len(tensors['x_paired'])} rows but y_paired has "
                f"{len(tensors['y_paired'])}"
            )
        if not dims_x or not dims_y:
            raise ValueError("fit needs x and y data: pairs, or unpaired x and unpaired y")
        empty_x = torch.empty(0, *dims_x, dtype=self._dtype, device=self._torch_device)
        empty_y = torch.empty(0, *dims_y, dtype=self._dtype, device=self._torch_device)
        return TrainingData(
            tensors.get("x_paired", empty_x),
            tensors.get("y_paired", empty_y),
            tensors.get("x_unpaired", empty_x),
            tensors.get("y_unpaired", empty_y),
        )

    def fit(
        self,
        x_paired: ArrayLike | None = None,
        y_paired: ArrayLike | None = None,
        x_unpaired: ArrayLike | None = None,
        y_unpaired: ArrayLike | None = None,
    ) -> EBiEOT:
        """Fit on pairs ``(x_paired[i], y_paired[i])`` and/or unpaired ``x_unpaired``,
        ``y_unpaired`` (2-D arrays, one sample per row) with the scheme's training. Returns
        ``self``.

        Block scheme with ``validation_fraction > 0``: that fraction of the pairs is held out,
        their mean negative log-likelihood is evaluated every ``eval_every`` steps, and the
        model ends in the state with the lowest one (``best_step_`` records the step).
        """
        data = self._validate(x_paired, y_paired, x_unpaired, y_unpaired)
        self.dim_x_, self.dim_y_ = data.x_pairs.shape[1], data.y_pairs.shape[1]
        problem = FitProblem(
            data=data,
            options=self._options,
            eps=self.eps,
            seed=self.seed,
            generator=torch.Generator(device="cpu").manual_seed(self.seed),
            device=self._torch_device,
            dtype=self._dtype,
            progress=self.progress,
        )
        outcome = SCHEMES[self.scheme].fit(problem)
        self.potential_, self.cost_ = outcome.potential, outcome.cost
        self.history_, self.best_step_ = outcome.history, outcome.best_step
        self.validation_index_ = outcome.validation_index
        return self

    # ------------------------------------------------------------------------ closed forms
    def _fitted(self) -> tuple[GaussianMixturePotential, nn.Module]:
        if self.potential_ is None or self.cost_ is None:
            raise NotFittedError(f"{type(self).__name__} is not fitted yet; call fit first")
        return self.potential_, self.cost_

    def _mixture(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        potential, cost = self._fitted()
        return conditional_mixture(potential, *cost(x))

    def _inputs(self, x: ArrayLike) -> torch.Tensor:
        self._fitted()
        return self._tensor("x", x, self.dim_x_)

    # -------------------------------------------------------------------------- public API
    def conditional_mixture(self, x: ArrayLike) -> tuple[ArrayLike, ArrayLike, ArrayLike]:
        """The exact Gaussian mixture ``pi(.|x)`` for each row of ``x``.

        Returns ``(log_weights, means, variances)`` of shapes (n, K), (n, K, dim_y), (K, dim_y)
        with ``K = N * M`` diagonal components.
        """
        with torch.no_grad():
            parts = self._mixture(self._inputs(x))
        return tuple(to_output(p, is_numpy_input(x)) for p in parts)

    def log_prob(self, y: ArrayLike, x: ArrayLike) -> ArrayLike:
        """``log pi(y_i | x_i)`` for rows of ``y`` (n x dim_y) and ``x`` (n x dim_x, or one row
        broadcast to all y)."""
        xs = self._inputs(x)
        ys = self._tensor("y", y, self.dim_y_)
        if xs.shape[0] not in (1, ys.shape[0]):
            raise ValueError(f"x has {xs.shape[0]} rows; expected 1 or {ys.shape[0]} (as y)")
        with torch.no_grad():
            log_weights, means, variances = self._mixture(xs)
            log_normal = gaussian_log_density(ys, means, variances)
            out = torch.logsumexp(log_weights + log_normal, dim=1)
        return to_output(out, is_numpy_input(y))

    def sample(self, x: ArrayLike, n_samples: int = 1, seed: int | None = None) -> ArrayLike:
        """``n_samples`` exact draws from ``pi(.|x)`` per row of ``x``: (n, n_samples, dim_y)."""
        n_samples = check_positive_int("n_samples", n_samples)
        xs = self._inputs(x)
        generator = torch.Generator(device=self._torch_device).manual_seed(
            self.seed + 1 if seed is None else int(seed)
        )
        with torch.no_grad():
            log_weights, means, variances = self._mixture(xs)
            component = torch.multinomial(
                log_weights.exp(), n_samples, replacement=True, generator=generator
            )
            chosen = torch.gather(means, 1, component[..., None].expand(-1, -1, means.shape[-1]))
            noise = torch.randn(
                chosen.shape, generator=generator, dtype=chosen.dtype, device=chosen.device
            )
            out = chosen + noise * variances[component].sqrt()
        return to_output(out, is_numpy_input(x))

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Constructor arguments (scikit-learn convention; ``deep`` is accepted for
        ``sklearn.base.clone`` and has no effect: there are no nested estimators)."""
        return {name: getattr(self, name) for name in PARAMS}

    def set_params(self, **params: Any) -> EBiEOT:
        """Change constructor arguments (scikit-learn convention, used by ``GridSearchCV``
        and ``Pipeline``), checked as the constructor checks them; a fitted model keeps its
        fitted state until the next ``fit``. Returns ``self``."""
        current = self.get_params()
        unknown = sorted(set(params) - set(current))
        if unknown:
            raise ValueError(
                f"invalid parameter(s) {', '.join(unknown)} for {type(self).__name__}; "
                f"valid ones are {', '.join(sorted(current))}"
            )
        configured = type(self)(**{**current, **params})
        for name in (*current, "_options", "_device"):
            setattr(self, name, getattr(configured, name))
        return self

    def __sklearn_is_fitted__(self) -> bool:
        """For ``sklearn.utils.validation.check_is_fitted`` (the fitted attributes exist,
        as ``None``, before ``fit``)."""
        return self.potential_ is not None


class LightSB(EBiEOT):
    """LightSB (Korotin, Gushchin, Burnaev; ICLR 2024): unpaired entropic OT with the quadratic
    cost, i.e. EBiEOT with the cost fixed to ``-<x, y>`` (equivalent to ``||x - y||^2 / 2`` up to
    terms absorbed by the potentials); ``fit(x, y)`` takes samples of the two marginals."""

    def __init__(self, eps: float = 1.0, n_potentials: int | None = None, **kwargs: Any):
        super().__init__(eps=eps, n_potentials=n_potentials, n_costs=1, **kwargs)

    def fit(self, x: ArrayLike, y: ArrayLike) -> LightSB:  # type: ignore[override]
        """Fit on unpaired samples ``x`` (source) and ``y`` (target) of equal dimension."""
        super().fit(x_unpaired=x, y_unpaired=y)
        return self

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Constructor arguments: those of :class:`EBiEOT` less ``n_costs`` (fixed to 1)."""
        params = super().get_params(deep)
        del params["n_costs"]
        return params
