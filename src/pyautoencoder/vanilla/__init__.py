"""Deterministic autoencoders: the plain AE and its regularised variants.

* :class:`AE`: reconstruction only.
* :class:`DenoisingAE`: reconstruct the clean input from a corrupted copy (Vincent et al. 2008).
* :class:`SparseAE`: L1 and KL-to-``rho`` sparsity penalties on the code (Ng 2011).
* :class:`ContractiveAE`: Frobenius norm of the encoder Jacobian (Rifai et al. 2011).
* :class:`RAE`: code and decoder regularisation with an ex-post density (Ghosh et al. 2020).
* :class:`AAE`: the aggregate posterior matched to a prior by a discriminator (Makhzani et al.
  2016), trained with two optimizers.
"""

from ._aae import AAE
from ._ae import AE
from ._contractive import ContractiveAE, ContractiveAEOutput
from ._denoising import (
    Corruption,
    DenoisingAE,
    DenoisingAEOutput,
    GaussianCorruption,
    MaskingCorruption,
    SaltAndPepperCorruption,
)
from ._outputs import AEDecodeOutput, AEEncodeOutput, AEOutput
from ._rae import RAE
from ._sparse import SparseAE

__all__ = [
    "AAE",
    "AE",
    "AEDecodeOutput",
    "AEEncodeOutput",
    "AEOutput",
    "ContractiveAE",
    "ContractiveAEOutput",
    "Corruption",
    "DenoisingAE",
    "DenoisingAEOutput",
    "GaussianCorruption",
    "MaskingCorruption",
    "RAE",
    "SaltAndPepperCorruption",
    "SparseAE",
]
