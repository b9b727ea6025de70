"""Sparse dictionary learning: sparse autoencoders for interpretability, on any activations.

Every model learns a dictionary ``W_dec [D, M]`` of unit-norm columns (features) and a sparse
code ``z [B, M]`` of each input ``x [B, D]``, ``x_hat = W_dec z + b_dec``:

* :class:`TopKSAE`: the ``k`` largest pre-activations per example (Makhzani & Frey 2013;
  Gao et al. 2024), with the AuxK loss for dead latents.
* :class:`BatchTopKSAE`: the ``k B`` largest per batch, a learned threshold at inference
  (Bussmann et al. 2024).
* :class:`JumpReLUSAE`: per-latent thresholds trained on an L0 penalty with
  straight-through estimators (Rajamanoharan et al. 2024b).
* :class:`GatedSAE`: a gate that selects latents and a magnitude path
  (Rajamanoharan et al. 2024a).

Call :meth:`SparseDictionary.after_optimizer_step` after each optimizer step to keep the
columns at unit norm (:func:`pyautoencoder.training.fit` does).
"""

from ._auxk import DeadLatentTracker, auxk_error, auxk_loss, auxk_reconstruction
from ._batch_topk import BatchTopKSAE, batch_topk_activation
from ._dictionary import RemoveParallelGradient, SparseDictionary
from ._gated import GatedSAE
from ._jumprelu import JumpReLUFunction, JumpReLUSAE, StepFunction, rectangle_kernel
from ._outputs import (
    DictionaryDecodeOutput,
    DictionaryEncodeOutput,
    DictionaryOutput,
    GatedOutput,
    TopKOutput,
)
from ._topk import TopKSAE, topk_activation

__all__ = [
    "BatchTopKSAE",
    "DeadLatentTracker",
    "DictionaryDecodeOutput",
    "DictionaryEncodeOutput",
    "DictionaryOutput",
    "GatedOutput",
    "GatedSAE",
    "JumpReLUFunction",
    "JumpReLUSAE",
    "RemoveParallelGradient",
    "SparseDictionary",
    "StepFunction",
    "TopKOutput",
    "TopKSAE",
    "auxk_error",
    "auxk_loss",
    "auxk_reconstruction",
    "batch_topk_activation",
    "rectangle_kernel",
    "topk_activation",
]
