"""Conditional VAE (Sohn, Lee & Yan 2015): encoder and decoder both see a condition ``y``."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import distributions as D
from torch import nn

from .._validation import check_module, check_positive_int, check_tensor, value_checks_enabled
from ..distributions._kl import KLEstimator
from ..distributions._likelihood import Likelihood, LikelihoodType
from ..distributions._priors import Prior, VampPrior
from ..registry import register_model
from . import stochastic_layers
from ._outputs import VAEDecodeOutput, VAEEncodeOutput, VAEOutput
from ._vae import VAE


class Conditioning(nn.Module, ABC):
    """How the condition enters the networks; subclass it for other schemes.

    ``y`` arrives as a float vector ``[N, condition_dim]`` (class labels already one-hot).
    Being an ``nn.Module``, a conditioning may hold parameters (embeddings, FiLM layers).
    """

    @abstractmethod
    def encoder_input(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """What the encoder receives, from ``x [B, ...]`` and ``y [B, condition_dim]``."""

    @abstractmethod
    def decoder_input(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """What the decoder receives, from ``z [N, D_z]`` and ``y [N, condition_dim]``."""


class ConcatConditioning(Conditioning):
    """The default: ``encoder(cat[x.flatten(1), y])`` and ``decoder(cat[z, y])``.

    The encoder must therefore accept flat inputs of ``prod(x.shape[1:]) + condition_dim``
    features (a ``LazyLinear`` first layer does); for convolutional encoders write a
    :class:`Conditioning` that, say, appends ``y`` as constant feature maps.
    """

    def encoder_input(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return torch.cat([x.flatten(start_dim=1), y.to(x.dtype)], dim=1)

    def decoder_input(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return torch.cat([z, y.to(z.dtype)], dim=1)


@register_model("cvae", latent="features")
class CVAE(VAE):
    r"""Conditional VAE: model ``p(x | y)`` with a latent ``z`` and a condition ``y``.

    .. math::

        \mathcal{L}(x, y) = \mathbb{E}_{q(z \mid x, y)}[\log p(x \mid z, y)]
            - \beta\,\mathrm{KL}(q(z \mid x, y) \,\|\, p(z))

    (Sohn, Lee & Yan 2015, *Learning structured output representation using deep conditional
    generative models*, eq. 4, with a prior ``p(z | y) = p(z)`` independent of ``y``, the
    common simplification). The condition reaches the encoder and the decoder through a
    :class:`Conditioning` (default :class:`ConcatConditioning`).

    ``y`` is ``[B, condition_dim]`` (floats, e.g. attributes) or ``[B]`` integer class labels
    in ``[0, condition_dim - 1]``, one-hot encoded. Shapes otherwise as :class:`VAE`:
    ``forward(x, y, S)`` gives ``z [B, S, D_z]`` and ``x_hat [B, S, ...]``; the objective and
    diagnostics are those of :meth:`VAE.compute_loss`. ``sample(num_samples, y)`` draws
    ``num_samples`` outputs per condition, ``[B_y, num_samples, ...]``.

    Parameters
    ----------
    encoder : nn.Module
        Maps ``conditioning.encoder_input(x, y)`` to flat features ``[B, F]``.
    decoder : nn.Module
        Maps ``conditioning.decoder_input(z, y)`` (``[N, D_z + condition_dim]`` by default) to
        ``[N, ...]``.
    latent_dim : int
        ``D_z``.
    condition_dim : int
        Size of the condition vector (number of classes for labels).
    conditioning : Conditioning, optional
        How ``y`` is combined with the inputs; default concatenation.
    prior, likelihood, free_bits, kl_estimator
        As for :class:`VAE` (a VampPrior is not supported: its pseudo-inputs have no ``y``).
    """

    capabilities: ClassVar[frozenset[str]] = frozenset(
        {"posterior", "prior_sampling", "conditional"}
    )

    def __init__(
        self,
        encoder: nn.Module,
        decoder: nn.Module,
        latent_dim: int,
        condition_dim: int = 10,
        conditioning: Conditioning | None = None,
        *,
        prior: str | Prior | None = None,
        likelihood: LikelihoodType | str | Likelihood = LikelihoodType.GAUSSIAN,
        free_bits: float | None = None,
        kl_estimator: KLEstimator = "auto",
    ) -> None:
        super().__init__(
            encoder,
            decoder,
            latent_dim,
            prior=prior,
            likelihood=likelihood,
            free_bits=free_bits,
            kl_estimator=kl_estimator,
        )
        if isinstance(self.latent_prior, VampPrior):
            raise ValueError(
                "CVAE does not support the VampPrior (its pseudo-inputs have no condition y); "
                "use 'standard_normal', 'diagonal_gaussian' or 'mixture_of_gaussians'"
            )
        self.condition_dim = check_positive_int(condition_dim, "condition_dim")
        conditioning = ConcatConditioning() if conditioning is None else conditioning
        check_module(conditioning, "conditioning")
        self.conditioning = conditioning

    def condition_vector(self, y: torch.Tensor, batch: int, dtype: torch.dtype) -> torch.Tensor:
        """Check ``y`` and return it as floats ``[batch, condition_dim]`` (labels one-hot)."""
        check_tensor(y, "y")
        expected = f"[B, condition_dim] = [{batch}, {self.condition_dim}]"
        if y.dim() == 1 and not y.is_floating_point() and y.shape[0] == batch:
            if value_checks_enabled() and bool(((y < 0) | (y >= self.condition_dim)).any()):
                raise ValueError(
                    f"y holds class labels that must lie in [0, {self.condition_dim - 1}], "
                    f"got min {int(y.min())} and max {int(y.max())}"
                )
            return F.one_hot(y.long(), self.condition_dim).to(dtype)
        if y.dim() == 2 and tuple(y.shape) == (batch, self.condition_dim):
            if not y.is_floating_point():
                return y.to(dtype)
            return y
        raise ValueError(
            f"y must have shape {expected} (or [{batch}] integer class labels), "
            f"got {tuple(y.shape)} with dtype {y.dtype}"
        )

    def _posterior_params(  # type: ignore[override]
        self, x: torch.Tensor, y: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        y_vec = self.condition_vector(y, x.shape[0], x.dtype)
        features = self.encoder(self.conditioning.encoder_input(x, y_vec))
        return self.sampling_layer.get_params(features)

    def posterior(self, x: torch.Tensor, y: torch.Tensor) -> D.Distribution:  # type: ignore[override]
        """``q(z | x, y)``: batch shape ``[B]``, event shape ``[D_z]``."""
        mu, log_var = self._posterior_params(x, y)
        return D.Independent(D.Normal(mu, torch.exp(0.5 * log_var)), 1)

    def _build_pass(self, input_sample: torch.Tensor) -> None:
        # Shapes are all that matter: a zero condition of the right size.
        y = input_sample.new_zeros(input_sample.shape[0], self.condition_dim)
        self(input_sample, y, sample=False)

    def _encode(  # type: ignore[override]
        self, x: torch.Tensor, y: torch.Tensor, S: int = 1, sample: bool = True
    ) -> VAEEncodeOutput:
        """``VAEEncodeOutput(z [B, S, D_z], mu, log_var [B, D_z])`` of ``q(z | x, y)``."""
        num_samples = stochastic_layers._check_sample_args(S, sample)
        mu, log_var = self._posterior_params(x, y)
        if not sample:
            return VAEEncodeOutput(z=mu.unsqueeze(1), mu=mu, log_var=log_var)
        z = self.sampling_layer.reparametrize(mu, log_var, num_samples)
        return VAEEncodeOutput(z=z, mu=mu, log_var=log_var)

    def _decode(self, z: torch.Tensor, y: torch.Tensor) -> VAEDecodeOutput:  # type: ignore[override]
        """Decode ``z [B, S, D_z]`` under conditions ``y`` (``B`` of them) into ``[B, S, ...]``."""
        self._check_latent_shape(z)
        batch, num_samples, latent_dim = z.shape
        y_vec = self.condition_vector(y, batch, z.dtype)  # [B, C]
        y_rep = y_vec.repeat_interleave(num_samples, dim=0)  # [B * S, C]
        flat = self.decoder(
            self.conditioning.decoder_input(z.reshape(batch * num_samples, latent_dim), y_rep)
        )
        return VAEDecodeOutput(x_hat=flat.reshape(batch, num_samples, *flat.shape[1:]))

    def forward(  # type: ignore[override]
        self, x: torch.Tensor, y: torch.Tensor, S: int = 1, sample: bool = True
    ) -> VAEOutput:
        """Encode ``(x, y)`` (``S`` samples or the mean) and decode with the same ``y``."""
        enc = self._encode(x, y, S=S, sample=sample)
        x_hat = self._decode(enc.z, y).x_hat
        return VAEOutput(x_hat=x_hat, z=enc.z, mu=enc.mu, log_var=enc.log_var)

    def encode(  # type: ignore[override]
        self, x: torch.Tensor, y: torch.Tensor, S: int = 1, sample: bool = False
    ) -> VAEEncodeOutput:
        """Posterior mean by default, ``z [B, 1, D_z]``; ``sample=True`` draws ``S``."""
        with torch.no_grad():
            return self._encode(x, y, S=S, sample=sample)

    def sample(self, num_samples: int, y: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        """Decoder outputs ``[B_y, num_samples, ...]`` for ``z ~ p(z)`` under each condition."""
        check_tensor(y, "y")
        if y.dim() == 0:
            raise ValueError("y must have a batch dimension [B_y, ...], got a 0-dim tensor")
        count = check_positive_int(num_samples, "num_samples")
        with torch.no_grad():
            z = self.latent_prior.sample(y.shape[0] * count)
            return self._decode(z.reshape(y.shape[0], count, self.latent_dim), y).x_hat

    def reconstruct(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        """Decoder output ``[B, ...]`` at the posterior mean of each ``(x, y)`` (no grad)."""
        with torch.no_grad():
            return self._decode(self._encode(x, y, sample=False).z, y).x_hat.squeeze(1)
