"""How an EBiEOT model is parameterised and trained: one strategy object per scheme.

* ``"paper"`` — the authors' training as their Swiss-roll notebooks run it (public repository
  MuXauJl11110/EBiEOT, ``notebooks/swiss_roll/ebieot_gmm.ipynb``, run by
  ``scripts/run_swiss_roll.py``; ``conf/experiment/gmm_swiss_roll.yaml``): per iteration one
  backward pass of ``L = mean c(x_p, y_p) / eps - mean (f^c(x_u) + f(y_u)) / eps`` (the
  paper's likelihood with the normaliser estimated from the marginals), then an Adam step of
  the cost (lr 3e-4) and one of the potential (lr 1e-3); batches of 128 drawn with
  replacement; 25,001 iterations, no early stopping; ``A_n`` through a softplus (no floor,
  ``A_init = 0.1``), centres from y samples, linear cost heads, b-head ~ N(0, 0.01^2); float64.
  Without unpaired samples the pairs' own x and y stand in for them, as in their code.
* ``"paper-alternating"`` — the same model trained as the authors' ``scripts/train.py`` does:
  an unpaired Adam step on *all* parameters (lr 1e-3), then a paired Adam step (lr 3e-4) with
  its own Adam state; centres from N(0, I); float32.
* ``"block"`` — ours: block-coordinate steps (a dual step on the potential with the cost held
  fixed, then the pairs' exact negative log-likelihood on the cost), variance floor, a small
  MLP cost, early stopping on held-out pairs, optional warm-up and weight decay.

Without pairs every scheme fixes the cost to ``-<x, y>`` (LightSB) and trains only the
potential.
"""

from __future__ import annotations

import copy
import math
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

from theoropt.ot._ebieot_model import (
    FlooredPotential,
    GaussianMixturePotential,
    InnerProductCost,
    LearnedCost,
    LinearHeadsCost,
    SoftplusPotential,
    c_transform,
    cost_value,
)


@dataclass
class TrainingData:
    """Validated training tensors: pairs (may be empty) and unpaired samples (may be empty)."""

    x_pairs: torch.Tensor
    y_pairs: torch.Tensor
    x_unpaired: torch.Tensor
    y_unpaired: torch.Tensor

    @property
    def has_pairs(self) -> bool:
        return self.x_pairs.shape[0] > 0


@dataclass
class FitHistory:
    """Per-step losses: ``dual`` — the unpaired (marginal) loss ``-mean(f^c(x) + f(y)) / eps``;
    ``paired`` — the paired loss (block: the pairs' negative conditional log-likelihood;
    paper: ``mean c(x, y) / eps``); held-out NLL at each validation step (block only)."""

    dual: list[float] = field(default_factory=list)
    paired: list[float] = field(default_factory=list)
    validation_step: list[int] = field(default_factory=list)
    validation_nll: list[float] = field(default_factory=list)


@dataclass
class FitProblem:
    """Everything a scheme needs to fit: data, resolved options and where to compute."""

    data: TrainingData
    options: Mapping[str, Any]
    eps: float
    seed: int
    generator: torch.Generator
    device: torch.device
    dtype: torch.dtype
    progress: bool


@dataclass
class FitOutcome:
    """What a scheme returns: the trained modules and what it recorded."""

    potential: GaussianMixturePotential
    cost: nn.Module
    history: FitHistory
    best_step: int | None = None
    validation_index: torch.Tensor | None = None


def draw(generator: torch.Generator, size: int, n: int, replace: bool) -> torch.Tensor:
    """``size`` random indices into ``range(n)`` (at most ``n`` without replacement)."""
    if replace:
        return torch.randint(n, (size,), generator=generator)
    return torch.randperm(n, generator=generator)[: min(size, n)]


def build_cost(problem: FitProblem, learned: Callable[[int, int], nn.Module]) -> nn.Module:
    """The scheme's learned cost with pairs, else LightSB's ``-<x, y>``; network weights are
    drawn from ``torch.manual_seed(seed)`` without disturbing the global random state."""
    data = problem.data
    dim_x, dim_y = data.x_pairs.shape[1], data.y_pairs.shape[1]
    if not data.has_pairs:
        if dim_x != dim_y:
            raise ValueError(
                f"without pairs the cost is fixed to -<x, y> (LightSB), which needs equal "
                f"dimensions; got x of dimension {dim_x} and y of dimension {dim_y}"
            )
        return InnerProductCost()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(problem.seed)
        return learned(dim_x, dim_y).to(problem.device)


