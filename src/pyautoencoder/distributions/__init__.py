"""Likelihoods, posteriors and priors in the style of ``torch.distributions``."""

from ._likelihood import (
    BernoulliLikelihood,
    Likelihood,
    LikelihoodType,
    UnitGaussianLikelihood,
    available_likelihoods,
    get_likelihood,
    register_likelihood,
)

__all__ = [
    "BernoulliLikelihood",
    "Likelihood",
    "LikelihoodType",
    "UnitGaussianLikelihood",
    "available_likelihoods",
    "get_likelihood",
    "register_likelihood",
]
