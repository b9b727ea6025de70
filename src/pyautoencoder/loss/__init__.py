"""Objectives: log-likelihoods, divergences and the ``LossResult`` every model returns."""

from ..distributions._likelihood import LikelihoodType
from ._kl import kl_divergence_diag_gaussian
from ._log_likelihood import log_likelihood
from ._result import LossResult

__all__ = ["LikelihoodType", "LossResult", "kl_divergence_diag_gaussian", "log_likelihood"]
