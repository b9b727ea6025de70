r"""Quantizers made of quantizers: residual (stacked) and grouped (split channels)."""

from __future__ import annotations

import copy
from typing import cast

import torch
from torch import nn

from .._validation import check_positive_int
from ._helpers import check_real
from ._protocol import Quantizer, QuantizerOutput


def _copies(base: Quantizer, count: int) -> nn.ModuleList:
    """``base`` and ``count - 1`` deep copies with freshly drawn parameters/codebooks."""
    if not isinstance(base, Quantizer):
        raise TypeError(
            f"base must be a pyautoencoder.quantized.Quantizer, got {type(base).__name__}"
        )
    stages = [base]
    for _ in range(count - 1):
        stage = copy.deepcopy(base)
        for module in stage.modules():
            reset = getattr(module, "reset_parameters", None)
            if callable(reset):
                reset()
        stages.append(stage)
    return nn.ModuleList(stages)


def _merge_diagnostics(outputs: list[QuantizerOutput], prefix: str) -> dict[str, torch.Tensor]:
    """Mean over the parts of every shared key, plus ``<prefix><i>_<key>`` for usage keys."""
    merged: dict[str, torch.Tensor] = {}
    for key in outputs[0].diagnostics:
        values = [out.diagnostics[key] for out in outputs if key in out.diagnostics]
        merged[key] = torch.stack(values).mean()
    for i, out in enumerate(outputs):
        merged[f"{prefix}{i}_perplexity"] = out.diagnostics["perplexity"]
    return merged


class ResidualQuantizer(Quantizer):
    r"""Residual vector quantization: each stage quantises what the previous ones missed.

    Zeghidour et al. (2021), *SoundStream* (algorithm 1): with ``r_0 = z`` and stages
    ``Q_1 ... Q_N`` (copies of ``base``, each with its own codebook),

    .. math::

        \hat z = \sum_{i=1}^{N} Q_i(r_{i-1}), \qquad r_i = r_{i-1} - Q_i(r_{i-1}),

    so the error ``||z - hat z||`` shrinks as stages are added (a stage whose codes are fitted
    to its residuals can only lower it). The loss is the sum of the stages' losses; indices are
    ``[B, *S, N]`` (stage last).

    **Quantize dropout** (``quantize_dropout=p``, SoundStream section 3.3): in a training-mode
    forward, with probability ``p`` the batch uses only the first ``n`` stages, ``n`` uniform
    in ``1 .. N`` (drawn on the device, no host synchronisation); the other stages add nothing,
    their loss is masked and their indices are ``-1``. One model then serves several bitrates
    (decode with the first ``n`` indices). Stateful stages still see their residuals (their
    EMA statistics update) — dropout masks their output, not their call.

    Parameters
    ----------
    base : Quantizer
        The first stage; the others are deep copies with re-drawn codebooks/parameters.
    num_quantizers : int
        ``N`` stages (>= 1).
    quantize_dropout : float
        Probability ``p`` in ``[0, 1]`` of truncating a training batch (default 0).
    residual_scale : float
        Stage ``i`` (from 0) quantises ``residual * s^i`` and contributes its output divided by
        ``s^i`` (default ``s = 1``). Bounded quantizers such as :class:`FSQ` need it: their
        grid has a fixed spacing, so the shrinking residuals must be magnified (e.g. ``s`` =
        the number of levels, as in residual FSQ).

    Diagnostics
    -----------
    The stages' diagnostics averaged (``perplexity``, ``codes_used``, ...), ``stage<i>_perplexity``
    per stage, and ``residual_norm`` (mean ``||z - hat z||`` per position, detached).
    """

    def __init__(
        self,
        base: Quantizer,
        num_quantizers: int,
        quantize_dropout: float = 0.0,
        residual_scale: float = 1.0,
    ) -> None:
        super().__init__()
        self.num_quantizers = check_positive_int(num_quantizers, "num_quantizers")
        self.stages: nn.ModuleList = _copies(base, self.num_quantizers)
        self.dim = base.dim
        self.num_codes = base.num_codes
        if base.num_codebooks != 1:
            raise ValueError("base must have one codebook (num_codebooks = 1)")
        self.num_codebooks = self.num_quantizers
        self.quantize_dropout = check_real(quantize_dropout, "quantize_dropout", 0.0, 1.0, "[0, 1]")
        self.residual_scale = check_real(
            residual_scale, "residual_scale", 0.0, float("inf"), "(0, inf)", lower_open=True
        )

    def forward(self, z: torch.Tensor, update: bool | None = None) -> QuantizerOutput:
        """Quantise ``z [B, D, *S]`` stage by stage; indices ``[B, *S, N]``."""
        self.check_input(z)
        update = self._updates(update)
        keep = self._stages_kept(z, update)  # [N] bool or None
        residual = z
        total = torch.zeros_like(z)
        loss = torch.zeros((), device=z.device, dtype=z.dtype)
        outputs, indices = [], []
        for i, stage in enumerate(self.stages):
            scale = self.residual_scale**i
            out = stage(residual * scale if i else residual, update=update)
            outputs.append(out)
            stage_q = out.z_q / scale if i else out.z_q
            residual = residual - stage_q.detach()
            if keep is None:
                total = total + stage_q
                loss = loss + out.loss
                indices.append(out.indices)
            else:
                kept = keep[i]
                total = total + torch.where(kept, stage_q, torch.zeros_like(stage_q))
                loss = loss + torch.where(kept, out.loss, torch.zeros_like(out.loss))
                indices.append(torch.where(kept, out.indices, -torch.ones_like(out.indices)))
        stacked = torch.stack(indices, dim=-1)  # [B, *S, N]
        diagnostics = _merge_diagnostics(outputs, "stage")
        error = (z.detach() - total.detach()).square().sum(dim=1).sqrt().mean()
        diagnostics["residual_norm"] = error
        return QuantizerOutput(z_q=total, indices=stacked, loss=loss, diagnostics=diagnostics)

    def _stages_kept(self, z: torch.Tensor, update: bool) -> torch.Tensor | None:
        """``[N]`` bool mask of the stages used by this batch under quantize dropout."""
        if not update or self.quantize_dropout == 0.0:
            return None
        num = self.num_quantizers
        truncate = torch.rand((), device=z.device) < self.quantize_dropout
        used = torch.randint(1, num + 1, (), device=z.device)
        used = torch.where(truncate, used, torch.full_like(used, num))
        return torch.arange(num, device=z.device) < used

    def codes_from_indices(self, indices: torch.Tensor) -> torch.Tensor:
        """Sum of the stages' codes for ``indices [B, *S, N]`` (``-1``: the stage adds 0)."""
        indices = self.check_indices(indices, allow_unused=True)
        parts = []
        for i, stage in enumerate(cast(list[Quantizer], list(self.stages))):
            index = indices[..., i]
            codes = stage.codes_from_indices(index.clamp_min(0)) / self.residual_scale**i
            used = (index >= 0).unsqueeze(1 if index.dim() > 1 else -1)
            parts.append(torch.where(used, codes, torch.zeros_like(codes)))
        return torch.stack(parts).sum(dim=0)


