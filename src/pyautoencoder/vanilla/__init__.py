"""Deterministic autoencoders."""

from ._ae import AE
from ._outputs import AEDecodeOutput, AEEncodeOutput, AEOutput

__all__ = ["AE", "AEDecodeOutput", "AEEncodeOutput", "AEOutput"]
