r"""Sparse autoencoder: L1 and KL-to-``rho`` sparsity penalties on the code."""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from .._validation import check_in_closed_interval, check_weight
from ..loss._result import LossResult
from ..registry import register_model
from ._denoising import check_noise_level
from ._outputs import AEOutput
from ._regularized import LikelihoodAE, LikelihoodSpec, check_code

Activation = Literal["sigmoid", "identity"]


def log_mean_activation(z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    r"""``(log rho_hat, log(1 - rho_hat))`` per unit for ``rho_hat_j = mean_b sigmoid(z_bj)``.

    ``z [B, U]`` are pre-activations. Computed without forming ``rho_hat``:
    ``log rho_hat_j = logsumexp_b log sigmoid(z_bj) - log B`` (and ``log sigmoid(-z)`` for the
    complement), finite for any logit. Returns two ``[U]`` tensors.
    """
    log_b = math.log(z.shape[0])
    log_rho = torch.logsumexp(F.logsigmoid(z), dim=0) - log_b
    log_rho_c = torch.logsumexp(F.logsigmoid(-z), dim=0) - log_b
    return log_rho, log_rho_c


def sparsity_kl(log_rho_hat: torch.Tensor, log_rho_hat_c: torch.Tensor, rho: float) -> torch.Tensor:
    r"""``sum_j KL(Bernoulli(rho) || Bernoulli(rho_hat_j))`` from log-activations (0-dim).

    .. math::

        \sum_j \rho \log\frac{\rho}{\hat\rho_j} + (1-\rho)\log\frac{1-\rho}{1-\hat\rho_j}

    (Ng, *Sparse autoencoder*, CS294A lecture notes, 2011, sec. 3), with ``0 log 0 = 0``.
    """
    rho_t = torch.tensor(rho, dtype=log_rho_hat.dtype, device=log_rho_hat.device)
    rho_c = 1.0 - rho_t
    per_unit = (
        torch.xlogy(rho_t, rho_t)
        - rho_t * log_rho_hat
        + torch.xlogy(rho_c, rho_c)
        - rho_c * log_rho_hat_c
    )
    return per_unit.sum()


@register_model("sparse_ae", latent="code", latent_arg=None)
class SparseAE(LikelihoodAE):
    r"""Autoencoder with sparsity penalties on the code ``z = encoder(x)``.

    Objective (batch mean NLL plus two optional penalties):

    .. math::

        \mathcal{L} = -\frac1B \sum_b \sum_j \log p(x_{bj} \mid \hat x_{bj})
            + \lambda_1 \frac1B \sum_b \lVert z_b \rVert_1
            + \beta \sum_u \mathrm{KL}(\rho \,\|\, \hat\rho_u),
        \qquad \hat\rho_u = \frac1B \sum_b \sigma(z_{bu}).

    The KL term is the sparsity penalty of Ng (*Sparse autoencoder*, CS294A lecture notes,
    2011, sec. 3): the mean activation ``rho_hat_u`` of each code unit ``u`` over the batch is
    pushed towards the target ``rho``. Activations are ``sigmoid(z)`` by default
    (``activation="sigmoid"``: ``z`` are pre-activations, and ``log rho_hat`` is computed with
    ``logsumexp`` of ``logsigmoid``, finite for any ``z``); with ``activation="identity"`` the
    encoder already outputs activations in ``[0, 1]`` (e.g. it ends in ``nn.Sigmoid``) and
    ``rho_hat`` is clamped to ``[1e-6, 1 - 1e-6]``. The L1 term (``l1_weight``) is the mean over
    the batch of ``sum_u |z_bu|``. Units are all elements of ``z.reshape(B, -1)``.

    Note the KL term is a batch statistic: it depends on the batch size and is not a sum of
    per-example terms.

    Diagnostics (detached 0-dim): ``log_likelihood``, ``sparsity_kl`` (the KL sum),
    ``l1_penalty`` (mean ``||z||_1``), ``mean_activation`` (mean of ``rho_hat`` over units).

    Parameters
    ----------
    encoder, decoder : nn.Module
        As for :class:`~pyautoencoder.vanilla.AE`; ``z`` is ``[B, D_z, ...]``.
    sparsity_weight : float
        ``beta`` >= 0 (default 1).
    target_sparsity : float
        ``rho`` in ``[0, 1]`` (default 0.05).
    l1_weight : float
        ``lambda_1`` >= 0 (default 0: no L1 term).
    activation : {"sigmoid", "identity"}
        How activations are read from ``z`` for the KL term.
    likelihood : str, LikelihoodType or Likelihood
        Observation model (default ``"gaussian"``).
    """

    def __init__(
        self,
        encoder: nn.Module,
        decoder: nn.Module,
        *,
        sparsity_weight: float = 1.0,
        target_sparsity: float = 0.05,
        l1_weight: float = 0.0,
        activation: Activation = "sigmoid",
        likelihood: LikelihoodSpec = "gaussian",
    ) -> None:
        super().__init__(encoder, decoder, likelihood)
        self.sparsity_weight = float(check_weight(sparsity_weight, "sparsity_weight"))
        self.target_sparsity = check_noise_level(target_sparsity, "target_sparsity")
        self.l1_weight = float(check_weight(l1_weight, "l1_weight"))
        if activation not in ("sigmoid", "identity"):
            raise ValueError(f"activation must be 'sigmoid' or 'identity', got {activation!r}")
        self.activation: Activation = activation

    def log_activations(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(log rho_hat, log(1 - rho_hat))``, each ``[U]``, of codes ``z [B, ...]``."""
        check_code(z, "SparseAE")
        units = z.reshape(z.shape[0], -1)  # [B, U]
        if self.activation == "sigmoid":
            return log_mean_activation(units)
        check_in_closed_interval(
            "z (activations with activation='identity')", units.detach(), 0.0, 1.0
        )
        rho_hat = units.mean(dim=0).clamp(1e-6, 1.0 - 1e-6)
        return rho_hat.log(), torch.log1p(-rho_hat)

    def compute_loss(
        self,
        x: torch.Tensor,
        output: AEOutput,
        likelihood: LikelihoodSpec | None = None,
    ) -> LossResult:
        """NLL plus the L1 and KL sparsity penalties; see the class docstring."""
        log_lik = self.mean_log_likelihood(x, output.x_hat, likelihood)
        z = output.z
        log_rho, log_rho_c = self.log_activations(z)
        kl = sparsity_kl(log_rho, log_rho_c, self.target_sparsity)
        l1 = z.abs().reshape(z.shape[0], -1).sum(dim=1).mean()
        objective = -log_lik + self.sparsity_weight * kl + self.l1_weight * l1
        return LossResult(
            objective=objective,
            diagnostics={
                "log_likelihood": log_lik.detach(),
                "sparsity_kl": kl.detach(),
                "l1_penalty": l1.detach(),
                "mean_activation": log_rho.detach().exp().mean(),
            },
        )
