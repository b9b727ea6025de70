"""Samplers fitted to a trained model's codes, for better samples than the prior gives.

``sampler.fit(model, data)`` fits a density to the codes of ``data`` (posterior means, or the
codes of a deterministic model); ``sampler.sample(n)`` decodes ``n`` draws with the model;
``sampler.save(folder)`` / :func:`load_sampler` keep it next to the model (safetensors + JSON).

* :class:`NormalSampler`: a full-covariance Gaussian (or ``N(0, I)``);
* :class:`GaussianMixtureSampler`: a Gaussian mixture fitted by EM (Ghosh et al. 2020);
* :class:`FlowSampler`: a masked autoregressive flow (Papamakarios et al. 2017);
* :class:`TwoStageSampler`: a second VAE on the codes (Dai & Wipf 2019);
* :class:`VampSampler`: a VampPrior model's own prior (Tomczak & Welling 2018).
"""

from ._base import (
    LatentSampler,
    SamplerError,
    available_samplers,
    get_sampler,
    load_sampler,
    register_sampler,
)
from ._codes import latent_codes
from ._gmm import GaussianMixtureSampler
from ._maf import MADE, FlowSampler, MaskedAutoregressiveFlow
from ._normal import NormalSampler
from ._two_stage import TwoStageSampler
from ._vamp import VampSampler

__all__ = [
    "MADE",
    "FlowSampler",
    "GaussianMixtureSampler",
    "LatentSampler",
    "MaskedAutoregressiveFlow",
    "NormalSampler",
    "SamplerError",
    "TwoStageSampler",
    "VampSampler",
    "available_samplers",
    "get_sampler",
    "latent_codes",
    "load_sampler",
    "register_sampler",
]
