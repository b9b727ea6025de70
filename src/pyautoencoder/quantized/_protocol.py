r"""The quantizer protocol: one call convention for every discrete bottleneck.

A quantizer maps a channel-first tensor ``z [B, D, *S]`` (``D = dim``; ``S`` the positions of a
feature map or sequence, none for ``[B, D]``) to a :class:`QuantizerOutput`: the quantised
tensor with straight-through (or rotation-trick) gradients, the integer code indices, a 0-dim
loss that is already weighted (add it to the reconstruction term) and a dict of detached 0-dim
diagnostics. ``codes_from_indices`` is the inverse (indices -> quantised values), so a model can
decode indices drawn from a prior. Composite quantizers
(:class:`~pyautoencoder.quantized.ResidualQuantizer`,
:class:`~pyautoencoder.quantized.GroupedQuantizer`) hold other quantizers and have
``num_codebooks > 1``: their indices carry a trailing dimension ``[B, *S, Q]``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import torch
from torch import nn

from .._base import ModelOutput
from .._validation import check_floating, check_nonempty_batch, check_tensor, value_checks_enabled


@dataclass(slots=True, repr=False)
class QuantizerOutput(ModelOutput):
    """What every :class:`Quantizer` returns for an input ``z [B, D, *S]``.

    Attributes
    ----------
    z_q : torch.Tensor
        ``[B, D, *S]``: the quantised values, with the quantizer's gradient estimator
        (straight-through unless stated otherwise).
    indices : torch.Tensor
        ``int64`` code indices: ``[B, *S]`` for one codebook, ``[B, *S, Q]`` for a quantizer with
        ``num_codebooks = Q > 1``.
    loss : torch.Tensor
        0-dim auxiliary loss, already weighted (zero for quantizers without one, e.g. FSQ).
    diagnostics : dict[str, torch.Tensor]
        Detached 0-dim tensors; every quantizer reports at least ``perplexity`` and
        ``codes_used`` of the batch (see :meth:`Quantizer.batch_usage`).
    """

    z_q: torch.Tensor
    indices: torch.Tensor
    loss: torch.Tensor
    diagnostics: dict[str, torch.Tensor]


class Quantizer(nn.Module, ABC):
    r"""Base class of the quantizers: ``forward(z) -> QuantizerOutput`` plus the inverse lookup.

    Subclasses set ``dim`` (input channels ``D``), ``num_codes`` (codes per codebook ``K``) and
    ``num_codebooks`` (index tuples per position ``Q``, 1 for a single codebook) and implement
    :meth:`forward` and :meth:`codes_from_indices`. The input checks and the batch usage
    statistics live here, so every quantizer reports them alike.

    ``forward(z, update=None)``: ``update`` (default: ``self.training``) lets a stateful
    quantizer change its state in this call (EMA codebook, usage counters, dead-code resets,
    k-means initialisation, temperature schedule); stateless ones ignore it.
    """

    dim: int
    num_codes: int
    num_codebooks: int = 1

    @abstractmethod
    def forward(self, z: torch.Tensor, update: bool | None = None) -> QuantizerOutput:
        """Quantise ``z [B, D, *S]``; see :class:`QuantizerOutput`."""

    @abstractmethod
    def codes_from_indices(self, indices: torch.Tensor) -> torch.Tensor:
        """Quantised values for integer ``indices``: ``[B, D]`` for ``[B]``, else ``[B, D, *S]``.

        The inverse of the lookup: ``codes_from_indices(out.indices)`` equals ``out.z_q`` in
        value (for composite quantizers the indices carry the trailing ``Q`` dimension).
        """

    # ------------------------------------------------------------------ shared helpers
    def _updates(self, update: bool | None) -> bool:
        return self.training if update is None else bool(update)

    def check_input(self, z: torch.Tensor) -> None:
        """Raise for a non-float, empty or wrongly shaped ``z`` (``[B, D, *S]``, ``D = dim``)."""
        check_tensor(z, "z")
        check_floating(z, "z")
        check_nonempty_batch(z, "z")
        expected = f"z must be [B, D] or channel-first [B, D, ...] with D = dim = {self.dim}"
        if z.dim() < 2:
            raise ValueError(f"{expected}, got shape {tuple(z.shape)} (no dim 1)")
        if z.shape[1] != self.dim:
            raise ValueError(
                f"{expected}, got shape {tuple(z.shape)} (dim 1 of size {z.shape[1]}); make "
                f"the encoder output {self.dim} features/channels"
            )

    def check_indices(self, indices: torch.Tensor, allow_unused: bool = False) -> torch.Tensor:
        """Check integer ``indices`` (dtype, batch dim, range ``[0, num_codes)``); int64 view.

        ``allow_unused`` accepts ``-1`` (a stage dropped by quantize dropout).
        """
        check_tensor(indices, "indices")
        if (
            indices.dtype.is_floating_point
            or indices.dtype.is_complex
            or indices.dtype == torch.bool
        ):
            raise TypeError(
                f"indices must be an integer tensor of code indices, got dtype {indices.dtype}"
            )
        if indices.dim() == 0:
            raise ValueError("indices must have a batch dimension [B, ...], got a 0-dim tensor")
        if self.num_codebooks > 1 and indices.shape[-1] != self.num_codebooks:
            raise ValueError(
                f"indices must be [B, ..., Q] with Q = num_codebooks = {self.num_codebooks}, got "
                f"shape {tuple(indices.shape)}"
            )
        if value_checks_enabled() and indices.numel() > 0:
            low, high = int(indices.min()), int(indices.max())
            floor = -1 if allow_unused else 0
            if low < floor or high >= self.num_codes:
                raise ValueError(
                    f"indices must lie in [{floor}, {self.num_codes - 1}] (num_codes = "
                    f"{self.num_codes}), got values in [{low}, {high}]"
                )
        return indices.long()

    def count_codes(self, indices: torch.Tensor) -> torch.Tensor:
        """How often each code occurs in ``indices``: ``[Q, K]`` (``-1`` entries are skipped).

        ``Q = num_codebooks``, ``K = num_codes``; float counts on the indices' device (no host
        synchronisation; one ``scatter_add`` per call).
        """
        flat = indices.reshape(-1, self.num_codebooks).long()  # [N, Q]
        offsets = torch.arange(self.num_codebooks, device=flat.device) * self.num_codes
        valid = flat >= 0
        slots = torch.where(valid, flat + offsets, torch.zeros_like(flat))
        counts = torch.zeros(
            self.num_codebooks * self.num_codes, device=flat.device, dtype=torch.float32
        )
        counts.scatter_add_(0, slots.reshape(-1), valid.reshape(-1).float())
        return counts.reshape(self.num_codebooks, self.num_codes)

    def batch_usage(self, indices: torch.Tensor) -> dict[str, torch.Tensor]:
        """``perplexity`` and ``codes_used`` of one batch, averaged over the codebooks (detached).

        ``perplexity = exp(H(p))`` of the code frequencies ``p`` (1: one code; ``K``: all codes
        equally often); ``codes_used``: the fraction of the ``K`` codes chosen at least once.
        Both depend on the batch size; :func:`pyautoencoder.quantized.code_usage` measures them
        over a whole data set.
        """
        counts = self.count_codes(indices.detach())  # [Q, K]
        probs = counts / counts.sum(dim=1, keepdim=True).clamp_min(1.0)
        perplexity = torch.special.entr(probs).sum(dim=1).exp().mean()
        return {
            "perplexity": perplexity.detach(),
            "codes_used": (counts > 0).float().mean().detach(),
        }


def zero_loss(like: torch.Tensor) -> torch.Tensor:
    """A 0-dim zero on ``like``'s device and dtype (the loss of a quantizer without one)."""
    return torch.zeros((), device=like.device, dtype=like.dtype)
