r"""Contractive autoencoder (Rifai, Vincent, Muller, Glorot & Bengio 2011)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from .._base import ModelOutput
from .._validation import check_weight
from ..loss._result import LossResult
from ..registry import register_model
from ._regularized import LikelihoodAE, LikelihoodSpec, check_code

JacobianMethod = Literal["auto", "autograd", "sigmoid_layer"]


def jacobian_frobenius_sq(encoder: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Code and squared Frobenius norm of the encoder Jacobian, per example, for any encoder.

    ``||J_f(x_b)||_F^2 = sum_{u, i} (d z_bu / d x_bi)^2``. One forward pass
    (:func:`torch.func.vjp`) and one vector-Jacobian product per code element ``u``: the
    cotangent ``e_u`` broadcast over the batch gives row ``u`` of every example's Jacobian at
    once, which is exact when examples do not interact (no BatchNorm in training mode). The
    result keeps its graph, so it can be minimised w.r.t. the encoder's parameters (the
    double backward that ``create_graph=True`` gives), and it traces under ``torch.compile``.

    Parameters
    ----------
    encoder : nn.Module
        ``x [B, ...] -> z [B, ...]``.
    x : torch.Tensor
        ``[B, ...]``.

    Returns
    -------
    tuple of torch.Tensor
        ``z`` as the encoder returns it and the penalty ``[B]``.
    """
    primal_and_vjp = torch.func.vjp(encoder, x)
    z, vjp_fn = primal_and_vjp[0], primal_and_vjp[1]
    check_code(z, "ContractiveAE")
    flat = z.reshape(z.shape[0], -1)  # [B, U]
    total = x.new_zeros(x.shape[0])
    for unit in range(flat.shape[1]):
        cotangent = torch.zeros_like(flat)
        cotangent[:, unit] = 1.0
        (row,) = vjp_fn(cotangent.reshape(z.shape))  # [B, ...]: dz_u / dx per example
        total = total + row.reshape(x.shape[0], -1).square().sum(dim=1)
    return z, total


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
      vector-Jacobian product per code element (:func:`jacobian_frobenius_sq`);
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
        """``z`` and ``||d z / d x||_F^2`` per example ``[B]`` (the method chosen at init)."""
        linear = None if self.jacobian == "autograd" else _sigmoid_layer_linear(self.encoder)
        if linear is None:
            return jacobian_frobenius_sq(self.encoder, x)
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
