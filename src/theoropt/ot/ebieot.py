"""EBiEOT (Persiianov, Asadulaev, ..., Burnaev, Korotin; ICML 2026, "Inverse Entropic Optimal
Transport Solves Semi-supervised Learning via Data Likelihood Maximization") with the Gaussian
mixture parameterisation, and LightSB (Korotin, Gushchin, Burnaev; ICLR 2024) as its special case.

Model (DESIGN.md section 4). Potential ``f(y) = eps log sum_n w_n N(y | a_n, eps A_n)`` (``A_n``
diagonal, at least ``min_variance / eps``), cost ``c(x, y) = -eps log sum_m v_m(x) exp(<b_m(x), y>
/ eps)`` with ``v(x)`` on the simplex and ``b_m(x)`` from a small network. The conditional
``pi(y|x) ∝ exp((f(y) - c(x, y)) / eps)`` is then a Gaussian mixture in closed form::

    logZ_nm(x) = log v_m(x) + log w_n + (b_m^T A_n b_m + 2 a_n^T b_m) / (2 eps)
    pi(y|x)    = sum_nm softmax(logZ(x))_nm N(y | a_n + A_n b_m(x), eps A_n)

so sampling and ``log_prob`` are exact. Training alternates two steps (the stabilisation found
in DESIGN.md): a dual step fitting the potential to the marginals, minimising
``-mean_x f^c(x) / eps - mean_y f(y) / eps`` with ``f^c(x) = -eps LSE_nm logZ_nm(x)`` over all
x and y seen (unpaired and the pairs' own), then a likelihood step fitting the cost to the pairs,
minimising their negative conditional log-likelihood ``mean (c(x, y) - f(y) - f^c(x)) / eps``.
With pairs only this is block-coordinate maximum likelihood on the pairs; with no pairs the
cost is fixed to ``-<x, y>`` (``M = 1, v = 1, b(x) = x``) and only the dual step runs: LightSB.
By default a quarter of the pairs is held out and the state with the lowest held-out negative
log-likelihood is returned (early stopping): the learned cost overfits a few pairs within a
few hundred steps (docs/ot.md, "Overfitting and unpaired data").
"""

from __future__ import annotations

import copy
import math
import warnings
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

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

LOG_2PI = math.log(2.0 * math.pi)


class GaussianMixturePotential(nn.Module):
    """``f(y) = eps log sum_n w_n N(y | a_n, eps A_n)`` with ``A_n >= min_variance / eps``."""

    def __init__(
        self, centers: torch.Tensor, eps: float, min_variance: float, init_variance: float
    ):
        super().__init__()
        n, dim = centers.shape
        self.eps = eps
        self.floor = min_variance / eps
        start = max(init_variance / eps - self.floor, 1e-6)
        self.logits = nn.Parameter(torch.zeros(n, dtype=centers.dtype))
        self.centers = nn.Parameter(centers.clone())
        self.raw_scale = nn.Parameter(torch.full((n, dim), math.log(start), dtype=centers.dtype))

    def scales(self) -> torch.Tensor:
        """Diagonals ``A_n`` (n_potentials x dim)."""
        return self.floor + self.raw_scale.exp()

    def log_weights(self) -> torch.Tensor:
        return torch.log_softmax(self.logits, dim=0)

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        """``f(y)`` for a batch ``y`` (batch x dim)."""
        variances = self.eps * self.scales()
        diff = y[:, None, :] - self.centers[None]
        log_normal = -0.5 * (
            (diff * diff / variances).sum(-1) + variances.log().sum(-1) + y.shape[1] * LOG_2PI
        )
        return self.eps * torch.logsumexp(self.log_weights() + log_normal, dim=1)