class Scheme:
    """A training scheme: its default options, the options it accepts, and ``fit``."""

    name: str = ""
    #: options the scheme uses, with their defaults (``None``: resolved from ``eps``)
    defaults: Mapping[str, Any] = {}
    #: the precision the scheme computes in unless told otherwise
    dtype: torch.dtype = torch.float32

    def resolve(self, given: Mapping[str, Any], eps: float) -> dict[str, Any]:
        """The scheme's defaults overridden by the options given (not ``None``); an option
        the scheme does not use is an error naming it."""
        unused = sorted(k for k, v in given.items() if v is not None and k not in self.defaults)
        if unused:
            raise ValueError(
                f"{', '.join(unused)} {'does' if len(unused) == 1 else 'do'} not apply to "
                f"scheme={self.name!r}; "
                f"its options are {', '.join(sorted(self.defaults))}"
            )
        options = {
            k: given.get(k) if given.get(k) is not None else v for k, v in self.defaults.items()
        }
        return self.complete(options, eps)

    def complete(self, options: dict[str, Any], eps: float) -> dict[str, Any]:
        """Fill defaults that depend on ``eps`` (none by default)."""
        return options

    def fit(self, problem: FitProblem) -> FitOutcome:
        raise NotImplementedError


# --------------------------------------------------------------------------------- paper
Loss = Callable[[], torch.Tensor]
UpdateStep = Callable[[Loss, Loss | None], tuple[torch.Tensor, torch.Tensor | None]]
"""One training step given the unpaired and (with pairs) the paired loss; returns both."""


