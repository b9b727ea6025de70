r"""Denoising autoencoder (Vincent, Larochelle, Bengio & Manzagol 2008) and its corruptions."""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import torch
from torch import nn

from .._base import ModelOutput
from .._registry import Registry
from .._validation import check_floating, check_tensor
from ..loss._result import LossResult
from ..registry import register_model
from ._regularized import LikelihoodAE, LikelihoodSpec


def check_noise_level(value: object, name: str = "noise_level") -> float:
    """A Python real number in ``[0, 1]``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number in [0, 1], got {type(value).__name__}")
    level = float(value)
    if not 0.0 <= level <= 1.0:
        raise ValueError(f"{name} must lie in [0, 1], got {value!r}")
    return level


class Corruption(nn.Module):
    """Base of the corruption processes ``q(x_tilde | x)``; ``forward(x)`` draws ``x_tilde``.

    Draws use the global RNG (seed with ``torch.manual_seed``); the output has the shape and
    dtype of ``x``.
    """

    def __init__(self, noise_level: float) -> None:
        super().__init__()
        self.noise_level = check_noise_level(noise_level)

    def extra_repr(self) -> str:
        return f"noise_level={self.noise_level}"


class GaussianCorruption(Corruption):
    """Additive isotropic Gaussian noise: ``x_tilde = x + noise_level * eps``, ``eps ~ N(0, I)``.

    ``noise_level`` is the standard deviation, in the data's units, in ``[0, 1]``.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.noise_level * torch.randn_like(x)