class LearnedCost(nn.Module):
    """``v(x)`` (softmax of M logits) and ``b_m(x)`` from one MLP: ``dim_x -> M (1 + dim_y)``."""

    def __init__(self, dim_x: int, dim_y: int, n_costs: int, hidden: int, dtype: torch.dtype):
        super().__init__()
        self.n_costs, self.dim_y = n_costs, dim_y
        self.net = nn.Sequential(
            nn.Linear(dim_x, hidden, dtype=dtype),
            nn.SiLU(),
            nn.Linear(hidden, hidden, dtype=dtype),
            nn.SiLU(),
            nn.Linear(hidden, n_costs * (1 + dim_y), dtype=dtype),
        )

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(log v(x), b(x))`` of shapes (batch, M) and (batch, M, dim_y)."""
        out = self.net(x)
        log_v = torch.log_softmax(out[:, : self.n_costs], dim=1)
        return log_v, out[:, self.n_costs :].reshape(-1, self.n_costs, self.dim_y)


class InnerProductCost(nn.Module):
    """The fixed LightSB cost ``c(x, y) = -<x, y>``: ``M = 1, v = 1, b(x) = x``."""

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.zeros(x.shape[0], 1, dtype=x.dtype, device=x.device), x[:, None, :]


@dataclass
class _Data:
    """Validated training tensors: pairs (may be empty) and the unpaired samples (may be
    empty)."""

    x_pairs: torch.Tensor
    y_pairs: torch.Tensor
    x_unpaired: torch.Tensor
    y_unpaired: torch.Tensor


@dataclass
class FitHistory:
    """Per-step losses of the dual (marginal) and likelihood (paired) steps, and the held-out
    pairs' negative log-likelihood at each validation step (counted after the warm-up)."""

    dual: list[float] = field(default_factory=list)
    paired_nll: list[float] = field(default_factory=list)
    validation_step: list[int] = field(default_factory=list)
    validation_nll: list[float] = field(default_factory=list)


