r"""The capacity-annealed ELBO of Burgess et al. (2018)."""

from __future__ import annotations

import numbers
from typing import Any

import torch

from .._validation import check_positive_int, check_weight
from ..loss._result import LossResult
from ._base import (
    LikelihoodSpec,
    Objective,
    VariationalModel,
    Weight,
    check_nonnegative,
    register_objective,
    scaled,
)


class LinearCapacity:
    """``C(t) = start + (max_capacity - start) * min(1, t / num_steps)`` nats, on a tensor ``t``.

    Burgess et al. (2018, Sec. 5) raise ``C`` linearly from 0 to ``max_capacity`` (25 nats on
    dSprites) over training. Evaluated in the graph, so a compiled step never recompiles.
    """

    def __init__(self, max_capacity: float = 25.0, num_steps: int = 100_000, start: float = 0.0):
        self.max_capacity = check_nonnegative(max_capacity, "max_capacity")
        self.num_steps = check_positive_int(num_steps, "num_steps")
        self.start = check_nonnegative(start, "start")

    def __call__(self, step: torch.Tensor) -> torch.Tensor:
        progress = (step.to(torch.get_default_dtype()) / self.num_steps).clamp(max=1.0)
        return self.start + (self.max_capacity - self.start) * progress

    def config(self) -> dict[str, Any]:
        """The constructor arguments (JSON-able)."""
        return {"max_capacity": self.max_capacity, "num_steps": self.num_steps, "start": self.start}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items())
        return f"LinearCapacity({args})"


@register_objective("capacity_elbo")
class CapacityELBO(Objective):
    r"""Reconstruction minus ``gamma |KL - C|`` with a capacity ``C`` that grows in training.

    .. math::

        \mathcal{L} = \mathbb{E}_q[\log p(x \mid z)]
            - \gamma \left| \mathrm{KL}(q(z \mid x) \,\|\, p(z)) - C \right|

    (Burgess, Higgins, Pal, Matthey, Watters, Desjardins & Lerchner 2018, *Understanding
    disentangling in beta-VAE*, eq. 8), per input, averaged over the batch; ``C`` is
    ``capacity_schedule(step)``, where ``step`` (a buffer, saved in ``state_dict``) counts the
    calls made while the model is in training mode. Large ``gamma`` (1000 in the paper) holds
    the KL near ``C``, so the code's capacity is released gradually. The KL weight ``beta``
    of ``compute_loss`` multiplies ``gamma``. Not a lower bound on ``log p(x)``.

    Diagnostics: ``elbo`` (``log_likelihood - kl_divergence``, the plain ELBO),
    ``log_likelihood``, ``kl_divergence``, ``elbo_unweighted`` (= ``elbo``), ``capacity``
    (``C`` at this step).

    Parameters
    ----------
    gamma : float
        Weight of the capacity term (>= 0).
    capacity_schedule : LinearCapacity or float
        ``C`` as a function of the step, or a constant number of nats.
    """

    def __init__(
        self, gamma: float = 1000.0, capacity_schedule: LinearCapacity | float = 25.0
    ) -> None:
        super().__init__()
        self.gamma = check_nonnegative(gamma, "gamma")
        if isinstance(capacity_schedule, dict):
            capacity_schedule = LinearCapacity(**capacity_schedule)
        if isinstance(capacity_schedule, numbers.Real) and not isinstance(capacity_schedule, bool):
            capacity_schedule = check_nonnegative(capacity_schedule, "capacity_schedule")
        elif not isinstance(capacity_schedule, LinearCapacity):
            raise TypeError(
                "capacity_schedule must be a number of nats or a LinearCapacity, got "
                f"{type(capacity_schedule).__name__}"
            )
        self.capacity_schedule = capacity_schedule
        self.register_buffer("step", torch.zeros((), dtype=torch.long))
        self.step: torch.Tensor

    def capacity(self) -> torch.Tensor:
        """``C`` at the current step, a 0-dim tensor."""
        if isinstance(self.capacity_schedule, LinearCapacity):
            return self.capacity_schedule(self.step)
        return torch.full((), self.capacity_schedule, device=self.step.device)

    def forward(
        self,
        model: VariationalModel,
        x: torch.Tensor,
        output: Any,
        *,
        beta: Weight = 1.0,
        likelihood: LikelihoodSpec = None,
    ) -> LossResult:
        log_lik = model.reconstruction_log_prob(x, output, likelihood)  # [B, S]
        kl = model.kl_per_dim(output).sum(dim=-1)  # [B]
        weight = scaled(self.gamma, check_weight(beta, "beta"))
        capacity = self.capacity().to(kl.dtype)
        mean_log_lik = log_lik.mean()
        objective = weight * (kl - capacity).abs().mean() - mean_log_lik
        if getattr(model, "training", False):
            self.step.add_(1)
        mean_log_lik, mean_kl = mean_log_lik.detach(), kl.mean().detach()
        return LossResult(
            objective=objective,
            diagnostics={
                "elbo": mean_log_lik - mean_kl,
                "log_likelihood": mean_log_lik,
                "kl_divergence": mean_kl,
                "elbo_unweighted": mean_log_lik - mean_kl,
                "capacity": capacity.detach(),
            },
        )

    def diagnostic_keys(self) -> frozenset[str]:
        return frozenset({"elbo", "log_likelihood", "kl_divergence", "elbo_unweighted", "capacity"})

    def _config_args(self) -> dict[str, Any]:
        schedule = self.capacity_schedule
        return {
            "gamma": self.gamma,
            "capacity_schedule": schedule.config()
            if isinstance(schedule, LinearCapacity)
            else schedule,
        }