class GroupedQuantizer(Quantizer):
    r"""Split the channels into ``G`` groups and quantise each with its own quantizer.

    Product quantization (Jégou, Douze & Schmid 2011, *Product quantization for nearest
    neighbor search*) as used by VQ-wav2vec (Baevski et al. 2020, section 3.1): ``z [B, D, *S]``
    is cut into ``G`` consecutive channel groups of ``D / G``; group ``g`` goes through its own
    copy of ``base`` (whose ``dim`` must be ``D / G``). The effective codebook has ``K^G``
    entries at the memory of ``G K``. Outputs are concatenated back, indices are
    ``[B, *S, G]`` and the loss is the sum of the groups' losses.

    Parameters
    ----------
    base : Quantizer
        Quantizer of one group (``base.dim = D / G``); the others are deep copies with re-drawn
        codebooks/parameters.
    groups : int
        ``G`` (>= 1).

    Diagnostics
    -----------
    The groups' diagnostics averaged, and ``group<g>_perplexity`` per group.
    """

    def __init__(self, base: Quantizer, groups: int) -> None:
        super().__init__()
        self.groups = check_positive_int(groups, "groups")
        if isinstance(base, Quantizer) and base.num_codebooks != 1:
            raise ValueError("base must have one codebook (num_codebooks = 1)")
        self.parts: nn.ModuleList = _copies(base, self.groups)
        self.dim = base.dim * self.groups
        self.num_codes = base.num_codes
        self.num_codebooks = self.groups

    def forward(self, z: torch.Tensor, update: bool | None = None) -> QuantizerOutput:
        """Quantise each channel group of ``z [B, G * d, *S]``; indices ``[B, *S, G]``."""
        self.check_input(z)
        update = self._updates(update)
        outputs = [
            part(chunk, update=update)
            for part, chunk in zip(self.parts, z.chunk(self.groups, dim=1), strict=True)
        ]
        z_q = torch.cat([out.z_q for out in outputs], dim=1)
        indices = torch.stack([out.indices for out in outputs], dim=-1)
        loss = torch.stack([out.loss for out in outputs]).sum()
        diagnostics = _merge_diagnostics(outputs, "group")
        return QuantizerOutput(z_q=z_q, indices=indices, loss=loss, diagnostics=diagnostics)

    def codes_from_indices(self, indices: torch.Tensor) -> torch.Tensor:
        """Concatenated group codes for ``indices [B, *S, G]`` -> ``[B, D, *S]``."""
        indices = self.check_indices(indices)
        groups = cast(list[Quantizer], list(self.parts))
        parts = [part.codes_from_indices(indices[..., g]) for g, part in enumerate(groups)]
        return torch.cat(parts, dim=1)
