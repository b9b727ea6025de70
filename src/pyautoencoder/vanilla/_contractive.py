r"""Contractive autoencoder (Rifai, Vincent, Muller, Glorot & Bengio 2011)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from .._base import ModelOutput
from .._validation import check_nonempty_batch, check_weight
from ..loss._result import LossResult
from ..registry import register_model
from ._jacobian import jacobian_frobenius_sq
from ._regularized import LikelihoodAE, LikelihoodSpec, check_code

JacobianMethod = Literal["auto", "autograd", "sigmoid_layer"]


def sigmoid_layer_jacobian_frobenius_sq(h: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    r"""Closed form for one layer ``h = sigmoid(W x + b)`` (Rifai et al. 2011, eq. 8).

    ``J = diag(h (1 - h)) W``, so ``||J||_F^2 = sum_u (h_u (1 - h_u))^2 sum_i W_ui^2``.
    ``h [B, U]``, ``weight [U, F]``; returns ``[B]``.
    """
    return (h * (1.0 - h)).square() @ weight.square().sum(dim=1)


def _sigmoid_layer_linear(encoder: nn.Module) -> nn.Linear | None:
    """The ``nn.Linear`` of an encoder ``Sequential([Flatten,] Linear, Sigmoid)``, else ``None``.

    A structure check only: it does not need materialised (lazy) parameters.
    """
    if not isinstance(encoder, nn.Sequential):
        return None
    layers = list(encoder)
    if layers and isinstance(layers[0], nn.Flatten):
        layers = layers[1:]
    if len(layers) == 2 and isinstance(layers[0], nn.Linear) and isinstance(layers[1], nn.Sigmoid):
        return layers[0]
    return None


@dataclass(slots=True, repr=False)
class ContractiveAEOutput(ModelOutput):
    """``x_hat``, ``z`` and ``jacobian_norm_sq [B]`` (``||d z / d x||_F^2`` per example)."""

    x_hat: torch.Tensor
    z: torch.Tensor
    jacobian_norm_sq: torch.Tensor


@register_model("contractive_ae", latent="code", latent_arg=None)
class ContractiveAE(LikelihoodAE):
    r"""Autoencoder whose code is insensitive to small input changes.

    Rifai et al. (2011), *Contractive auto-encoders: explicit invariance during feature
    extraction*, eq. (7): the reconstruction NLL plus ``lambda`` times the squared Frobenius norm
    of the encoder's Jacobian,

    .. math::

        \mathcal{L} = \frac1B \sum_b \Big( -\sum_j \log p(x_{bj} \mid \hat x_{bj})
            + \lambda \Big\lVert \frac{\partial z_b}{\partial x_b} \Big\rVert_F^2 \Big).

    The Jacobian term is computed in :meth:`forward` (it needs the encoder pass itself):

    * ``jacobian="autograd"``: exact for any encoder whose examples are independent, one
      vector-Jacobian product per code element on the forward pass's own graph
      (``create_graph=True``); under ``torch.compile`` the same products through
      :func:`torch.func.vjp` (then BatchNorm in training mode is not supported in the encoder);
    * ``jacobian="sigmoid_layer"``: the paper's closed form for an encoder
      ``nn.Sequential([nn.Flatten(),] nn.Linear, nn.Sigmoid)`` (one encoder pass, no extra
      products; :func:`sigmoid_layer_jacobian_frobenius_sq`);
    * ``"auto"`` (default): the closed form when the encoder has that structure (and is built),
      otherwise autograd.

    Shapes: ``x [B, ...]``, ``z [B, ...]`` (``U`` code elements), ``jacobian_norm_sq [B]``.
    Diagnostics (detached 0-dim): ``log_likelihood``, ``jacobian_norm_sq`` (batch mean).

    Parameters
    ----------
    encoder, decoder : nn.Module
        As for :class:`~pyautoencoder.vanilla.AE`.
    contraction_weight : float
        ``lambda`` >= 0 (default 0.1).
    jacobian : {"auto", "autograd", "sigmoid_layer"}
        How the Jacobian norm is computed.
    likelihood : str, LikelihoodType or Likelihood
        Observation model (default ``"gaussian"``).
    """

    def __init__(
        self,
        encoder: nn.Module,
        decoder: nn.Module,
        *,
        contraction_weight: float = 0.1,
        jacobian: JacobianMethod = "auto",
        likelihood: LikelihoodSpec = "gaussian",
    ) -> None:
        super().__init__(encoder, decoder, likelihood)
        self.contraction_weight = float(check_weight(contraction_weight, "contraction_weight"))
        if jacobian not in ("auto", "autograd", "sigmoid_layer"):
            raise ValueError(
                f"jacobian must be 'auto', 'autograd' or 'sigmoid_layer', got {jacobian!r}"
            )
        if jacobian == "sigmoid_layer" and _sigmoid_layer_linear(encoder) is None:
            raise ValueError(
                "jacobian='sigmoid_layer' needs an encoder nn.Sequential([nn.Flatten(),] "
                f"nn.Linear, nn.Sigmoid), got {type(encoder).__name__}; use jacobian='autograd'"
            )
        self.jacobian: JacobianMethod = jacobian

    def code_and_jacobian(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``z`` and ``||d z / d x||_F^2`` per example ``[B]`` (the method chosen at init).

        Raises ``ValueError`` for an empty batch (``B = 0``) before the encoder runs.
        """
        check_nonempty_batch(x)
        linear = None if self.jacobian == "autograd" else _sigmoid_layer_linear(self.encoder)
        if linear is None:
            z, norm = jacobian_frobenius_sq(self.encoder, x, mode="reverse")
            check_code(z, "ContractiveAE")
            return z, norm
        z = self.encoder(x)  # [B, U]; materialises a lazy layer before its weight is read
        return z, sigmoid_layer_jacobian_frobenius_sq(z, linear.weight)

    def forward(self, x: torch.Tensor) -> ContractiveAEOutput:
        """Encode with the Jacobian penalty, decode."""
        z, jacobian_norm_sq = self.code_and_jacobian(x)
        return ContractiveAEOutput(
            x_hat=self._decode(z).x_hat, z=z, jacobian_norm_sq=jacobian_norm_sq
        )

    def compute_loss(
        self,
        x: torch.Tensor,
        output: ContractiveAEOutput,
        likelihood: LikelihoodSpec | None = None,
    ) -> LossResult:
        """NLL plus ``contraction_weight`` times the mean Jacobian norm; see the class doc."""
        log_lik = self.mean_log_likelihood(x, output.x_hat, likelihood)
        penalty = output.jacobian_norm_sq.mean()
        return LossResult(
            objective=-log_lik + self.contraction_weight * penalty,
            diagnostics={"log_likelihood": log_lik.detach(), "jacobian_norm_sq": penalty.detach()},
        )
