"""The plain deterministic autoencoder."""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn

from .._base import BaseAutoencoder
from .._validation import check_module
from ..distributions._likelihood import Likelihood, LikelihoodType
from ..loss._result import LossResult
from ..registry import register_model
from ._outputs import AEDecodeOutput, AEEncodeOutput, AEOutput
from ._reconstruction import reconstruction_log_likelihood


@register_model("ae", latent="code", latent_arg=None)
class AE(BaseAutoencoder):
    r"""Deterministic autoencoder ``x -> z = encoder(x) -> x_hat = decoder(z)``.

    Objective: the batch-mean negative log-likelihood of the data under the decoder output,

    .. math:: \mathcal{L} = -\frac1B \sum_b \sum_j \log p(x_{bj} \mid \hat x_{bj}),

    with ``"gaussian"`` giving ``0.5 * ((x - x_hat)**2).sum`` per example (unit variance, no
    constant) and ``"bernoulli"`` the binary cross-entropy with logits.

    Parameters
    ----------
    encoder : nn.Module
        Maps ``x [B, ...]`` to a code ``z [B, ...]``.
    decoder : nn.Module
        Maps ``z`` back to ``x_hat`` shaped like ``x``.

    Diagnostics
    -----------
    ``log_likelihood``: minus the objective (batch mean, nats).
    """

    capabilities: ClassVar[frozenset[str]] = frozenset({"code"})

    def __init__(self, encoder: nn.Module, decoder: nn.Module) -> None:
        super().__init__()
        check_module(encoder, "encoder")
        check_module(decoder, "decoder")
        self.encoder = encoder
        self.decoder = decoder

    def _encode(self, x: torch.Tensor) -> AEEncodeOutput:
        return AEEncodeOutput(z=self.encoder(x))

    def _decode(self, z: torch.Tensor) -> AEDecodeOutput:
        return AEDecodeOutput(x_hat=self.decoder(z))

    def forward(self, x: torch.Tensor) -> AEOutput:
        """Encode once, decode that code once: ``AEOutput(x_hat, z)``."""
        z = self._encode(x).z
        return AEOutput(x_hat=self._decode(z).x_hat, z=z)

    def compute_loss(
        self,
        x: torch.Tensor,
        output: AEOutput,
        likelihood: LikelihoodType | str | Likelihood = LikelihoodType.GAUSSIAN,
    ) -> LossResult:
        """Batch-mean NLL of ``x`` under ``output.x_hat``; ``[B, ...]`` inputs, 0-dim objective."""
        log_lik = reconstruction_log_likelihood(x, output.x_hat, likelihood).mean()  # []
        objective = -log_lik
        return LossResult(objective=objective, diagnostics={"log_likelihood": log_lik.detach()})
