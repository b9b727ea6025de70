"""Variational autoencoders.

The sampling layer ``FullyFactorizedGaussian`` is importable only from
:mod:`pyautoencoder.variational.stochastic_layers`.
"""

from ._adagvae import AdaGVAE
from ._outputs import AdaGVAEOutput, VAEDecodeOutput, VAEEncodeOutput, VAEOutput
from ._vae import VAE

__all__ = ["AdaGVAE", "AdaGVAEOutput", "VAE", "VAEDecodeOutput", "VAEEncodeOutput", "VAEOutput"]
