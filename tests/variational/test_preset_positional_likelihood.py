"""2.x presets took ``compute_loss(x, output, likelihood)``; the third argument is ``beta`` now.

A likelihood given in that place is still read as the likelihood (with a
``DeprecationWarning``), so 2.x code calling it positionally keeps its numbers.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from pyautoencoder.distributions import BernoulliLikelihood, LikelihoodType
from pyautoencoder.variational import IWAE, VAE, WAE, BetaTCVAE, InfoVAE

PRESETS = {"iwae": IWAE, "beta_tcvae": BetaTCVAE, "info_vae": InfoVAE, "wae": WAE}


def _model(cls: type[VAE]) -> VAE:
    torch.manual_seed(0)
    model = cls(nn.Sequential(nn.Linear(5, 8), nn.Tanh()), nn.Linear(3, 5), 3)
    model.build(torch.zeros(1, 5))
    return model


@pytest.mark.parametrize("name", sorted(PRESETS))
@pytest.mark.parametrize(
    "likelihood",
    ["bernoulli", LikelihoodType.BERNOULLI, BernoulliLikelihood()],
    ids=["str", "enum", "object"],
)
def test_a_positional_likelihood_is_still_the_likelihood(name: str, likelihood: object) -> None:
    model = _model(PRESETS[name])
    x = (torch.linspace(0, 1, 20).reshape(4, 5) > 0.5).float()
    torch.manual_seed(1)
    output = model(x)
    torch.manual_seed(2)  # InfoVAE and WAE draw from the prior
    expected = model.compute_loss(x, output, likelihood=likelihood).objective  # type: ignore[arg-type]
    torch.manual_seed(2)
    with pytest.warns(DeprecationWarning, match="the third argument is beta now"):
        got = model.compute_loss(x, output, likelihood).objective  # type: ignore[arg-type]
    torch.testing.assert_close(got, expected, rtol=0, atol=0)
    with pytest.raises(TypeError, match="both as its third argument"):
        model.compute_loss(x, output, likelihood, likelihood=likelihood)  # type: ignore[arg-type]


def test_the_vae_keeps_the_contract_beta_in_third_place() -> None:
    model = _model(VAE)
    x = torch.rand(4, 5)
    with pytest.raises(TypeError, match="beta must be a real number"):
        model.compute_loss(x, model(x), "bernoulli")  # type: ignore[arg-type]
