"""Likelihoods, posteriors and priors in the style of ``torch.distributions``.

* Likelihoods ``p(x | x_hat)``: :class:`Likelihood` objects registered by name
  (``"gaussian"``, ``"bernoulli"``, ``"normal"``, ``"laplace"``, ``"continuous_bernoulli"``,
  ``"categorical"``); add your own with :func:`register_likelihood`.
* Priors ``p(z)``: :class:`Prior` modules returning ``torch.distributions`` objects
  (``"standard_normal"``, ``"diagonal_gaussian"``, ``"mixture_of_gaussians"``, ``"vamp"``);
  add your own with :func:`register_prior`.
* Posteriors ``q(z | x)``: :class:`Posterior` modules (``"diagonal"``, ``"full"``, and the
  flows ``"planar:K"``, ``"radial:K"``, ``"iaf:K"``); add your own with
  :func:`register_posterior`.
* ``KL(q(z | x) || p(z))``: closed forms registered per (posterior, prior) pair with
  :func:`register_kl`, Monte Carlo otherwise (:func:`posterior_kl_per_dim`).
"""

from ._flows import (
    FlowDistribution,
    FlowPosterior,
    FlowStep,
    IAFStep,
    InverseAutoregressiveFlow,
    PlanarFlow,
    PlanarStep,
    RadialFlow,
    RadialStep,
)
from ._kl import (
    analytic_kl_per_dim,
    diagonal_gaussian_log_density,
    has_closed_form_kl,
    monte_carlo_kl,
    posterior_kl,
    posterior_kl_per_dim,
    posterior_log_prob,
    register_kl,
)
from ._likelihood import (
    BernoulliLikelihood,
    Likelihood,
    LikelihoodType,
    UnitGaussianLikelihood,
    available_likelihoods,
    get_likelihood,
    register_likelihood,
)
from ._likelihoods import (
    CategoricalLikelihood,
    ContinuousBernoulliLikelihood,
    GaussianLikelihood,
    LaplaceLikelihood,
    continuous_bernoulli_log_normalizer,
)
from ._penalized import PenalizedLikelihood, ReconstructionDistance
from ._posteriors import (
    DiagonalGaussianPosterior,
    FullCovarianceGaussianPosterior,
    Posterior,
    PosteriorSample,
    available_posteriors,
    get_posterior,
    register_posterior,
)
from ._priors import (
    DiagonalGaussianPrior,
    MixtureOfGaussiansPrior,
    Prior,
    StandardNormalPrior,
    VampPrior,
    available_priors,
    get_prior,
    register_prior,
)

__all__ = [
    "BernoulliLikelihood",
    "DiagonalGaussianPosterior",
    "FlowDistribution",
    "FlowPosterior",
    "FlowStep",
    "FullCovarianceGaussianPosterior",
    "IAFStep",
    "PenalizedLikelihood",
    "ReconstructionDistance",
    "InverseAutoregressiveFlow",
    "PlanarFlow",
    "PlanarStep",
    "Posterior",
    "PosteriorSample",
    "RadialFlow",
    "RadialStep",
    "available_posteriors",
    "get_posterior",
    "posterior_kl_per_dim",
    "register_posterior",
    "CategoricalLikelihood",
    "ContinuousBernoulliLikelihood",
    "DiagonalGaussianPrior",
    "GaussianLikelihood",
    "LaplaceLikelihood",
    "Likelihood",
    "LikelihoodType",
    "MixtureOfGaussiansPrior",
    "Prior",
    "StandardNormalPrior",
    "UnitGaussianLikelihood",
    "VampPrior",
    "analytic_kl_per_dim",
    "available_likelihoods",
    "available_priors",
    "continuous_bernoulli_log_normalizer",
    "diagonal_gaussian_log_density",
    "get_likelihood",
    "get_prior",
    "has_closed_form_kl",
    "monte_carlo_kl",
    "posterior_kl",
    "posterior_log_prob",
    "register_kl",
    "register_likelihood",
    "register_prior",
]
