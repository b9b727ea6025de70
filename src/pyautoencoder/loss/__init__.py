"""Objectives: log-likelihoods, divergences, bounds and the ``LossResult`` every model returns.

Besides the 2.x names, the pieces the variational family assembles its objectives from:
the importance-weighted bound (:func:`iwae_bound`, DReG: :func:`dreg_surrogate`), the
maximum mean discrepancy (:func:`mmd_unbiased` with :class:`RBFKernel` or
:class:`InverseMultiquadricKernel`), the beta-TCVAE decomposition (:func:`tc_decomposition`)
the DIP-VAE regulariser (:func:`dip_covariance`, :func:`dip_penalty`) and the adversarial
losses on discriminator logits with FactorVAE's density-ratio TC estimate
(:func:`logistic_discriminator_loss`, :func:`non_saturating_generator_loss`,
:func:`permute_dims`, :func:`density_ratio_tc`; VQGAN's hinge losses and
:func:`adaptive_adversarial_weight`).

Image reconstruction losses: multi-scale SSIM (:func:`ms_ssim`, :class:`MSSSIM`), log-cosh
(:func:`log_cosh`, :class:`LogCosh`) and a perceptual distance over a feature network the user
supplies (:class:`Perceptual`, :func:`normalized_feature_distance`).
"""

from ..distributions._likelihood import LikelihoodType
from ._adversarial import (
    adaptive_adversarial_weight,
    density_ratio_tc,
    hinge_discriminator_loss,
    hinge_generator_loss,
    logistic_discriminator_loss,
    non_saturating_generator_loss,
    permute_dims,
)
from ._dip import dip_covariance, dip_penalty
from ._iwae_bound import dreg_surrogate, effective_sample_size, importance_log_weights, iwae_bound
from ._kl import kl_divergence_diag_gaussian
from ._log_cosh import LogCosh, log_cosh
from ._log_likelihood import log_likelihood
from ._mmd import InverseMultiquadricKernel, Kernel, RBFKernel, get_kernel, mmd_unbiased
from ._ms_ssim import MS_SSIM_WEIGHTS, MSSSIM, minimum_image_size, ms_ssim
from ._perceptual import Perceptual, normalized_feature_distance
from ._result import LossResult
from ._tc import TCDecomposition, log_importance_weights, tc_decomposition

__all__ = [
    "InverseMultiquadricKernel",
    "Kernel",
    "LikelihoodType",
    "LogCosh",
    "LossResult",
    "MSSSIM",
    "MS_SSIM_WEIGHTS",
    "Perceptual",
    "RBFKernel",
    "TCDecomposition",
    "adaptive_adversarial_weight",
    "density_ratio_tc",
    "dip_covariance",
    "dip_penalty",
    "dreg_surrogate",
    "effective_sample_size",
    "get_kernel",
    "hinge_discriminator_loss",
    "hinge_generator_loss",
    "importance_log_weights",
    "iwae_bound",
    "kl_divergence_diag_gaussian",
    "log_importance_weights",
    "log_cosh",
    "log_likelihood",
    "logistic_discriminator_loss",
    "minimum_image_size",
    "mmd_unbiased",
    "ms_ssim",
    "non_saturating_generator_loss",
    "normalized_feature_distance",
    "permute_dims",
    "tc_decomposition",
]
