"""Every regularised deterministic model takes every likelihood of the library."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest
import torch
from torch import nn

from pyautoencoder.distributions import available_likelihoods, get_likelihood
from pyautoencoder.vanilla import RAE, ContractiveAE, DenoisingAE, SparseAE
from pyautoencoder.vanilla._regularized import LikelihoodAE

pytestmark = pytest.mark.filterwarnings(
    "ignore:`torch.jit.script` is deprecated:DeprecationWarning"
)

FEATURES = 5
LATENT = 2

FACTORIES: dict[str, Callable[[nn.Module, nn.Module, str], LikelihoodAE]] = {
    "denoising_ae": lambda e, d, lik: DenoisingAE(e, d, likelihood=lik),
    "sparse_ae": lambda e, d, lik: SparseAE(e, d, l1_weight=0.1, likelihood=lik),
    "contractive_ae": lambda e, d, lik: ContractiveAE(e, d, likelihood=lik),
    "rae": lambda e, d, lik: RAE(e, d, LATENT, likelihood=lik),
}


def _data(name: str) -> torch.Tensor:
    generator = torch.Generator().manual_seed(1)
    if name in ("bernoulli", "continuous_bernoulli"):
        return torch.rand(6, FEATURES, generator=generator, dtype=torch.float64)
    if name == "categorical":
        return torch.randint(0, 256, (6, FEATURES), generator=generator).double()
    return torch.randn(6, FEATURES, generator=generator, dtype=torch.float64)


@pytest.mark.parametrize("likelihood", available_likelihoods())
@pytest.mark.parametrize("model_name", sorted(FACTORIES))
def test_reconstruction_term_is_the_likelihoods_log_prob(model_name: str, likelihood: str) -> None:
    torch.manual_seed(0)
    x = _data(likelihood)
    out_shape = get_likelihood(likelihood).x_hat_shape(x.shape)[1:]
    encoder = nn.Sequential(nn.Linear(FEATURES, 8), nn.Tanh(), nn.Linear(8, LATENT))
    decoder = nn.Sequential(nn.Linear(LATENT, math.prod(out_shape)), nn.Unflatten(1, out_shape))
    model = FACTORIES[model_name](encoder, decoder, likelihood).double()
    model.eval()  # no corruption: the reconstruction is decoder(encoder(x))
    out = model(x)
    result = model.compute_loss(x, out)
    expected = (
        get_likelihood(likelihood)
        .log_prob(x, decoder(encoder(x)))
        .reshape(x.shape[0], -1)
        .sum(dim=1)
        .mean()
    )
    torch.testing.assert_close(result.diagnostics["log_likelihood"], expected.detach())
    result.objective.backward()
    assert all(p.grad is not None for p in model.parameters())
