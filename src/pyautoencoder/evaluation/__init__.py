"""Evaluation: log-likelihood estimates, latent statistics and disentanglement metrics.

Likelihood-based estimators (torch only) take a model with a posterior (the VAE family):
:func:`log_likelihood_estimate`, :func:`elbo`, :func:`reconstruction_error`,
:func:`active_units`, :func:`kl_per_dimension`.

Disentanglement metrics need scikit-learn and numpy (``pip install "pyautoencoder[eval]"``),
imported when a metric runs.
"""

from ._latent_stats import active_units, kl_per_dimension, reconstruction_error
from ._log_likelihood import elbo, log_likelihood_estimate
from ._results import ActiveUnits, ELBOEstimate, LogLikelihoodEstimate, PerExampleEstimate

__all__ = [
    "ActiveUnits",
    "ELBOEstimate",
    "LogLikelihoodEstimate",
    "PerExampleEstimate",
    "active_units",
    "elbo",
    "kl_per_dimension",
    "log_likelihood_estimate",
    "reconstruction_error",
]
