r"""Sampling a VampPrior model from its own prior, the mixture of posteriors at pseudo-inputs."""

from __future__ import annotations

import torch
from torch import nn

from ._base import LatentSampler, register_sampler


@register_sampler("vamp")
class VampSampler(LatentSampler):
    r"""Draw codes from a VampPrior model's prior ``p(z) = 1/K sum_k q(z | u_k)``.

    Tomczak & Welling (2018), *VAE with a VampPrior*, eq. 9: the pseudo-inputs ``u_k`` are
    learned with the model, so nothing is fitted after training; :meth:`fit` checks that the
    model has a :class:`~pyautoencoder.distributions.VampPrior` and records the code size.
    Draws pick a component uniformly, then ``z = mu_k + sigma_k * eps`` (seedable through
    ``generator``).
    """

    def __init__(self) -> None:
        super().__init__()

    def _check_model(self, model: nn.Module) -> None:
        from ..distributions import VampPrior

        super()._check_model(model)
        if not isinstance(getattr(model, "latent_prior", None), VampPrior):
            raise ValueError(
                f"VampSampler needs a model with a VampPrior, got {type(model).__name__} with "
                f"prior {type(getattr(model, 'latent_prior', None)).__name__}; use 'gmm' or "
                "'maf' for other models"
            )

    def _allocate(self, latent_dim: int) -> None:
        """Nothing to allocate: the state is the model's pseudo-inputs."""

    def _fit_codes(self, codes: torch.Tensor) -> None:
        """Nothing to fit: the prior was learned with the model."""

    def sample_latents(
        self, num_samples: int, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        prior = self.model.latent_prior
        mu, log_var = prior._encode_params(prior.pseudo_inputs)  # type: ignore[operator,union-attr]
        index = torch.randint(mu.shape[0], (num_samples,), generator=generator, device=mu.device)
        eps = torch.randn(num_samples, mu.shape[1], generator=generator, device=mu.device)
        return mu[index] + torch.exp(0.5 * log_var[index]) * eps
