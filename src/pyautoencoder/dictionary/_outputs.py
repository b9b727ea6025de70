"""Output dataclasses of the sparse dictionary models."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .._base import ModelOutput


@dataclass(slots=True, repr=False)
class DictionaryEncodeOutput(ModelOutput):
    """``z [B, M]`` (sparse codes) and ``pre_activations [B, M]`` (before the sparsity)."""

    z: torch.Tensor
    pre_activations: torch.Tensor


@dataclass(slots=True, repr=False)
class DictionaryDecodeOutput(ModelOutput):
    """``x_hat [B, D]``: the reconstruction of codes ``z``."""

    x_hat: torch.Tensor


@dataclass(slots=True, repr=False)
class DictionaryOutput(ModelOutput):
    """A forward pass: ``x_hat`` (shaped like ``x``), ``z [B, M]``, ``pre_activations [B, M]``."""

    x_hat: torch.Tensor
    z: torch.Tensor
    pre_activations: torch.Tensor


@dataclass(slots=True, repr=False)
class TopKOutput(ModelOutput):
    """A :class:`~pyautoencoder.dictionary.TopKSAE` / ``BatchTopKSAE`` pass.

    ``x_hat`` (shaped like ``x``), ``z [B, M]``, ``pre_activations [B, M]``,
    ``aux_x_hat [B, D]``: the dead latents' reconstruction of the AuxK loss
    (:func:`~pyautoencoder.dictionary.auxk_reconstruction`), ``None`` when ``aux_weight = 0``,
    and ``active_counts [M]``: on how many examples of the batch each latent is active.
    """

    x_hat: torch.Tensor
    z: torch.Tensor
    pre_activations: torch.Tensor
    aux_x_hat: torch.Tensor | None
    active_counts: torch.Tensor


@dataclass(slots=True, repr=False)
class GatedOutput(ModelOutput):
    """A :class:`~pyautoencoder.dictionary.GatedSAE` pass.

    ``x_hat`` (shaped like ``x``), ``z [B, M]``, ``pre_activations [B, M]`` (the gate's
    ``pi_gate``) and ``magnitudes [B, M]`` (``pi_mag``).
    """

    x_hat: torch.Tensor
    z: torch.Tensor
    pre_activations: torch.Tensor
    magnitudes: torch.Tensor