def joint_update(
    potential: nn.Module, cost: nn.Module, lr_potential: float, lr_cost: float
) -> UpdateStep:
    """The authors' notebooks: one backward of ``unpaired + paired``, then an Adam step of the
    cost (its own lr) and one of the potential; each optimizer holds only its own module."""
    potential_opt = torch.optim.Adam(potential.parameters(), lr=lr_potential)
    cost_params = list(cost.parameters())
    cost_opt = torch.optim.Adam(cost_params, lr=lr_cost) if cost_params else None

    def step(
        unpaired_loss: Loss, paired_loss: Loss | None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        unpaired = unpaired_loss()
        paired = paired_loss() if paired_loss is not None else None
        total = unpaired if paired is None else unpaired + paired
        potential_opt.zero_grad(set_to_none=True)
        if cost_opt is not None:
            cost_opt.zero_grad(set_to_none=True)
        total.backward()
        if cost_opt is not None:
            cost_opt.step()
        potential_opt.step()
        return unpaired, paired

    return step


def alternating_update(
    potential: nn.Module, cost: nn.Module, lr_potential: float, lr_cost: float
) -> UpdateStep:
    """The authors' ``scripts/train.py``: an Adam step of the unpaired loss on all parameters
    (potential and cost, ``lr_potential``), then a separate Adam (own state, ``lr_cost``) on the
    paired loss, evaluated after the first step; the paired loss reaches only the cost."""
    params = [*potential.parameters(), *cost.parameters()]
    unpaired_opt = torch.optim.Adam(params, lr=lr_potential)
    paired_opt = torch.optim.Adam(params, lr=lr_cost)

    def step(
        unpaired_loss: Loss, paired_loss: Loss | None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        unpaired_opt.zero_grad(set_to_none=True)
        unpaired = unpaired_loss()
        unpaired.backward()
        unpaired_opt.step()
        if paired_loss is None:
            return unpaired, None
        paired_opt.zero_grad(set_to_none=True)
        paired = paired_loss()
        paired.backward()
        paired_opt.step()
        return unpaired, paired

    return step


def centres_from_samples(y_pool: torch.Tensor, n: int, generator: torch.Generator) -> torch.Tensor:
    """``n`` centres drawn (with replacement) from the y samples: the notebooks'
    ``init_a_by_samples``."""
    return y_pool[draw(generator, n, len(y_pool), replace=True).to(y_pool.device)]


def centres_from_normal(y_pool: torch.Tensor, n: int, generator: torch.Generator) -> torch.Tensor:
    """``n`` centres from N(0, I): ``EbieotGmm``'s own initialisation (``scripts/train.py``)."""
    noise = torch.randn(n, y_pool.shape[1], generator=generator, dtype=y_pool.dtype)
    return noise.to(y_pool.device)


PAPER_DEFAULTS: Mapping[str, Any] = {
    "n_potentials": 50,
    "n_costs": 25,
    "init_variance": None,  # eps * 0.1: A_init = 0.1
    "steps": 25_001,
    "batch_size": 128,
    "lr_potential": 1e-3,
    "lr_cost": 3e-4,
}


class PaperScheme(Scheme):
    """The authors' training (module docstring); ``update`` and ``centres`` pick between their
    notebook and their ``scripts/train.py``."""

    defaults = PAPER_DEFAULTS

    def __init__(
        self,
        name: str,
        update: Callable[[nn.Module, nn.Module, float, float], UpdateStep],
        centres: Callable,
        dtype: torch.dtype,
    ):
        self.name, self.update, self.centres, self.dtype = name, update, centres, dtype

    def complete(self, options: dict[str, Any], eps: float) -> dict[str, Any]:
        if options["init_variance"] is None:
            options["init_variance"] = 0.1 * eps
        return options

    def fit(self, problem: FitProblem) -> FitOutcome:
        data, opts, eps, generator = problem.data, problem.options, problem.eps, problem.generator
        # their samplers fall back on the pairs' own x or y where a marginal has no samples
        x_pool = data.x_unpaired if data.x_unpaired.shape[0] else data.x_pairs
        y_pool = data.y_unpaired if data.y_unpaired.shape[0] else data.y_pairs
        cost = build_cost(
            problem, lambda dx, dy: LinearHeadsCost(dx, dy, opts["n_costs"], problem.dtype)
        )
        centres = self.centres(y_pool, opts["n_potentials"], generator)
        potential = SoftplusPotential(centres, eps, opts["init_variance"] / eps)
        step = self.update(potential, cost, opts["lr_potential"], opts["lr_cost"])
        history = FitHistory()
        size = opts["batch_size"]

        def batch(*tensors: torch.Tensor) -> list[torch.Tensor]:
            index = draw(generator, size, len(tensors[0]), replace=True).to(problem.device)
            return [t[index] for t in tensors]

        def unpaired_loss() -> torch.Tensor:
            (xu,), (yu,) = batch(x_pool), batch(y_pool)
            return -(c_transform(potential, *cost(xu)).mean() + potential(yu).mean()) / eps

        def paired_loss() -> torch.Tensor:
            xp, yp = batch(data.x_pairs, data.y_pairs)
            log_v, drift = cost(xp)
            return cost_value(log_v, drift, yp, eps).mean() / eps

        for _ in tqdm(range(opts["steps"]), disable=not problem.progress, desc="EBiEOT fit"):
            unpaired, paired = step(unpaired_loss, paired_loss if data.has_pairs else None)
            history.dual.append(unpaired.item())
            if paired is not None:
                history.paired.append(paired.item())
        return FitOutcome(potential, cost, history)


# --------------------------------------------------------------------------------- block
BLOCK_DEFAULTS: Mapping[str, Any] = {
    "n_potentials": 50,
    "n_costs": 25,
    "hidden": 64,
    "min_variance": 1e-3,
    "init_variance": 0.1,
    "steps": 2000,
    "batch_size": 256,
    "lr_potential": 1e-2,
    "lr_cost": 1e-3,
    "weight_decay": 0.0,
    "warmup_steps": 0,
    "validation_fraction": 0.25,
    "eval_every": 10,
    "patience": None,
}


def paired_nll(
    potential: GaussianMixturePotential, cost: nn.Module, x: torch.Tensor, y: torch.Tensor
) -> torch.Tensor:
    """``mean (c(x, y) - f(y) - f^c(x)) / eps = -mean log pi(y|x)`` (energy form); the
    potential is held fixed."""
    log_v, drift = cost(x)
    with torch.no_grad():
        f_y = potential(y)
    cost_xy = cost_value(log_v, drift, y, potential.eps)
    return (cost_xy - f_y - c_transform(potential, log_v, drift)).mean() / potential.eps


def dual_loss(
    potential: GaussianMixturePotential, cost: nn.Module, x: torch.Tensor, y: torch.Tensor
) -> torch.Tensor:
    """``-(mean f^c(x) + mean f(y)) / eps``; the cost is held fixed (no gradient)."""
    with torch.no_grad():
        log_v, drift = cost(x)
    return -(c_transform(potential, log_v, drift).mean() + potential(y).mean()) / potential.eps


class BlockScheme(Scheme):
    """Ours: block-coordinate maximum likelihood with early stopping (module docstring)."""

    name = "block"
    defaults = BLOCK_DEFAULTS

    def split_validation(
        self, problem: FitProblem
    ) -> tuple[TrainingData, tuple[torch.Tensor, torch.Tensor] | None, torch.Tensor | None]:
        """Hold out ``validation_fraction`` of the pairs (at least one); they leave the
        training data entirely (neither pairs nor marginal samples)."""
        data, fraction = problem.data, problem.options["validation_fraction"]
        n_pairs = data.x_pairs.shape[0]
        if fraction == 0.0 or n_pairs == 0:
            return data, None, None
        if n_pairs == 1:
            warnings.warn(
                "a single pair cannot be split for early stopping: training on it without "
                "validation (pass validation_fraction=0 to silence this)",
                stacklevel=4,
            )
            return data, None, None
        n_val = max(1, round(fraction * n_pairs))
        if n_val >= n_pairs:
            raise ValueError(
                f"validation_fraction={fraction} holds out {n_val} of "
                f"{n_pairs} pairs, leaving none to train on; pass validation_fraction=0 to "
                "train on every pair without early stopping"
            )
        order = torch.randperm(n_pairs, generator=problem.generator).to(problem.device)
        val, train = order[:n_val], order[n_val:]
        kept = TrainingData(
            data.x_pairs[train], data.y_pairs[train], data.x_unpaired, data.y_unpaired
        )
        return kept, (data.x_pairs[val], data.y_pairs[val]), val.cpu()

    def fit(self, problem: FitProblem) -> FitOutcome:
        opts, generator = problem.options, problem.generator
        data, validation, validation_index = self.split_validation(problem)
        problem = FitProblem(**{**problem.__dict__, "data": data})
        x_pool = torch.cat([data.x_unpaired, data.x_pairs])
        y_pool = torch.cat([data.y_unpaired, data.y_pairs])
        cost = build_cost(
            problem,
            lambda dx, dy: LearnedCost(dx, dy, opts["n_costs"], opts["hidden"], problem.dtype),
        )
        pick = draw(generator, opts["n_potentials"], len(y_pool), replace=True)
        potential = FlooredPotential(
            y_pool[pick.to(problem.device)],
            problem.eps,
            opts["min_variance"],
            opts["init_variance"],
        )
        history, best_step = FitHistory(), None
        dual_opt = torch.optim.Adam(potential.parameters(), lr=opts["lr_potential"])
        cost_params = list(cost.parameters())
        paired_opt = (
            torch.optim.AdamW(cost_params, lr=opts["lr_cost"], weight_decay=opts["weight_decay"])
            if cost_params
            else None
        )
        best_nll, best_state = math.inf, None

        def batch(*tensors: torch.Tensor) -> list[torch.Tensor]:
            index = draw(generator, opts["batch_size"], len(tensors[0]), replace=False)
            return [t[index.to(problem.device)] for t in tensors]

        warmup, steps = opts["warmup_steps"], opts["steps"]
        for step in tqdm(range(warmup + steps), disable=not problem.progress, desc="EBiEOT fit"):
            (xb,), (yb,) = batch(x_pool), batch(y_pool)
            dual = dual_loss(potential, cost, xb, yb)
            dual_opt.zero_grad(set_to_none=True)
            dual.backward()
            dual_opt.step()
            history.dual.append(dual.item())
            if step < warmup or paired_opt is None:
                continue
            nll = paired_nll(potential, cost, *batch(data.x_pairs, data.y_pairs))
            paired_opt.zero_grad(set_to_none=True)
            nll.backward()
            paired_opt.step()
            history.paired.append(nll.item())
            done = step + 1 - warmup
            if validation is not None and (done % opts["eval_every"] == 0 or done == steps):
                with torch.no_grad():
                    val_nll = paired_nll(potential, cost, *validation).item()
                history.validation_step.append(done)
                history.validation_nll.append(val_nll)
                if val_nll < best_nll:
                    best_nll, best_step = val_nll, done
                    best_state = copy.deepcopy((potential.state_dict(), cost.state_dict()))
                elif (
                    opts["patience"] is not None
                    and best_step is not None
                    and done - best_step >= opts["patience"] * opts["eval_every"]
                ):
                    break
        if best_state is not None:
            potential.load_state_dict(best_state[0])
            cost.load_state_dict(best_state[1])
        return FitOutcome(potential, cost, history, best_step, validation_index)


SCHEMES: Mapping[str, Scheme] = {
    "paper": PaperScheme("paper", joint_update, centres_from_samples, torch.float64),
    "paper-alternating": PaperScheme(
        "paper-alternating", alternating_update, centres_from_normal, torch.float32
    ),
    "block": BlockScheme(),
}