class MaskingCorruption(Corruption):
    """Masking noise (Vincent et al. 2008, sec. 2.3): elements are set to 0.

    Each element independently with probability ``noise_level``; the paper zeroes a fixed
    number ``noise_level * d`` of randomly chosen elements per example (same expected count).
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        keep = torch.rand_like(x) >= self.noise_level
        return torch.where(keep, x, torch.zeros_like(x))


class SaltAndPepperCorruption(Corruption):
    """Salt-and-pepper noise (Vincent et al. 2010, sec. 3.3): each element, with probability
    ``noise_level``, is set to ``low`` or ``high`` with equal probability.

    Parameters
    ----------
    noise_level : float
        Fraction of corrupted elements, in ``[0, 1]``.
    low, high : float
        The pepper and salt values (default ``0`` and ``1``: the range of images in ``[0, 1]``).
    """

    def __init__(self, noise_level: float, low: float = 0.0, high: float = 1.0) -> None:
        super().__init__(noise_level)
        if not float(low) < float(high):
            raise ValueError(f"low must be < high, got low={low!r}, high={high!r}")
        self.low = float(low)
        self.high = float(high)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        u = torch.rand_like(x)
        half = 0.5 * self.noise_level
        x_tilde = torch.where(u < half, torch.full_like(x, self.high), x)
        return torch.where(
            (u >= half) & (u < self.noise_level), torch.full_like(x, self.low), x_tilde
        )

    def extra_repr(self) -> str:
        return f"noise_level={self.noise_level}, low={self.low}, high={self.high}"


CORRUPTIONS: Registry[type[Corruption]] = Registry("corruption")
CORRUPTIONS.register("gaussian", GaussianCorruption)
CORRUPTIONS.register("masking", MaskingCorruption)
CORRUPTIONS.register("salt_and_pepper", SaltAndPepperCorruption)


def get_corruption(corruption: str | Corruption, noise_level: float) -> Corruption:
    """Resolve a corruption name (``"gaussian"``, ``"masking"``, ``"salt_and_pepper"``)."""
    if isinstance(corruption, Corruption):
        return corruption
    if isinstance(corruption, str) and corruption in CORRUPTIONS:
        return CORRUPTIONS.get(corruption)(noise_level)
    raise ValueError(
        f"corruption must be one of {CORRUPTIONS.names()} or a Corruption object, got "
        f"{corruption!r}{CORRUPTIONS.did_you_mean(corruption, inline=True)}"
    )


@dataclass(slots=True, repr=False)
class DenoisingAEOutput(ModelOutput):
    """``x_hat`` (reconstruction of ``x_tilde``), ``z`` (its code), ``x_tilde`` (the input the
    encoder saw: corrupted in training, ``x`` itself otherwise)."""

    x_hat: torch.Tensor
    z: torch.Tensor
    x_tilde: torch.Tensor


@register_model("denoising_ae", latent="code", latent_arg=None)
class DenoisingAE(LikelihoodAE):
    r"""Denoising autoencoder: reconstruct the clean input from a corrupted copy.

    Vincent, Larochelle, Bengio & Manzagol (2008), *Extracting and composing robust features
    with denoising autoencoders*, eq. (3)/(5): draw ``x_tilde ~ q(x_tilde | x)``, encode it,
    decode ``x_hat = decoder(encoder(x_tilde))`` and minimise the negative log-likelihood of the
    **clean** ``x``,

    .. math:: \mathcal{L} = -\frac1B \sum_b \sum_j \log p(x_{bj} \mid \hat x_{bj}(\tilde x_b)).

    Corruptions: ``"gaussian"`` (additive ``N(0, noise_level^2)``), ``"masking"`` (elements set
    to 0 with probability ``noise_level``) and ``"salt_and_pepper"`` (elements set to 0 or 1
    with probability ``noise_level``), or any :class:`Corruption`. The corruption is applied
    when ``forward(x, corrupt=True)``, and by default (``corrupt=None``) only in training mode,
    as dropout; :meth:`encode` / :meth:`decode` never corrupt.

    Shapes: ``x [B, ...]``, ``z`` as the encoder returns it, ``x_hat`` and ``x_tilde`` shaped
    like ``x``. Diagnostics: ``log_likelihood`` (minus the objective).

    Parameters
    ----------
    encoder, decoder : nn.Module
        As for :class:`~pyautoencoder.vanilla.AE`.
    corruption : str or Corruption
        The corruption process (default ``"masking"``).
    noise_level : float
        In ``[0, 1]``: the noise standard deviation or the fraction of corrupted elements
        (default ``0.25``).
    likelihood : str, LikelihoodType or Likelihood
        Observation model (default ``"gaussian"``).
    """

    def __init__(
        self,
        encoder: nn.Module,
        decoder: nn.Module,
        *,
        corruption: str | Corruption = "masking",
        noise_level: float = 0.25,
        likelihood: LikelihoodSpec = "gaussian",
    ) -> None:
        super().__init__(encoder, decoder, likelihood)
        check_noise_level(noise_level)
        self.corruption = get_corruption(corruption, noise_level)

    def corrupt(self, x: torch.Tensor) -> torch.Tensor:
        """One draw of ``x_tilde ~ q(x_tilde | x)``, shaped like ``x``."""
        check_tensor(x, "x")
        check_floating(x, "x")
        return self.corruption(x)

    def forward(self, x: torch.Tensor, corrupt: bool | None = None) -> DenoisingAEOutput:
        """Corrupt (``corrupt=None``: in training mode only), encode, decode."""
        apply = self.training if corrupt is None else bool(corrupt)
        x_tilde = self.corrupt(x) if apply else x
        z = self._encode(x_tilde).z
        return DenoisingAEOutput(x_hat=self._decode(z).x_hat, z=z, x_tilde=x_tilde)

    def compute_loss(
        self,
        x: torch.Tensor,
        output: DenoisingAEOutput,
        likelihood: LikelihoodSpec | None = None,
    ) -> LossResult:
        """NLL of the clean ``x`` under the reconstruction of ``x_tilde`` (batch mean)."""
        log_lik = self.mean_log_likelihood(x, output.x_hat, likelihood)
        return LossResult(objective=-log_lik, diagnostics={"log_likelihood": log_lik.detach()})
