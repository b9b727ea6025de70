"""Ready-made encoders and decoders built from a config, and :func:`create_model`.

A network's constructor arguments are its config (``net.config``, JSON-serialisable), and
:func:`create_model` turns a registered model name and a few sizes into a built model whose
creation arguments :func:`save_pretrained` writes next to its weights.

For images: :class:`ResNetEncoder` / :class:`ResNetDecoder` (residual stages with GroupNorm and
mid-block self-attention, spatial latents), the PatchGAN :class:`PatchDiscriminator`, and
:func:`tiled` to encode or decode large inputs tile by tile with blended seams.
"""

from .._base._discriminator import LatentDiscriminator
from ._common import ACTIVATIONS
from ._conv import ConvDecoder, ConvEncoder
from ._factory import create_model
from ._mlp import MLPDecoder, MLPEncoder
from ._patch_discriminator import PatchDiscriminator
from ._pretrained import from_pretrained, load_pretrained, save_pretrained
from ._resnet import ResidualBlock, ResNetDecoder, ResNetEncoder, SelfAttention2d
from ._tiling import tiled

__all__ = [
    "ACTIVATIONS",
    "ConvDecoder",
    "ConvEncoder",
    "LatentDiscriminator",
    "MLPDecoder",
    "MLPEncoder",
    "PatchDiscriminator",
    "ResNetDecoder",
    "ResNetEncoder",
    "ResidualBlock",
    "SelfAttention2d",
    "create_model",
    "from_pretrained",
    "load_pretrained",
    "save_pretrained",
    "tiled",
]
