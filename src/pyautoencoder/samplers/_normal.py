r"""A Gaussian fitted to the codes: the simplest ex-post density (Ghosh et al. 2020, sec. 4)."""

from __future__ import annotations

import torch

from ._base import LatentSampler, register_sampler


@register_sampler("normal")
class NormalSampler(LatentSampler):
    r"""Draw codes from ``N(m, C)`` with the mean ``m`` and covariance ``C`` of the training codes.

    .. math::

        m = \frac1N \sum_n z_n, \qquad
        C = \frac1{N-1} \sum_n (z_n - m)(z_n - m)^\top + \epsilon I,
        \qquad z = m + L\varepsilon,\ LL^\top = C,\ \varepsilon \sim N(0, I).

    The single-Gaussian ex-post density of Ghosh et al. (2020), *From variational to
    deterministic autoencoders*, sec. 4; with ``fit_moments=False`` it is the standard normal
    ``N(0, I)`` (a VAE's own prior), a baseline for the fitted samplers.

    Parameters
    ----------
    fit_moments : bool
        Fit mean and full covariance (default) or use ``N(0, I)``.
    reg_covar : float
        ``epsilon`` added to the covariance's diagonal (keeps it positive definite).
    """

    def __init__(self, fit_moments: bool = True, reg_covar: float = 1e-6) -> None:
        super().__init__()
        if not isinstance(fit_moments, bool):
            raise TypeError(f"fit_moments must be True or False, got {fit_moments!r}")
        if not reg_covar >= 0:
            raise ValueError(f"reg_covar must be >= 0, got {reg_covar!r}")
        self.config = {"fit_moments": fit_moments, "reg_covar": float(reg_covar)}
        self.fit_moments = fit_moments
        self.reg_covar = float(reg_covar)

    def _allocate(self, latent_dim: int) -> None:
        self.register_buffer("mean", torch.zeros(latent_dim))
        self.register_buffer("scale_tril", torch.eye(latent_dim))

    def _fit_codes(self, codes: torch.Tensor) -> None:
        dim = codes.shape[1]
        self._allocate(dim)
        if not self.fit_moments:
            return
        if codes.shape[0] < 2:
            raise ValueError(f"fitting a covariance needs at least 2 codes, got {codes.shape[0]}")
        data = codes.double()
        mean = data.mean(dim=0)
        centered = data - mean
        cov = centered.T @ centered / (data.shape[0] - 1)
        cov = cov + self.reg_covar * torch.eye(dim, dtype=cov.dtype)
        self.mean = mean.float()
        self.scale_tril = torch.linalg.cholesky(cov).float()

    def sample_latents(
        self, num_samples: int, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        eps = torch.randn(
            num_samples, self.mean.shape[0], generator=generator, device=self.mean.device
        )
        return self.mean + eps @ self.scale_tril.T