class EBiEOT:
    """Semi-supervised conditional model ``pi(y|x)`` from few pairs and unpaired x and y.

    Args:
        eps: entropic regularisation; the conditional covariances are ``eps * A_n``.
        n_potentials: mixture components N of the potential.
        n_costs: components M of the learned cost.
        hidden: width of the cost network.
        min_variance: floor on every conditional variance ``eps * A_n`` (in data units);
            without it the mixture collapses onto the training points (DESIGN.md section 4).
        init_variance: starting conditional variance.
        steps, batch_size: alternating optimisation steps and their batch size.
        lr_potential, lr_cost: Adam learning rates of the potential and of the cost network.
        weight_decay: decoupled weight decay of the cost network (AdamW; Loshchilov & Hutter,
            ICLR 2019); 0 is plain Adam.
        warmup_steps: dual-only steps before the alternating phase: the potential is first
            fitted to the marginals (all x and y seen) under the initial cost, as LightSB fits
            it. Useful with unpaired data; with pairs alone the potential then fits the few
            pair targets, which hurt the paired-only model in our Swiss-roll runs (docs/ot.md).
        validation_fraction: fraction of the pairs held out for early stopping (at least one
            pair; they are not used for training at all, not even as marginal samples): their
            mean negative conditional log-likelihood is computed every ``eval_every``
            alternating steps and ``fit`` returns the state with the lowest value. 0 turns
            early stopping off (train on every pair for ``steps`` steps). Ignored without pairs;
            skipped with a warning when there is a single pair.
        eval_every: alternating steps between two validation evaluations.
        patience: stop once this many evaluations in a row did not improve on the best one
            (``None``: run all ``steps`` and keep the best state).
        seed: seeds initialisation, batches and (by default) sampling.
        progress: show a tqdm progress bar during ``fit``.
        device, dtype: where and in which precision the model lives (default CPU, float32).
    """

    def __init__(
        self,
        eps: float = 1.0,
        n_potentials: int = 50,
        n_costs: int = 25,
        *,
        hidden: int = 64,
        min_variance: float = 1e-3,
        init_variance: float = 0.1,
        steps: int = 2000,
        batch_size: int = 256,
        lr_potential: float = 1e-2,
        lr_cost: float = 1e-3,
        weight_decay: float = 0.0,
        warmup_steps: int = 0,
        validation_fraction: float = 0.25,
        eval_every: int = 10,
        patience: int | None = None,
        seed: int = 0,
        progress: bool = True,
        device: str | torch.device | None = None,
        dtype: torch.dtype = torch.float32,
    ):
        self.eps = check_positive("eps", eps)
        self.n_potentials = check_positive_int("n_potentials", n_potentials)
        self.n_costs = check_positive_int("n_costs", n_costs)
        self.hidden = check_positive_int("hidden", hidden)
        self.min_variance = check_positive("min_variance", min_variance)
        self.init_variance = check_positive("init_variance", init_variance)
        self.steps = check_positive_int("steps", steps)
        self.batch_size = check_positive_int("batch_size", batch_size)
        self.lr_potential = check_positive("lr_potential", lr_potential)
        self.lr_cost = check_positive("lr_cost", lr_cost)
        self.weight_decay = check_non_negative("weight_decay", weight_decay)
        self.warmup_steps = check_non_negative_int("warmup_steps", warmup_steps)
        self.validation_fraction = check_non_negative("validation_fraction", validation_fraction)
        if self.validation_fraction >= 1.0:
            raise ValueError(f"validation_fraction must be in [0, 1), got {validation_fraction!r}")
        self.eval_every = check_positive_int("eval_every", eval_every)
        self.patience = None if patience is None else check_positive_int("patience", patience)
        if dtype not in (torch.float32, torch.float64):
            raise TypeError(f"dtype must be torch.float32 or torch.float64, got {dtype}")
        self.seed, self.progress, self.dtype = int(seed), bool(progress), dtype
        self.device = device  # as given (scikit-learn convention); see ``_torch_device``
        torch.device("cpu" if device is None else device)  # fail early on a bad device
        self.dim_x_ = self.dim_y_ = 0
        self.potential_: GaussianMixturePotential | None = None
        self.cost_: nn.Module | None = None
        self.history_ = FitHistory()
        #: alternating step (after the warm-up) of the returned state; None without validation
        self.best_step_: int | None = None
        #: indices (into the pairs given to ``fit``) of the held-out validation pairs
        self.validation_index_: torch.Tensor | None = None

    @property
    def _torch_device(self) -> torch.device:
        """The device the model lives on (CPU when ``device`` is None)."""
        return torch.device("cpu" if self.device is None else self.device)

    # ----------------------------------------------------------------------------- fitting
    def _tensor(self, name: str, value: ArrayLike, dim: int | None = None) -> torch.Tensor:
        tensor = to_tensor(name, value, ndim=2, dtype=self.dtype, device=self._torch_device)
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
    ) -> _Data:
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
        empty_x = torch.empty(0, *dims_x, dtype=self.dtype, device=self._torch_device)
        empty_y = torch.empty(0, *dims_y, dtype=self.dtype, device=self._torch_device)
        x_pairs = tensors.get("x_paired", empty_x)
        y_pairs = tensors.get("y_paired", empty_y)
        return _Data(
            x_pairs,
            y_pairs,
            tensors.get("x_unpaired", empty_x),
            tensors.get("y_unpaired", empty_y),
        )

    def _make_cost(self, dim_x: int, dim_y: int, has_pairs: bool) -> nn.Module:
        if has_pairs:
            return LearnedCost(dim_x, dim_y, self.n_costs, self.hidden, self.dtype)
        if dim_x != dim_y:
            raise ValueError(
                f"without pairs the cost is fixed to -<x, y> (LightSB), which needs equal "
                f"dimensions; got x of dimension {dim_x} and y of dimension {dim_y}"
            )
        return InnerProductCost()

    def _split_validation(
        self, data: _Data, generator: torch.Generator
    ) -> tuple[_Data, tuple[torch.Tensor, torch.Tensor] | None]:
        """Hold out ``validation_fraction`` of the pairs (at least one); they leave the
        training data entirely (neither pairs nor marginal samples)."""
        n_pairs = data.x_pairs.shape[0]
        if self.validation_fraction == 0.0 or n_pairs == 0:
            return data, None
        if n_pairs == 1:
            warnings.warn(
                "a single pair cannot be split for early stopping: training on it without "
                "validation (pass validation_fraction=0 to silence this)",
                stacklevel=3,
            )
            return data, None
        n_val = max(1, round(self.validation_fraction * n_pairs))
        if n_val >= n_pairs:
            raise ValueError(
                f"validation_fraction={self.validation_fraction} holds out {n_val} of "
                f"{n_pairs} pairs, leaving none to train on; pass validation_fraction=0 to "
                "train on every pair without early stopping"
            )
        order = torch.randperm(n_pairs, generator=generator).to(self._torch_device)
        val, train = order[:n_val], order[n_val:]
        self.validation_index_ = val.cpu()
        kept = _Data(data.x_pairs[train], data.y_pairs[train], data.x_unpaired, data.y_unpaired)
        return kept, (data.x_pairs[val], data.y_pairs[val])

    def fit(
        self,
        x_paired: ArrayLike | None = None,
        y_paired: ArrayLike | None = None,
        x_unpaired: ArrayLike | None = None,
        y_unpaired: ArrayLike | None = None,
    ) -> EBiEOT:
        """Fit on pairs ``(x_paired[i], y_paired[i])`` and/or unpaired ``x_unpaired``,
        ``y_unpaired`` (2-D arrays, one sample per row). Returns ``self``.

        With ``validation_fraction > 0`` that fraction of the pairs is held out, their mean
        negative log-likelihood is evaluated every ``eval_every`` steps, and the model ends
        in the state with the lowest one (early stopping; ``best_step_`` records the step).
        """
        data = self._validate(x_paired, y_paired, x_unpaired, y_unpaired)
        self.validation_index_ = None
        has_pairs = data.x_pairs.shape[0] > 0
        generator = torch.Generator(device="cpu").manual_seed(self.seed)
        data, validation = self._split_validation(data, generator)
        x_pool = torch.cat([data.x_unpaired, data.x_pairs])
        y_pool = torch.cat([data.y_unpaired, data.y_pairs])
        self.dim_x_, self.dim_y_ = x_pool.shape[1], y_pool.shape[1]
        torch_state = torch.random.get_rng_state()
        torch.manual_seed(self.seed)  # network initialisation
        try:
            cost = self._make_cost(x_pool.shape[1], y_pool.shape[1], has_pairs)
        finally:
            torch.random.set_rng_state(torch_state)
        pick = torch.randint(len(y_pool), (self.n_potentials,), generator=generator)
        potential = GaussianMixturePotential(
            y_pool[pick.to(self._torch_device)], self.eps, self.min_variance, self.init_variance
        )
        self.potential_, self.cost_ = potential.to(self._torch_device), cost.to(self._torch_device)
        self.history_ = FitHistory()
        self.best_step_ = None
        dual_opt = torch.optim.Adam(potential.parameters(), lr=self.lr_potential)
        cost_params = list(cost.parameters())
        paired_opt = (
            torch.optim.AdamW(cost_params, lr=self.lr_cost, weight_decay=self.weight_decay)
            if cost_params
            else None
        )
        best_nll, best_state = math.inf, None

        def batch(*tensors: torch.Tensor) -> list[torch.Tensor]:
            size = min(self.batch_size, len(tensors[0]))
            index = torch.randperm(len(tensors[0]), generator=generator)[:size]
            index = index.to(self._torch_device)
            return [t[index] for t in tensors]

        total = self.warmup_steps + self.steps
        for step in tqdm(range(total), disable=not self.progress, desc="EBiEOT fit"):
            (xb,), (yb,) = batch(x_pool), batch(y_pool)
            dual = self._dual_loss(xb, yb)
            dual_opt.zero_grad(set_to_none=True)
            dual.backward()
            dual_opt.step()
            self.history_.dual.append(dual.item())
            if step < self.warmup_steps or not has_pairs or paired_opt is None:
                continue
            xp, yp = batch(data.x_pairs, data.y_pairs)
            nll = self._paired_nll(xp, yp)
            paired_opt.zero_grad(set_to_none=True)
            nll.backward()
            paired_opt.step()
            self.history_.paired_nll.append(nll.item())
            done = step + 1 - self.warmup_steps
            if validation is not None and (done % self.eval_every == 0 or done == self.steps):
                with torch.no_grad():
                    val_nll = self._paired_nll(*validation).item()
                self.history_.validation_step.append(done)
                self.history_.validation_nll.append(val_nll)
                if val_nll < best_nll:
                    best_nll, self.best_step_ = val_nll, done
                    best_state = copy.deepcopy((potential.state_dict(), cost.state_dict()))
                elif (
                    self.patience is not None
                    and self.best_step_ is not None
                    and done - self.best_step_ >= self.patience * self.eval_every
                ):
                    break
        if best_state is not None:
            potential.load_state_dict(best_state[0])
            cost.load_state_dict(best_state[1])
        return self

    # ------------------------------------------------------------------------ closed forms
    def _fitted(self) -> tuple[GaussianMixturePotential, nn.Module]:
        if self.potential_ is None or self.cost_ is None:
            raise RuntimeError(f"{type(self).__name__} is not fitted yet; call fit first")
        return self.potential_, self.cost_

    def _log_z(self, log_v: torch.Tensor, drift: torch.Tensor) -> torch.Tensor:
        """``logZ_nm(x)`` (batch, N, M) from the cost outputs ``log v(x)``, ``b(x)``.

        ``b_m^T A_n b_m + 2 a_n^T b_m`` is one matrix product of ``[b_m^2, b_m]`` with
        ``[A_n, 2 a_n]``.
        """
        potential = self._fitted()[0]
        features = torch.cat([drift * drift, drift], dim=-1)  # (batch, M, 2 dim_y)
        coefficients = torch.cat([potential.scales(), 2.0 * potential.centers], dim=-1)
        quadratic = (features @ coefficients.T).transpose(1, 2)  # (batch, N, M)
        return (
            log_v[:, None, :]
            + potential.log_weights()[None, :, None]
            + quadratic / (2.0 * self.eps)
        )

    def _c_transform(self, log_v: torch.Tensor, drift: torch.Tensor) -> torch.Tensor:
        """``f^c(x) = -eps LSE_nm logZ_nm(x)``."""
        return -self.eps * torch.logsumexp(self._log_z(log_v, drift).flatten(1), dim=1)

    def _dual_loss(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """``-(mean f^c(x) + mean f(y)) / eps``; the cost is held fixed (no gradient)."""
        potential, cost = self._fitted()
        with torch.no_grad():
            log_v, drift = cost(x)
        return -(self._c_transform(log_v, drift).mean() + potential(y).mean()) / self.eps

    def _paired_nll(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """``mean (c(x, y) - f(y) - f^c(x)) / eps = -mean log pi(y|x)`` (energy form), with
        ``c(x, y) = -eps LSE_m (log v_m(x) + <b_m(x), y> / eps)``; the potential is held
        fixed."""
        potential, cost = self._fitted()
        log_v, drift = cost(x)
        with torch.no_grad():
            f_y = potential(y)
        cost_xy = -self.eps * torch.logsumexp(
            log_v + (drift @ y[:, :, None])[..., 0] / self.eps, dim=1
        )
        return (cost_xy - f_y - self._c_transform(log_v, drift)).mean() / self.eps

    def _mixture(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        potential, cost = self._fitted()
        log_v, drift = cost(x)
        log_weights = torch.log_softmax(self._log_z(log_v, drift).flatten(1), dim=1)
        scales = potential.scales()
        means = potential.centers[None, :, None, :] + scales[None, :, None, :] * drift[:, None]
        variances = (self.eps * scales)[:, None, :].expand(-1, drift.shape[1], -1)
        return log_weights, means.flatten(1, 2), variances.flatten(0, 1)

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
        return tuple(to_output(p, is_numpy_input(x)) for p in parts)  # type: ignore[return-value]

    def log_prob(self, y: ArrayLike, x: ArrayLike) -> ArrayLike:
        """``log pi(y_i | x_i)`` for rows of ``y`` (n x dim_y) and ``x`` (n x dim_x, or one row
        broadcast to all y)."""
        xs = self._inputs(x)
        ys = self._tensor("y", y, self.dim_y_)
        if xs.shape[0] not in (1, ys.shape[0]):
            raise ValueError(f"x has {xs.shape[0]} rows; expected 1 or {ys.shape[0]} (as y)")
        with torch.no_grad():
            log_weights, means, variances = self._mixture(xs)
            diff = ys[:, None, :] - means
            log_normal = -0.5 * (
                (diff * diff / variances).sum(-1) + variances.log().sum(-1) + ys.shape[1] * LOG_2PI
            )
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
        names = (
            "eps n_potentials n_costs hidden min_variance init_variance steps batch_size "
            "lr_potential lr_cost weight_decay warmup_steps validation_fraction eval_every "
            "patience seed progress device dtype"
        ).split()
        return {name: getattr(self, name) for name in names}


class LightSB(EBiEOT):
    """LightSB (Korotin, Gushchin, Burnaev; ICLR 2024): unpaired entropic OT with the quadratic
    cost, i.e. EBiEOT with the cost fixed to ``-<x, y>`` (equivalent to ``||x - y||^2 / 2`` up to
    terms absorbed by the potentials); ``fit(x, y)`` takes samples of the two marginals."""

    def __init__(self, eps: float = 1.0, n_potentials: int = 50, **kwargs: Any):
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
