"""Conditional VAE (Sohn, Lee & Yan 2015): the VAE's machinery with a condition ``y`` wrapped
onto the encoder's and the decoder's inputs."""

from __future__ import annotations

from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import distributions as D
from torch import nn

from .._validation import check_module, check_positive_int, check_tensor, value_checks_enabled
from ..distributions._kl import KLEstimator
from ..distributions._likelihood import Likelihood, LikelihoodType
from ..distributions._posteriors import Posterior
from ..distributions._priors import Prior, VampPrior
from ..objectives._base import Objective
from ..objectives._piwae import PIWAE
from ..registry import register_model
from ._conditioning import ConcatConditioning, Conditioning
from ._outputs import VAEDecodeOutput, VAEEncodeOutput, VAEOutput
from ._vae_base import OBJECTIVE_SAMPLES, VAEBase


@register_model("cvae", latent="features")
class CVAE(VAEBase):
    r"""Conditional VAE: model ``p(x | y)`` with a latent ``z`` and a condition ``y``.

    .. math::

        \mathcal{L}(x, y) = \mathbb{E}_{q(z \mid x, y)}[\log p(x \mid z, y)]
            - \beta\,\mathrm{KL}(q(z \mid x, y) \,\|\, p(z))

    (Sohn, Lee & Yan 2015, *Learning structured output representation using deep conditional
    generative models*, eq. 4, with a prior ``p(z | y) = p(z)`` independent of ``y``, the
    common simplification).

    A composition: the VAE's machinery (sampling layer, posterior, prior, likelihood,
    objective; the same code as :class:`VAE`) with a :class:`Conditioning` (default
    :class:`ConcatConditioning`) that wraps the encoder's input ``x`` and the decoder's input
    ``z`` with ``y``. So ``posterior=`` (a flow sees the features of ``(x, y)``) and
    ``objective=`` work as for :class:`VAE`, except :class:`~pyautoencoder.objectives.PIWAE`,
    which decodes ``z`` a second time without ``y``.

    ``y`` is ``[B, condition_dim]`` (floats, e.g. attributes) or ``[B]`` integer class labels
    in ``[0, condition_dim - 1]``, one-hot encoded. Shapes otherwise as :class:`VAE`:
    ``forward(x, y, S)`` gives ``z [B, S, D_z]`` and ``x_hat [B, S, ...]`` (by default ``S``
    is the objective's ``num_samples``: 1 for the ELBO); the objective and diagnostics are
    those of :meth:`VAE.compute_loss`. ``sample(num_samples, y)`` draws ``num_samples``
    outputs per condition, ``[B_y, num_samples, ...]``.

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
    prior, likelihood, free_bits, kl_estimator, objective, posterior
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
        objective: Objective | dict[str, Any] | None = None,
        posterior: str | Posterior | None = None,
    ) -> None:
        super().__init__(
            encoder,
            decoder,
            latent_dim,
            prior=prior,
            likelihood=likelihood,
            free_bits=free_bits,
            kl_estimator=kl_estimator,
            objective=objective,
            posterior=posterior,
        )
        if isinstance(self.latent_prior, VampPrior):
            raise ValueError(
                "CVAE does not support the VampPrior (its pseudo-inputs have no condition y); "
                "use 'standard_normal', 'diagonal_gaussian' or 'mixture_of_gaussians'"
            )
        terms = getattr(self.objective, "terms", (self.objective,))
        if any(isinstance(term, PIWAE) for term in terms):
            raise ValueError(
                "CVAE does not support the PIWAE objective (it decodes z a second time, "
                "without the condition y); use MIWAE or ImportanceWeightedBound"
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

    # -- the composition: the condition wraps the networks' inputs ---------------------------

    def _encoder_input(self, x: torch.Tensor, condition: torch.Tensor | None) -> torch.Tensor:
        """``conditioning.encoder_input(x, y [B, C])`` for ``x [B, ...]``."""
        y = self._required(condition)
        return self.conditioning.encoder_input(x, self.condition_vector(y, x.shape[0], x.dtype))

    def _decoder_input(self, z: torch.Tensor, condition: torch.Tensor | None) -> torch.Tensor:
        """``conditioning.decoder_input(z [B * S, D_z], y [B * S, C])`` for ``z [B, S, D_z]``."""
        batch, num_samples, latent_dim = z.shape
        y = self.condition_vector(self._required(condition), batch, z.dtype)  # [B, C]
        return self.conditioning.decoder_input(
            z.reshape(batch * num_samples, latent_dim), y.repeat_interleave(num_samples, dim=0)
        )

    @staticmethod
    def _required(condition: torch.Tensor | None) -> torch.Tensor:
        if condition is None:
            raise TypeError("CVAE needs the condition y (a tensor) with every input, got None")
        return condition

    # -- the public signatures: y after x (or z) ----------------------------------------------

    def _posterior_params(
        self, x: torch.Tensor, y: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(mu, log_var)``, each ``[B, D_z]``, of ``q(z | x, y)``."""
        return self._posterior_params_given(x, y)

    def posterior(self, x: torch.Tensor, y: torch.Tensor) -> D.Distribution:
        """``q(z | x, y)``: batch shape ``[B]``, event shape ``[D_z]`` (active grad mode)."""
        return self._posterior_given(x, y)

    def _input_shape_of_encoder_input(self, shape: list[int]) -> list[int] | None:
        """The shape of one ``x`` whose encoder input has ``shape`` (for the config of a
        hand-built CVAE): the concatenation appends ``condition_dim`` features to the
        flattened ``x``. ``None`` when it cannot be told (another conditioning)."""
        if type(self.conditioning) is ConcatConditioning and len(shape) == 1:
            return [shape[0] - self.condition_dim] if shape[0] > self.condition_dim else None
        return None

    def _build_pass(self, input_sample: torch.Tensor) -> None:
        # Shapes are all that matter: a zero condition of the right size.
        y = input_sample.new_zeros(input_sample.shape[0], self.condition_dim)
        self(input_sample, y, sample=False)

    def _encode(
        self, x: torch.Tensor, y: torch.Tensor, S: int = 1, sample: bool = True
    ) -> VAEEncodeOutput:
        """``VAEEncodeOutput(z [B, S, D_z], mu, log_var [B, D_z])`` of ``q(z | x, y)``."""
        return self._encode_given(x, y, S, sample)

    def _decode(self, z: torch.Tensor, y: torch.Tensor) -> VAEDecodeOutput:
        """Decode ``z [B, S, D_z]`` under conditions ``y`` (``B`` of them) into ``[B, S, ...]``."""
        return self._decode_given(z, y)

    def forward(
        self, x: torch.Tensor, y: torch.Tensor, S: int = OBJECTIVE_SAMPLES, sample: bool = True
    ) -> VAEOutput:
        """Encode ``(x, y)`` (``S`` samples or the mean) and decode with the same ``y``.

        By default ``S`` is the objective's ``num_samples`` (1 for the ELBO).
        """
        enc = self._encode(x, y, S=self._num_samples(S, sample), sample=sample)
        return self._output(enc, self._decode(enc.z, y).x_hat)

    def encode(
        self, x: torch.Tensor, y: torch.Tensor, S: int = 1, sample: bool = False
    ) -> VAEEncodeOutput:
        """Posterior mean by default, ``z [B, 1, D_z]``; ``sample=True`` draws ``S``."""
        with torch.no_grad():
            return self._encode(x, y, S=S, sample=sample)

    def sample(self, num_samples: int, y: torch.Tensor) -> torch.Tensor:
        """Decoder outputs ``[B_y, num_samples, ...]`` for ``z ~ p(z)`` under each condition."""
        check_tensor(y, "y")
        if y.dim() == 0:
            raise ValueError("y must have a batch dimension [B_y, ...], got a 0-dim tensor")
        count = check_positive_int(num_samples, "num_samples")
        with torch.no_grad():
            z = self.latent_prior.sample(y.shape[0] * count)  # [B_y * N, D_z]
            return self._decode(z.reshape(y.shape[0], count, self.latent_dim), y).x_hat

    def reconstruct(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Decoder output ``[B, ...]`` at the posterior mean of each ``(x, y)`` (no grad)."""
        with torch.no_grad():
            return self._decode(self._encode(x, y, sample=False).z, y).x_hat.squeeze(1)
