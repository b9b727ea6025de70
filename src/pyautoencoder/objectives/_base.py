"""The :class:`Objective` protocol, sums of objectives, and the objective registry.

An objective is an object separate from the model (Pyro's ``Trace_ELBO`` / ``RenyiELBO``):
``objective(model, x, output) -> LossResult``. The model supplies the terms through a small
protocol (:class:`VariationalModel`) and never knows which bound it is trained on.
"""

from __future__ import annotations

import dataclasses
import numbers
from abc import abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar, Protocol, cast

import torch
from torch import nn

from .._registry import Registry
from ..distributions._likelihood import Likelihood, LikelihoodType
from ..distributions._priors import Prior
from ..loss._result import LossResult

LikelihoodSpec = LikelihoodType | str | Likelihood | None
Weight = float | torch.Tensor


class VariationalModel(Protocol):
    """What an objective may read from a model (the VAE family implements it).

    ``reconstruction_log_prob(x, output, likelihood) -> [B, S]``: the checked
    ``sum_features log p(x | z_s)``; ``mean_reconstruction_log_prob(x, output, likelihood) ->
    []``: its mean over inputs and samples (one fused reduction where the likelihood has one);
    ``reconstruction_nll(x, output, likelihood) -> [B]``: minus the mean over samples of
    ``reconstruction_log_prob``, per input (the ELBO's term);
    ``kl_per_dim(output) -> [B, D_z]`` (closed form) or
    ``[B, 1]`` (Monte Carlo); ``posterior_log_prob(output, detach_params) -> [B, S]``:
    ``log q(z_s | x)`` at ``output.z`` (``detach_params=True`` stops the gradient through the
    posterior's parameters but not through the sample path); ``prior_log_prob(output) ->
    [B, S]``: ``log p(z_s)`` (a hierarchical model's top-down prior too); ``latent_prior``;
    ``latent_dim``.
    """

    latent_dim: int
    latent_prior: Prior

    def reconstruction_log_prob(
        self, x: torch.Tensor, output: Any, likelihood: LikelihoodSpec = None
    ) -> torch.Tensor: ...

    def mean_reconstruction_log_prob(
        self, x: torch.Tensor, output: Any, likelihood: LikelihoodSpec = None
    ) -> torch.Tensor: ...

    def reconstruction_nll(
        self, x: torch.Tensor, output: Any, likelihood: LikelihoodSpec = None
    ) -> torch.Tensor: ...

    def kl_per_dim(self, output: Any) -> torch.Tensor: ...

    def posterior_log_prob(self, output: Any, detach_params: bool = False) -> torch.Tensor: ...

    def prior_log_prob(self, output: Any) -> torch.Tensor: ...


OBJECTIVES: Registry[type[Objective]] = Registry("objective")
"""Objective classes by name, for :meth:`Objective.from_config` and configs."""


def register_objective(name: str) -> Any:
    """Class decorator: make an :class:`Objective` rebuildable from its config by ``name``."""

    def decorator(cls: type[Objective]) -> type[Objective]:
        cls.name = name.lower()
        OBJECTIVES.register(name, cls)
        return cls

    return decorator


class Objective(nn.Module):
    """A training objective: ``objective(model, x, output, *, beta=1, likelihood=None)``.

    Returns a :class:`~pyautoencoder.loss.LossResult` whose ``objective`` is minimised.
    Subclasses implement :meth:`forward` and :meth:`diagnostic_keys` and store their
    constructor arguments so that :meth:`config` rebuilds them. Objectives are modules so
    that the rare stateful one (a step counter) keeps its state in ``state_dict``.

    ``beta`` is the KL weight passed to ``compute_loss`` (a number or a 0-dim tensor from a
    schedule); it multiplies the objective's own KL weight, so ``ELBO(beta=4)`` under a
    warm-up from 0 to 1 sees a weight from 0 to 4. Objectives without a KL term ignore it.
    ``likelihood=None`` means the model's own likelihood.

    Objectives add: ``ELBO() + DIPPenalty("ii", 10.0)`` is a :class:`SumObjective` whose
    objective is the sum and whose diagnostics are the union (the keys must be distinct).
    """

    name: ClassVar[str] = ""
    #: A penalty only adds a term to a bound; on its own it trains no reconstruction.
    is_penalty: ClassVar[bool] = False

    @property
    def num_samples(self) -> int:
        """Samples per input that ``forward(x)`` draws by default for this objective."""
        return 1

    @abstractmethod
    def forward(
        self,
        model: VariationalModel,
        x: torch.Tensor,
        output: Any,
        *,
        beta: Weight = 1.0,
        likelihood: LikelihoodSpec = None,
    ) -> LossResult:
        """The objective and its diagnostics for one batch."""

    @abstractmethod
    def diagnostic_keys(self) -> frozenset[str]:
        """The names of the diagnostics :meth:`forward` returns."""

    def config(self) -> dict[str, Any]:
        """``{"name": registry name, **constructor arguments}`` (JSON-able)."""
        return {"name": self.name, **self._config_args()}

    def _config_args(self) -> dict[str, Any]:
        raise NotImplementedError(f"{type(self).__name__} does not describe its configuration")

    @staticmethod
    def from_config(config: Mapping[str, Any]) -> Objective:
        """Rebuild an objective from :meth:`config`'s output."""
        if not isinstance(config, Mapping) or not isinstance(config.get("name"), str):
            raise ValueError(f"an objective config must be a dict with a 'name', got {config!r}")
        kwargs = {k: v for k, v in config.items() if k != "name"}
        return OBJECTIVES.get(config["name"]).from_kwargs(kwargs)

    @classmethod
    def from_kwargs(cls, kwargs: dict[str, Any]) -> Objective:
        """Build from the arguments of :meth:`config` (overridden where they nest)."""
        return cls(**kwargs)

    def __add__(self, other: object) -> SumObjective:
        if not isinstance(other, Objective):
            return NotImplemented
        return SumObjective(*_terms(self), *_terms(other))

    def extra_repr(self) -> str:
        try:
            args = self._config_args()
        except NotImplementedError:
            return ""
        return ", ".join(f"{k}={v!r}" for k, v in args.items())


