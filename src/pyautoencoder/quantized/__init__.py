"""Quantised autoencoders: quantizers (vector, scalar, lookup-free, residual, grouped, Gumbel)
and VQ-VAE.

Every quantizer follows one protocol (:class:`Quantizer`): ``forward(z) ->``
:class:`QuantizerOutput` (``z_q`` with straight-through gradients, ``indices``, a weighted
``loss``, ``diagnostics``) and ``codes_from_indices``. :class:`VectorQuantizer` is the VQ-VAE
layer (EMA codebook, dead-code resets, k-means initialisation, rotation trick, ...);
:class:`FSQ`, :class:`LFQ` (and BSQ), :class:`GumbelQuantizer` are codebook-free or sampled
alternatives; :class:`ResidualQuantizer` and :class:`GroupedQuantizer` compose any of them.
:class:`VQVAE` wraps an encoder, a quantizer and a decoder as a
:class:`~pyautoencoder._base.BaseAutoencoder`; a :class:`CodePrior` fitted to its indices
(:func:`train_code_prior`) lets it generate (``VQVAE.sample``). :class:`VQGAN` trains the
same model with VQGAN's adversarial objective (two optimizers).
"""

from ._composite import GroupedQuantizer, ResidualQuantizer
from ._fsq import FSQ
from ._gumbel import GumbelQuantizer
from ._lfq import LFQ
from ._prior import CodePrior, CodePriorOutput, model_indices, train_code_prior
from ._protocol import Quantizer, QuantizerOutput
from ._specs import available_quantizers, quantizer_from_spec
from ._vector_quantizer import VectorQuantizer, VectorQuantizerOutput
from ._vqgan import VQGAN
from ._vqvae import VQVAE, VQVAEDecodeOutput, VQVAEEncodeOutput, VQVAEOutput

__all__ = [
    "FSQ",
    "CodePrior",
    "CodePriorOutput",
    "LFQ",
    "VQGAN",
    "VQVAE",
    "GroupedQuantizer",
    "GumbelQuantizer",
    "Quantizer",
    "QuantizerOutput",
    "ResidualQuantizer",
    "VQVAEDecodeOutput",
    "VQVAEEncodeOutput",
    "VQVAEOutput",
    "VectorQuantizer",
    "VectorQuantizerOutput",
    "available_quantizers",
    "model_indices",
    "quantizer_from_spec",
    "train_code_prior",
]
