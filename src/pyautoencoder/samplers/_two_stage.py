r"""The two-stage VAE sampler (Dai & Wipf 2019): a second VAE fitted to the codes."""

from __future__ import annotations

import itertools

import torch
from torch import nn

from .._validation import check_positive_int
from ._base import LatentSampler, register_sampler, seeded_module_init, training_options


def _mlp(sizes: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for index, (fan_in, fan_out) in enumerate(itertools.pairwise(sizes)):
        layers.append(nn.Linear(fan_in, fan_out))
        if index < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


@register_sampler("two-stage")
class TwoStageSampler(LatentSampler):
    r"""Draw codes from a second VAE trained on the first model's codes.

    Dai & Wipf (2019), *Diagnosing and Enhancing VAE Models*, sec. 4: the first model's
    aggregate posterior ``q(z)`` does not match ``N(0, I)``, but a second VAE with latents
    ``u`` of the same size and a *learned* observation variance ``gamma`` (their eq. 7; here
    :class:`~pyautoencoder.distributions.GaussianLikelihood` with ``scale="learned"``) fits
    ``q(z)`` closely. Sampling: ``u ~ N(0, I)``, ``z ~ p(z | u) = N(mu(u), gamma^2 I)``, then
    the first decoder. Dai & Wipf decode the mean ``mu(u)``, the limit ``gamma -> 0`` their
    analysis predicts; drawing from ``p(z | u)`` keeps the second stage's variance when it has
    not reached that limit (e.g. codes that already fill ``N(0, I)`` let the second VAE's
    posterior collapse, and its mean alone would be a point). The codes are standardised per
    dimension before the second stage.

    Parameters
    ----------
    hidden_features : int
        Width of the second VAE's two-layer encoder and decoder (default 256).
    latent_dim : int, optional
        Size of ``u`` (default: the size of the codes, as in the paper).
    num_steps, batch_size, lr : int, int, float
        Adam steps on minibatches of codes.
    seed : int
        Seeds initialisation, noise and minibatch order (global RNG restored afterwards).
    """

    def __init__(
        self,
        hidden_features: int = 256,
        latent_dim: int | None = None,
        num_steps: int = 3000,
        batch_size: int = 256,
        lr: float = 1e-3,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.hidden_features = check_positive_int(hidden_features, "hidden_features")
        self.second_latent_dim = (
            None if latent_dim is None else check_positive_int(latent_dim, "latent_dim")
        )
        options = training_options(num_steps, batch_size, lr, seed)
        self.num_steps, self.batch_size = options["num_steps"], options["batch_size"]
        self.lr, self.seed = options["lr"], options["seed"]
        self.config = {
            "hidden_features": self.hidden_features,
            "latent_dim": self.second_latent_dim,
            **options,
        }

    def _allocate(self, latent_dim: int) -> None:
        from ..distributions import GaussianLikelihood
        from ..variational import VAE

        inner = self.second_latent_dim or latent_dim
        width = self.hidden_features
        with seeded_module_init(self.seed):
            self.second = VAE(
                _mlp([latent_dim, width, width]),
                _mlp([inner, width, width, latent_dim]),
                latent_dim=inner,
                likelihood=GaussianLikelihood(scale="learned"),
            )
            self.second.build(torch.zeros(2, latent_dim))
        self.register_buffer("shift", torch.zeros(latent_dim))
        self.register_buffer("scale", torch.ones(latent_dim))

    def _fit_codes(self, codes: torch.Tensor) -> None:
        self._allocate(codes.shape[1])
        data = self._standardize(codes)
        optimizer = torch.optim.Adam(self.second.parameters(), lr=self.lr)
        size = min(self.batch_size, data.shape[0])
        self.second.train()
        with seeded_module_init(self.seed + 1), torch.enable_grad():
            for _ in range(self.num_steps):
                batch = data[torch.randint(data.shape[0], (size,))]
                loss = self.second.compute_loss(batch, self.second(batch)).objective
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
        self.second.eval()

    def sample_latents(
        self, num_samples: int, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        inner = self.second.latent_dim
        u = torch.randn(num_samples, 1, inner, generator=generator, device=self.shift.device)
        with torch.no_grad():
            loc = self.second._decode(u).x_hat[:, 0]  # [N, D]
            log_scale = self.second.likelihood.loc_and_log_scale(loc)[1]  # type: ignore[operator]
            eps = torch.randn(loc.shape, generator=generator, device=loc.device)
            standardized = loc + torch.exp(torch.as_tensor(log_scale)) * eps
        return self.shift + self.scale * standardized
