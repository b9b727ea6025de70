"""Sampling layers that turn encoder features into a posterior and its samples."""

from __future__ import annotations

import math

import torch
from torch import nn

from .._validation import check_num_samples, check_positive_int, check_tensor


def _check_sample_args(S: object, sample: object) -> int:
    num_samples = check_num_samples(S, "S")
    if not isinstance(sample, bool):
        raise TypeError(f"sample must be a bool, got {type(sample).__name__} {sample!r}")
    if not sample and num_samples != 1:
        raise ValueError(
            f"S={num_samples} samples need sample=True; with sample=False the posterior mean "
            "is returned and S must be 1"
        )
    return num_samples


class FullyFactorizedGaussian(nn.Module):
    r"""Diagonal Gaussian posterior ``q(z | x) = N(mu(h), diag(exp(log_var(h))))``.

    Two lazy linear heads map flat encoder features ``h [B, F]`` to ``mu`` and ``log_var``
    (``[B, latent_dim]`` each); samples use the reparameterisation trick (Kingma & Welling
    2014), ``z = mu + exp(0.5 log_var) * eps`` with ``eps ~ N(0, I)``.

    Numerics: ``exp(0.5 * log_var)`` is finite in float32 for ``log_var`` up to about 176, so
    sampling is safe for the whole range [-30, 30] the library tests.

    Parameters
    ----------
    latent_dim : int
        ``D_z``, the size of the latent code.
    """

    def __init__(self, latent_dim: int) -> None:
        super().__init__()
        self.latent_dim = check_positive_int(latent_dim, "latent_dim")
        self.mu = nn.LazyLinear(self.latent_dim)
        self.log_var = nn.LazyLinear(self.latent_dim)

    def get_params(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior parameters ``(mu, log_var)``, each ``[B, latent_dim]``, from ``x [B, F]``."""
        check_tensor(x, "x")
        if x.dim() != 2:
            raise ValueError(
                f"encoder features must have shape [B, F], got {tuple(x.shape)}; end the "
                "encoder with nn.Flatten() to flatten feature maps"
            )
        return self.mu(x), self.log_var(x)

    @staticmethod
    def reparametrize(mu: torch.Tensor, log_var: torch.Tensor, S: int = 1) -> torch.Tensor:
        """Draw ``S`` reparameterised samples ``[B, S, D_z]`` (in train and eval mode alike).

        ``z = mu + exp(0.5 * log_var) * eps``, ``eps ~ N(0, I)`` from the global RNG.
        """
        num_samples = check_num_samples(S, "S")
        if mu.dim() != 2 or mu.shape != log_var.shape:
            raise ValueError(
                "mu and log_var must both have shape [B, D_z], got "
                f"{tuple(mu.shape)} and {tuple(log_var.shape)}"
            )
        batch, latent_dim = mu.shape
        if num_samples == 1:
            # One sample: draw eps [B, D_z] and add the sample dimension once at the end. The
            # generator yields the same numbers for [B, D_z] as for [B, 1, D_z] and the
            # arithmetic is elementwise, so z is bit-identical to the general branch, with
            # one view (and one backward view) instead of two.
            eps = torch.randn(batch, latent_dim, dtype=mu.dtype, device=mu.device)
            return (mu + torch.exp(0.5 * log_var) * eps).unsqueeze(1)
        eps = torch.randn(
            batch, num_samples, latent_dim, dtype=mu.dtype, device=mu.device
        )  # [B, S, D_z]
        return mu.unsqueeze(1) + torch.exp(0.5 * log_var).unsqueeze(1) * eps

    def forward(
        self, x: torch.Tensor, S: int = 1, sample: bool = True
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Return ``(z [B, S, D_z], mu [B, D_z], log_var [B, D_z])``.

        ``sample=True`` draws ``S`` samples in any mode; ``sample=False`` returns the mean,
        ``z = mu.unsqueeze(1)`` (then ``S`` must be 1).
        """
        num_samples = _check_sample_args(S, sample)
        mu, log_var = self.get_params(x)
        if not sample:
            return mu.unsqueeze(1), mu, log_var
        return self.reparametrize(mu, log_var, num_samples), mu, log_var

    def extra_repr(self) -> str:
        return f"latent_dim={self.latent_dim}"


_LAZY_CONVOLUTIONS: dict[int, type[nn.Module]] = {
    1: nn.LazyConv1d,
    2: nn.LazyConv2d,
    3: nn.LazyConv3d,
}


class SpatialGaussian(nn.Module):
    r"""Diagonal Gaussian posterior on latent maps, ``q(z | x) = N(mu(h), diag(exp(log_var(h))))``.

    The latent of the KL-regularised autoencoder of latent diffusion (Rombach et al. 2022,
    Sec. 3 and App. G, "KL-f8"): at every position of the encoder's feature map a ``1 x 1``
    convolution gives the means and another the log-variances of ``C`` latent channels, so
    ``h [B, F, *spatial]`` maps to ``mu, log_var [B, C, *spatial]``. The posterior factorises
    over channels and positions: as a density it is the diagonal Gaussian of
    :class:`FullyFactorizedGaussian` over the ``D_z = C * prod(spatial)`` flattened values.
    Samples use the reparameterisation trick, ``z = mu + exp(0.5 log_var) * eps``.

    The heads are lazy (``nn.LazyConv1d/2d/3d`` for one, two or three spatial dimensions):
    ``F`` is read from the first batch, as for the flat layer.

    Parameters
    ----------
    latent_shape : sequence of int
        ``(C, *spatial)``: latent channels and the map's size, e.g. ``(4, 16, 16)``.
    """

    def __init__(self, latent_shape: tuple[int, ...]) -> None:
        super().__init__()
        shape = tuple(check_positive_int(size, "latent_shape") for size in latent_shape)
        if len(shape) - 1 not in _LAZY_CONVOLUTIONS:
            raise ValueError(
                "latent_shape must be (C, L), (C, H, W) or (C, D, H, W) for latent maps, got "
                f"{tuple(latent_shape)}"
            )
        self.latent_shape = shape
        self.latent_dim = math.prod(shape)
        convolution = _LAZY_CONVOLUTIONS[len(shape) - 1]
        self.mu = convolution(shape[0], kernel_size=1)
        self.log_var = convolution(shape[0], kernel_size=1)

    def get_params(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(mu, log_var)``, each ``[B, *latent_shape]``, from maps ``x [B, F, *spatial]``."""
        check_tensor(x, "x")
        spatial = self.latent_shape[1:]
        if x.dim() != 2 + len(spatial) or tuple(x.shape[2:]) != spatial:
            raise ValueError(
                f"encoder features must be maps [B, F, {', '.join(map(str, spatial))}] for "
                f"latent maps of shape {self.latent_shape}, got {tuple(x.shape)}"
            )
        return self.mu(x), self.log_var(x)

    def forward(
        self, x: torch.Tensor, S: int = 1, sample: bool = True
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(z [B, S, *latent_shape], mu, log_var [B, *latent_shape])``.

        ``sample=False`` returns the mean, ``z = mu.unsqueeze(1)`` (then ``S`` must be 1).
        """
        num_samples = _check_sample_args(S, sample)
        mu, log_var = self.get_params(x)
        if not sample:
            return mu.unsqueeze(1), mu, log_var
        return self.reparametrize(mu, log_var, num_samples), mu, log_var

    @staticmethod
    def reparametrize(mu: torch.Tensor, log_var: torch.Tensor, S: int = 1) -> torch.Tensor:
        """``S`` reparameterised samples ``[B, S, *latent_shape]`` of ``mu, log_var [B, ...]``.

        ``z = mu + exp(0.5 * log_var) * eps``, ``eps ~ N(0, I)`` from the global RNG.
        """
        num_samples = check_num_samples(S, "S")
        if mu.shape != log_var.shape:
            raise ValueError(
                "mu and log_var must have the same shape [B, *latent_shape], got "
                f"{tuple(mu.shape)} and {tuple(log_var.shape)}"
            )
        eps = torch.randn(
            mu.shape[0], num_samples, *mu.shape[1:], dtype=mu.dtype, device=mu.device
        )  # [B, S, *latent_shape]
        return mu.unsqueeze(1) + torch.exp(0.5 * log_var).unsqueeze(1) * eps

    def extra_repr(self) -> str:
        return f"latent_shape={self.latent_shape}"
