r"""Codebook health over a whole data set: codes used, usage entropy/perplexity, dead codes.

A batch's perplexity and fraction of codes used depend on the batch size (a batch of 64
positions cannot use more than 64 of 1,024 codes); counting the indices of a whole epoch gives
numbers that describe the codebook. With counts ``n_qk`` of code ``k`` of codebook ``q`` over
the data and ``p_qk = n_qk / sum_k n_qk``:

.. math::

    H_q = -\sum_k p_{qk} \log p_{qk}\ \text{(nats)}, \qquad
    \text{perplexity}_q = e^{H_q}, \qquad
    \text{dead}_q = \#\{k : n_{qk} = 0\},

averaged over the ``Q`` codebooks of residual/grouped quantizers.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn


@dataclass(frozen=True)
class CodeUsage:
    """Code usage of a quantized model over a data set (see the module docstring).

    Attributes
    ----------
    counts : torch.Tensor
        ``[Q, K]`` float64 counts of each code (on the CPU).
    num_codes : int
        ``K``, codes per codebook.
    codes_used : float
        Fraction of the ``Q K`` codes chosen at least once.
    perplexity : float
        ``exp(H)`` of the usage distribution, mean over codebooks (``K`` for uniform use).
    entropy : float
        ``H`` in nats, mean over codebooks.
    dead_codes : int
        Codes never chosen, summed over codebooks.
    num_positions : int
        Index tuples counted (examples times positions).
    """

    counts: torch.Tensor
    num_codes: int
    codes_used: float
    perplexity: float
    entropy: float
    dead_codes: int
    num_positions: int

    def as_dict(self) -> dict[str, float]:
        """The scalar numbers, with the keys that ``fit()`` logs (``usage_*``)."""
        return {
            "usage_codes_used": self.codes_used,
            "usage_perplexity": self.perplexity,
            "usage_entropy": self.entropy,
            "usage_dead_codes": float(self.dead_codes),
        }


def usage_from_counts(counts: torch.Tensor) -> CodeUsage:
    """A :class:`CodeUsage` from ``[Q, K]`` (or ``[K]``) code counts."""
    counts = counts.detach().to("cpu", torch.float64)
    if counts.dim() == 1:
        counts = counts.unsqueeze(0)
    totals = counts.sum(dim=1, keepdim=True)
    probs = counts / totals.clamp_min(1.0)
    entropy = torch.special.entr(probs).sum(dim=1)  # [Q]
    return CodeUsage(
        counts=counts,
        num_codes=counts.shape[1],
        codes_used=float((counts > 0).double().mean()),
        perplexity=float(entropy.exp().mean()),
        entropy=float(entropy.mean()),
        dead_codes=int((counts == 0).sum()),
        num_positions=int(totals[0, 0]),
    )


def _quantizer_of(model: nn.Module) -> Any:
    quantizer = getattr(model, "quantizer", None)
    if quantizer is None or not callable(getattr(quantizer, "count_codes", None)):
        raise TypeError(
            "code_usage needs a quantized model (a .quantizer following "
            f"pyautoencoder.quantized.Quantizer), got {type(model).__name__}"
        )
    return quantizer


def _batches(data: object, batch_size: int) -> Iterable[torch.Tensor]:
    if isinstance(data, torch.Tensor):
        return data.split(batch_size)
    if isinstance(data, (tuple, list)) and data and isinstance(data[0], torch.Tensor):
        return data[0].split(batch_size)
    if isinstance(data, Iterable):
        return (b if isinstance(b, torch.Tensor) else b[0] for b in data)
    raise TypeError(
        "data must be a tensor [N, ...], a tuple whose first item is one, or an iterable of "
        f"batches, got {type(data).__name__}"
    )


@torch.no_grad()
def count_model_codes(model: nn.Module, data: object, batch_size: int = 256) -> torch.Tensor:
    """``[Q, K]`` counts of the codes ``model.encode`` chooses over ``data`` (model's device).

    No state changes: ``encode`` never updates a codebook. No host synchronisation until the
    caller reads the counts.
    """
    quantizer = _quantizer_of(model)
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    total: torch.Tensor | None = None
    for x in _batches(data, batch_size):
        indices = model.encode(x.to(device)).indices  # type: ignore[operator]
        counts = quantizer.count_codes(indices)
        total = counts if total is None else total + counts
    if total is None:
        raise ValueError("data holds no examples")
    return total


def code_usage(model: nn.Module, data: object, batch_size: int = 256) -> CodeUsage:
    """Epoch-level code usage of a quantized model (e.g. a VQ-VAE) over ``data``.

    Parameters
    ----------
    model : nn.Module
        A model with a ``quantizer`` (:class:`~pyautoencoder.quantized.Quantizer`) whose
        ``encode(x)`` returns ``indices`` (:class:`~pyautoencoder.quantized.VQVAE`).
    data : tensor, tuple or iterable
        Inputs ``[N, ...]`` (split into batches of ``batch_size``), a tuple whose first item
        they are, or an iterable of batches (tensors or tuples, ``x`` first).
    batch_size : int
        Examples per ``encode`` call for tensor data.

    Returns
    -------
    CodeUsage
        Counts, fraction of codes used, perplexity and entropy of the usage, dead codes.
    """
    return usage_from_counts(count_model_codes(model, data, batch_size))