def _terms(objective: Objective) -> tuple[Objective, ...]:
    return tuple(objective.terms) if isinstance(objective, SumObjective) else (objective,)


@register_objective("sum")
class SumObjective(Objective):
    """The sum of several objectives (usually a bound plus penalties), from ``a + b``.

    ``objective = sum_i objective_i``; the diagnostics are the union of the terms'
    diagnostics, whose keys must be distinct (checked here, at construction).
    ``num_samples`` is the largest of the terms'.

    Diagnostics: those of the terms.
    """

    def __init__(self, *terms: Objective) -> None:
        super().__init__()
        if len(terms) < 2 or not all(isinstance(t, Objective) for t in terms):
            raise TypeError(f"SumObjective needs two or more Objectives, got {terms!r}")
        seen: dict[str, str] = {}
        for term in terms:
            for key in sorted(term.diagnostic_keys()):
                if key in seen:
                    raise ValueError(
                        f"{type(term).__name__} and {seen[key]} both report the diagnostic "
                        f"{key!r}; objectives added together need distinct diagnostic keys"
                    )
                seen[key] = type(term).__name__
        self.parts = nn.ModuleList(terms)

    @property
    def terms(self) -> tuple[Objective, ...]:
        """The objectives added, in order."""
        return tuple(cast(Objective, term) for term in self.parts)

    @property
    def num_samples(self) -> int:
        return max(term.num_samples for term in self.terms)

    @property
    def is_penalty(self) -> bool:
        return all(term.is_penalty for term in self.terms)

    def forward(
        self,
        model: VariationalModel,
        x: torch.Tensor,
        output: Any,
        *,
        beta: Weight = 1.0,
        likelihood: LikelihoodSpec = None,
    ) -> LossResult:
        objective: torch.Tensor | None = None
        diagnostics: dict[str, torch.Tensor] = {}
        for term in self.terms:
            result = term(model, x, output, beta=beta, likelihood=likelihood)
            objective = result.objective if objective is None else objective + result.objective
            diagnostics.update(result.diagnostics)
        assert objective is not None  # at least two terms, checked in __init__
        return LossResult(objective=objective, diagnostics=diagnostics)

    def diagnostic_keys(self) -> frozenset[str]:
        return frozenset().union(*(term.diagnostic_keys() for term in self.terms))

    def config(self) -> dict[str, Any]:
        return {"name": self.name, "terms": [term.config() for term in self.terms]}

    @classmethod
    def from_kwargs(cls, kwargs: dict[str, Any]) -> Objective:
        terms = kwargs.get("terms")
        if not isinstance(terms, list) or set(kwargs) != {"terms"}:
            raise ValueError(f"a 'sum' objective config needs exactly a list 'terms', got {kwargs}")
        return cls(*(Objective.from_config(t) for t in terms))


def check_nonnegative(value: object, name: str) -> float:
    """``value`` as a float, or ``ValueError``/``TypeError`` naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number >= 0, got {type(value).__name__} {value!r}")
    number = float(value)
    if not number >= 0 or number == float("inf"):
        raise ValueError(f"{name} must be finite and >= 0, got {value!r}")
    return number


def scaled(weight: float, beta: Weight) -> Weight:
    """``weight * beta`` without an op when ``beta`` is the number 1 (the default step)."""
    if isinstance(beta, float | int) and not isinstance(beta, bool) and beta == 1:
        return weight
    return weight * beta


def require_diagonal_posterior(model: object, name: str) -> None:
    """Raise ``TypeError`` unless ``model``'s posterior is a diagonal Gaussian.

    Models without a ``latent_posterior`` attribute have the diagonal Gaussian of 2.x.
    """
    posterior = getattr(model, "latent_posterior", None)
    if posterior is not None and not getattr(posterior, "is_diagonal_gaussian", True):
        raise TypeError(
            f"{name} needs a diagonal Gaussian posterior (it uses mu and log_var of q(z | x)), "
            f"got {type(posterior).__name__}"
        )


def flat_latents(output: Any) -> Any:
    """``output`` with ``z [B, S, D_z]`` and ``mu, log_var [B, D_z]``: latent maps flattened.

    A VAE with latent maps (``latent_shape = (C, h, w)``) returns ``z [B, S, C, h, w]`` and
    ``mu, log_var [B, C, h, w]``; its posterior factorises over every value, so objectives that
    read the codes themselves (total correlation, DIP, MMD) see the ``D_z = C h w`` values of a
    flat code. Flat outputs are returned as they are (no op).
    """
    if output.z.dim() <= 3:  # [B, S, D_z]
        return output
    return dataclasses.replace(
        output, z=output.z.flatten(2), mu=output.mu.flatten(1), log_var=output.log_var.flatten(1)
    )
