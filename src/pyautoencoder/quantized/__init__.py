"""Quantised autoencoders: the vector-quantisation layer and VQ-VAE.

:class:`VectorQuantizer` is a layer of its own (nearest-code lookup, straight-through
gradients, codebook/commitment losses, EMA codebook, dead-code resets, cosine lookup);
:class:`VQVAE` wraps an encoder, a quantizer and a decoder as a
:class:`~pyautoencoder._base.BaseAutoencoder`.
"""

from ._vector_quantizer import VectorQuantizer, VectorQuantizerOutput
from ._vqvae import VQVAE, VQVAEDecodeOutput, VQVAEEncodeOutput, VQVAEOutput

__all__ = [
    "VQVAE",
    "VQVAEDecodeOutput",
    "VQVAEEncodeOutput",
    "VQVAEOutput",
    "VectorQuantizer",
    "VectorQuantizerOutput",
]
