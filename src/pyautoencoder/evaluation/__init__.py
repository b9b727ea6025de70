"""Evaluation: log-likelihood estimates, latent statistics and disentanglement metrics.

Likelihood-based estimators (torch only) take a model with a posterior (the VAE family):
:func:`log_likelihood_estimate`, :func:`elbo`, :func:`reconstruction_error`,
:func:`active_units`, :func:`kl_per_dimension`. :func:`code_usage` measures the codebook of a
quantized model over a data set.

Sparse-code metrics (:func:`sparse_code_metrics`, :func:`l0_norm`,
:func:`fraction_of_variance_unexplained`, :func:`feature_density`,
:func:`feature_density_histogram`, :func:`mean_max_cosine_similarity`) take a sparse
autoencoder's codes, or the model and data (torch only).

Disentanglement metrics take a representation (a function ``x -> codes`` or a model with a
posterior) and a ground-truth data source (:class:`GroundTruthData`), or precomputed codes
and factors (the ``*_from_*`` functions). They need numpy and scikit-learn
(``pip install "pyautoencoder[eval]"``), imported when a metric runs.
"""

from ._beta_vae_score import (
    BetaVAEScoreResult,
    beta_vae_examples,
    beta_vae_score,
    beta_vae_score_from_features,
)
from ._code_usage import CodeUsage, code_usage
from ._dci import DCIResult, dci, dci_from_codes, dci_from_importance
from ._factor_vae_score import (
    FactorVAEScoreResult,
    factor_vae_score,
    factor_vae_score_from_votes,
    factor_vae_votes,
)
from ._ground_truth import (
    GroundTruthData,
    RepresentationFunction,
    posterior_mean_representation,
    sample_codes_and_factors,
)
from ._information import discretize, mutual_information_matrix
from ._latent_stats import active_units, kl_per_dimension, reconstruction_error
from ._log_likelihood import elbo, log_likelihood_estimate
from ._mig import MIGResult, mig, mig_from_codes
from ._modularity import (
    ModularityExplicitnessResult,
    explicitness_from_codes,
    modularity_explicitness,
    modularity_from_codes,
    modularity_from_mutual_information,
)
from ._results import ActiveUnits, ELBOEstimate, LogLikelihoodEstimate, PerExampleEstimate
from ._sap import SAPResult, sap_from_codes, sap_score
from ._sparse_codes import (
    DensityHistogram,
    SparseCodeMetrics,
    feature_density,
    feature_density_histogram,
    fraction_of_variance_unexplained,
    l0_norm,
    mean_max_cosine_similarity,
    sparse_code_metrics,
)

__all__ = [
    "ActiveUnits",
    "BetaVAEScoreResult",
    "CodeUsage",
    "DCIResult",
    "DensityHistogram",
    "ELBOEstimate",
    "FactorVAEScoreResult",
    "GroundTruthData",
    "LogLikelihoodEstimate",
    "MIGResult",
    "ModularityExplicitnessResult",
    "PerExampleEstimate",
    "RepresentationFunction",
    "SAPResult",
    "SparseCodeMetrics",
    "active_units",
    "beta_vae_examples",
    "beta_vae_score",
    "beta_vae_score_from_features",
    "code_usage",
    "dci",
    "dci_from_codes",
    "dci_from_importance",
    "discretize",
    "elbo",
    "explicitness_from_codes",
    "factor_vae_score",
    "factor_vae_score_from_votes",
    "factor_vae_votes",
    "feature_density",
    "feature_density_histogram",
    "fraction_of_variance_unexplained",
    "kl_per_dimension",
    "l0_norm",
    "log_likelihood_estimate",
    "mean_max_cosine_similarity",
    "mig",
    "mig_from_codes",
    "modularity_explicitness",
    "modularity_from_codes",
    "modularity_from_mutual_information",
    "mutual_information_matrix",
    "posterior_mean_representation",
    "reconstruction_error",
    "sample_codes_and_factors",
    "sap_from_codes",
    "sap_score",
    "sparse_code_metrics",
]
