r"""BatchTopK sparse autoencoder (Bussmann, Leask & Nanda 2024)."""

from __future__ import annotations

import torch

from ..registry import register_model
from ._outputs import DictionaryEncodeOutput, TopKOutput
from ._topk import DEFAULT_DEAD_AFTER, TopKSAE, count_active


def batch_topk_activation(pre_activations: torch.Tensor, k: int) -> torch.Tensor:
    r"""Keep the ``k * B`` largest of all ``B * M`` ReLU'd pre-activations of the batch.

    ``[B, M] -> [B, M]`` with at most ``k * B`` non-zeros in the whole batch (exactly that
    many when they are positive); single examples may keep more or fewer than ``k``.
    """
    return batch_topk_with_counts(pre_activations, k)[0]


def batch_topk_with_counts(
    pre_activations: torch.Tensor, k: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`batch_topk_activation` and the number of examples each latent is active on."""
    batch, num_latents = pre_activations.shape
    flat = pre_activations.relu().reshape(-1)  # [B * M]
    values, indices = flat.topk(k * batch)  # [k * B]
    z = torch.zeros_like(flat).scatter_(0, indices, values).reshape(pre_activations.shape)
    return z, count_active(indices % num_latents, values, num_latents)


def threshold_activation(pre_activations: torch.Tensor, threshold: torch.Tensor) -> torch.Tensor:
    """``pi * 1[pi > theta]`` with one global ``theta`` (0-dim): ``[B, M] -> [B, M]``."""
    return pre_activations * (pre_activations > threshold).to(pre_activations.dtype)


@register_model("batch_topk_sae", latent="dictionary", latent_arg="num_latents")
class BatchTopKSAE(TopKSAE):
    r"""TopK over the whole batch in training, one learned threshold at inference.

    In training (``batch_topk=True``) the code keeps the ``k B`` largest ReLU'd pre-activations
    of the batch (:func:`batch_topk_activation`), so the *average* number of active latents is
    ``k`` while each example uses as many as it needs (Bussmann et al. 2024, *BatchTopK Sparse
    Autoencoders*, sec. 2). Inference must not depend on the other examples of a batch, so
    there (``batch_topk=False``) the code is ``pi * 1[pi > theta]`` with a global threshold
    ``theta`` estimated in training as the running mean, over batches, of the smallest
    positive activation kept (sec. 2, "estimate the threshold"):

    .. math:: \theta \leftarrow \theta + \lambda_t\,(\min_{z_{bi} > 0} z_{bi} - \theta), \qquad
        \lambda_t = \max(1 - \text{decay}, 1 / t),

    i.e. an exact mean over the first ``1 / (1 - decay)`` batches, an exponential moving
    average afterwards. ``theta`` is the buffer ``threshold`` (0 before training).

    Everything else (pre-encoder bias, unit-norm dictionary, AuxK loss, diagnostics) is as
    in :class:`TopKSAE`.

    Parameters
    ----------
    input_dim, num_latents, k, tied, k_aux, aux_weight, dead_after
        As for :class:`TopKSAE`; ``k`` is the mean number of active latents per example.
    threshold_decay : float
        ``decay`` in ``[0, 1)`` of the threshold's running mean (default 0.999).
    """

    threshold: torch.Tensor
    threshold_updates: torch.Tensor

    def __init__(
        self,
        input_dim: int,
        num_latents: int,
        *,
        k: int = 32,
        tied: bool = False,
        k_aux: int | None = None,
        aux_weight: float = 1.0 / 32.0,
        dead_after: int = DEFAULT_DEAD_AFTER,
        threshold_decay: float = 0.999,
    ) -> None:
        super().__init__(
            input_dim,
            num_latents,
            k=k,
            tied=tied,
            k_aux=k_aux,
            aux_weight=aux_weight,
            dead_after=dead_after,
        )
        if isinstance(threshold_decay, bool) or not isinstance(threshold_decay, (int, float)):
            raise TypeError(f"threshold_decay must be a float in [0, 1), got {threshold_decay!r}")
        if not 0.0 <= float(threshold_decay) < 1.0:
            raise ValueError(f"threshold_decay must be in [0, 1), got {threshold_decay}")
        self.threshold_decay = float(threshold_decay)
        self.register_buffer("threshold", torch.zeros(()))
        self.register_buffer("threshold_updates", torch.zeros((), dtype=torch.long))

    @torch.no_grad()
    def update_threshold(self, z: torch.Tensor) -> None:
        """Move ``threshold`` towards the smallest positive entry of the batch code ``z``.

        A batch without positive entries leaves it unchanged.
        """
        smallest = torch.where(z > 0, z, torch.full_like(z, float("inf"))).amin()
        found = torch.isfinite(smallest)
        threshold, updates = self.threshold, self.threshold_updates
        count = updates + found.to(updates.dtype)
        rate = (1.0 / count.clamp_min(1).to(threshold.dtype)).clamp_min(1 - self.threshold_decay)
        moved = threshold + rate * (smallest - threshold)
        threshold.copy_(torch.where(found, moved, threshold))
        updates.copy_(count)

    def activate(self, pre_activations: torch.Tensor, batch_topk: bool = False) -> torch.Tensor:
        """Batch TopK (``batch_topk=True``) or the inference threshold on ``pi [B, M]``."""
        if batch_topk:
            return batch_topk_activation(pre_activations, self.k)
        return threshold_activation(pre_activations, self.threshold)

    def _encode(self, x: torch.Tensor, batch_topk: bool = False) -> DictionaryEncodeOutput:
        """Codes of ``x``; by default with the inference threshold (no dependence on the batch)."""
        pre = self.pre_activations(self.flatten_input(x), self.dictionary())
        return DictionaryEncodeOutput(z=self.activate(pre, batch_topk), pre_activations=pre)

    def forward(
        self, x: torch.Tensor, update: bool | None = None, batch_topk: bool | None = None
    ) -> TopKOutput:
        """Encode and decode ``x``.

        ``batch_topk`` (default: ``self.training``, as BatchNorm picks batch statistics)
        chooses batch TopK over the threshold; ``update`` (default: ``self.training``) updates
        the dead-latent counters and, with batch TopK, the threshold.
        """
        update = self.training if update is None else update
        batch_topk = self.training if batch_topk is None else batch_topk
        dictionary = self.dictionary()
        pre = self.pre_activations(self.flatten_input(x), dictionary)  # [B, M]
        if batch_topk:
            z, counts = batch_topk_with_counts(pre, self.k)
            if update:
                self.update_threshold(z)
        else:
            z = threshold_activation(pre, self.threshold)
            counts = (z != 0).sum(dim=0).to(z.dtype)
        return self.finish_output(x, z, counts, pre, dictionary, update)
