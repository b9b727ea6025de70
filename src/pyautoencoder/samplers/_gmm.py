r"""A full-covariance Gaussian mixture fitted to the codes by EM (Ghosh et al. 2020)."""

from __future__ import annotations

import torch

from .._validation import check_positive_int
from ..vanilla._gmm import fit_gaussian_mixture
from ._base import LatentSampler, register_sampler


@register_sampler("gmm")
class GaussianMixtureSampler(LatentSampler):
    r"""Draw codes from a ``K``-component Gaussian mixture fitted to any model's codes.

    .. math::

        q_\text{GMM}(z) = \sum_{k=1}^K w_k\, N(z; \mu_k, \Sigma_k),

    fitted by expectation-maximisation in float64 (k-means++ start, ``reg_covar * I`` on every
    covariance). Ghosh et al. (2020), *From variational to deterministic autoencoders*, sec. 4
    ("ex-post density estimation", ``K = 10``); the same estimator as
    :meth:`pyautoencoder.vanilla.RAE.fit_density`, for every model with an encoder.

    Parameters
    ----------
    num_components : int
        ``K`` (default 10; ``"gmm:K"`` on the command line).
    max_iter, tol, reg_covar : EM settings (see :func:`fit_gaussian_mixture`).
    seed : int
        Seed of the k-means++ start (a private generator; the global RNG is untouched).
    """

    spec_argument = "num_components"

    def __init__(
        self,
        num_components: int = 10,
        max_iter: int = 200,
        tol: float = 1e-6,
        reg_covar: float = 1e-6,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.num_components = check_positive_int(num_components, "num_components")
        self.max_iter = check_positive_int(max_iter, "max_iter")
        self.tol = float(tol)
        self.reg_covar = float(reg_covar)
        self.seed = int(seed)
        self.config = {
            "num_components": self.num_components,
            "max_iter": self.max_iter,
            "tol": self.tol,
            "reg_covar": self.reg_covar,
            "seed": self.seed,
        }

    def _allocate(self, latent_dim: int) -> None:
        k = self.num_components
        self.register_buffer("log_weights", torch.full((k,), -float(torch.log(torch.tensor(k)))))
        self.register_buffer("means", torch.zeros(k, latent_dim))
        self.register_buffer("scale_tril", torch.eye(latent_dim).repeat(k, 1, 1))

    def _fit_codes(self, codes: torch.Tensor) -> None:
        self._allocate(codes.shape[1])
        fit = fit_gaussian_mixture(
            codes,
            self.num_components,
            max_iter=self.max_iter,
            tol=self.tol,
            reg_covar=self.reg_covar,
            seed=self.seed,
        )
        self.log_weights = fit.weights.log().float()
        self.means = fit.means.float()
        self.scale_tril = fit.scale_tril.float()

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """``log q_GMM(z)`` of codes ``[N, D]`` -> ``[N]``."""
        components = torch.distributions.MultivariateNormal(self.means, scale_tril=self.scale_tril)
        mixture = torch.distributions.Categorical(logits=self.log_weights)
        return torch.distributions.MixtureSameFamily(mixture, components).log_prob(z)

    def sample_latents(
        self, num_samples: int, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        weights = self.log_weights.exp()
        index = torch.multinomial(weights, num_samples, replacement=True, generator=generator)
        eps = torch.randn(
            num_samples, self.means.shape[1], 1, generator=generator, device=self.means.device
        )
        return self.means[index] + (self.scale_tril[index] @ eps).squeeze(-1)
