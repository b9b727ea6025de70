"""Variational autoencoders.

The sampling layer ``FullyFactorizedGaussian`` is importable only from
:mod:`pyautoencoder.variational.stochastic_layers`.
"""

from ._adagvae import AdaGVAE
from ._beta_tcvae import BetaTCVAE
from ._conditioning import ConcatConditioning, Conditioning
from ._cvae import CVAE
from ._dip_vae import DIPVAE
from ._factor_vae import FactorVAE
from ._hierarchical import HierarchicalVAE
from ._info_vae import WAE, InfoVAE
from ._iwae import IWAE
from ._ladder import LadderVAE
from ._outputs import (
    AdaGVAEOutput,
    PosteriorEncodeOutput,
    PosteriorOutput,
    VAEDecodeOutput,
    VAEEncodeOutput,
    VAEOutput,
)
from ._top_down import HierarchicalEncodeOutput, HierarchicalOutput
from ._vae import VAE
from ._vae_gan import VAEGAN

__all__ = [
    "CVAE",
    "DIPVAE",
    "FactorVAE",
    "IWAE",
    "VAE",
    "VAEGAN",
    "WAE",
    "AdaGVAE",
    "AdaGVAEOutput",
    "PosteriorEncodeOutput",
    "PosteriorOutput",
    "BetaTCVAE",
    "ConcatConditioning",
    "HierarchicalEncodeOutput",
    "HierarchicalOutput",
    "HierarchicalVAE",
    "LadderVAE",
    "Conditioning",
    "InfoVAE",
    "VAEDecodeOutput",
    "VAEEncodeOutput",
    "VAEOutput",
]
