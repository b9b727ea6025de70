r"""Gated sparse autoencoder (Rajamanoharan et al. 2024a)."""

from __future__ import annotations

import torch
from torch import nn

from .._validation import check_weight
from ..loss._result import LossResult
from ..registry import register_model
from ._dictionary import SparseDictionary, mean_active, sparse_diagnostics, squared_error
from ._outputs import DictionaryEncodeOutput, GatedOutput


@register_model("gated_sae", latent="dictionary", latent_arg="num_latents")
class GatedSAE(SparseDictionary):
    r"""Sparse autoencoder that decides *which* latents fire apart from *how much*.

    Rajamanoharan et al. (2024a, *Improving Dictionary Learning with Gated Sparse
    Autoencoders*, eqs. 6-9). With ``x_c = x - b_dec``:

    .. math::

        \pi_{gate} = W_{gate} x_c + b_{gate}, \qquad
        \pi_{mag} = (e^{r_{mag}} \odot W_{gate})\, x_c + b_{mag}, \qquad
        z = 1[\pi_{gate} > 0] \odot \mathrm{ReLU}(\pi_{mag}),

        \mathcal{L} = \frac1B \sum_b \Big( \lVert x_b - \hat x_b \rVert^2
            + \lambda \lVert \mathrm{ReLU}(\pi_{gate,b}) \rVert_1
            + \lVert x_b - \hat x_{frozen}(\mathrm{ReLU}(\pi_{gate,b})) \rVert^2 \Big),

    where ``x_hat_frozen`` decodes with a stop-gradient copy of ``W_dec`` and ``b_dec``. The
    gate ``1[pi_gate > 0]`` passes no gradient; the gate path learns from the L1 and auxiliary
    terms only. The magnitude path shares the gate's weight up to a per-latent scale
    ``exp(r_mag)``. ``W_gate``/``b_gate`` are the ``W_enc``/``b_enc`` of
    :class:`SparseDictionary` (tied to the dictionary's transpose with ``tied=True``);
    dictionary columns have unit norm, so the L1 term needs no decoder-norm weighting.

    Diagnostics (detached 0-dim): ``mse``, ``fvu``, ``l0``, ``l1_penalty``, ``aux_loss``.

    Parameters
    ----------
    input_dim, num_latents, tied
        As for :class:`SparseDictionary`.
    l1_weight : float
        ``lambda`` >= 0 (default 1e-2).
    """

    def __init__(
        self,
        input_dim: int,
        num_latents: int,
        *,
        tied: bool = False,
        l1_weight: float = 1e-2,
    ) -> None:
        super().__init__(input_dim, num_latents, tied=tied)
        self.l1_weight = float(check_weight(l1_weight, "l1_weight"))
        self.r_mag = nn.Parameter(torch.zeros(self.num_latents))  # [M]
        self.b_mag = nn.Parameter(torch.zeros(self.num_latents))  # [M]

    def gate_and_magnitude(
        self, x_flat: torch.Tensor, dictionary: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(pi_gate, pi_mag)``, each ``[B, M]``, of ``x [B, D]``."""
        centred = x_flat - self.b_dec  # [B, D]
        gate_weight = self.encoder_weight(dictionary)  # [M, D]
        gate_linear = centred @ gate_weight.T  # [B, M]
        return gate_linear + self.b_enc, gate_linear * self.r_mag.exp() + self.b_mag

    @staticmethod
    def activate(gate: torch.Tensor, magnitude: torch.Tensor) -> torch.Tensor:
        """``1[pi_gate > 0] * ReLU(pi_mag)``: ``[B, M]``."""
        return (gate > 0).to(magnitude.dtype) * magnitude.relu()

    def _encode(self, x: torch.Tensor) -> DictionaryEncodeOutput:
        gate, magnitude = self.gate_and_magnitude(self.flatten_input(x), self.dictionary())
        return DictionaryEncodeOutput(z=self.activate(gate, magnitude), pre_activations=gate)

    def forward(self, x: torch.Tensor) -> GatedOutput:
        """Encode and decode ``x``; ``x_hat`` shaped like ``x``, the rest ``[B, M]``."""
        dictionary = self.dictionary()
        gate, magnitude = self.gate_and_magnitude(self.flatten_input(x), dictionary)
        z = self.activate(gate, magnitude)
        x_hat = self.decode_linear(z, dictionary).reshape(x.shape)
        return GatedOutput(x_hat=x_hat, z=z, pre_activations=gate, magnitudes=magnitude)

    def compute_loss(self, x: torch.Tensor, output: GatedOutput) -> LossResult:
        """Reconstruction, L1 on the gate and the frozen-decoder auxiliary term (the class)."""
        x_flat = self.flatten_input(x)
        x_hat = output.x_hat.reshape(x_flat.shape)
        error = squared_error(x_flat, x_hat)  # [B]
        mse = error.mean()
        gate_activity = output.pre_activations.relu()  # [B, M]
        l1 = gate_activity.sum(dim=1).mean()
        frozen = gate_activity @ self.W_dec.detach().T + self.b_dec.detach()  # [B, D]
        aux = squared_error(x_flat, frozen).mean()
        diagnostics = sparse_diagnostics(x_flat, error, mean_active(output.z))
        diagnostics["l1_penalty"] = l1.detach()
        diagnostics["aux_loss"] = aux.detach()
        return LossResult(objective=mse + self.l1_weight * l1 + aux, diagnostics=diagnostics)
