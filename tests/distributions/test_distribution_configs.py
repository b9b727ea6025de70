"""Priors and likelihoods write their own config; get_prior / get_likelihood rebuild from it."""

from __future__ import annotations

import json

import pytest

from pyautoencoder.distributions import (
    GaussianLikelihood,
    MixtureOfGaussiansPrior,
    VampPrior,
    available_likelihoods,
    available_priors,
    get_likelihood,
    get_prior,
)


@pytest.mark.parametrize("name", available_priors())
def test_every_registered_prior_round_trips_through_its_config(name: str) -> None:
    prior = get_prior(name, 3)
    config = json.loads(json.dumps(prior.config()))
    rebuilt = get_prior(config, 3)
    assert type(rebuilt) is type(prior) and rebuilt.config() == prior.config()


@pytest.mark.parametrize("name", available_likelihoods())
def test_every_registered_likelihood_round_trips_through_its_config(name: str) -> None:
    likelihood = get_likelihood(name)
    config = json.loads(json.dumps(likelihood.config()))
    rebuilt = get_likelihood(config)
    assert type(rebuilt) is type(likelihood) and rebuilt.config() == likelihood.config()


def test_options_are_part_of_the_config() -> None:
    assert MixtureOfGaussiansPrior(2, num_components=7).config() == {
        "name": "mixture_of_gaussians",
        "num_components": 7,
    }
    vamp = VampPrior(2, num_pseudo_inputs=5, input_shape=(4,)).config()
    assert vamp["num_pseudo_inputs"] == 5 and vamp["input_shape"] == [4]
    gaussian = GaussianLikelihood("learned", init_scale=2.0).config()
    assert gaussian["scale"] == "learned" and gaussian["init_scale"] == 2.0
    assert type(get_likelihood(gaussian)) is GaussianLikelihood


def test_bad_configs_are_refused() -> None:
    with pytest.raises(ValueError, match="needs a 'name' string"):
        get_prior({"num_components": 3}, 2)
    with pytest.raises(ValueError, match="Unknown prior 'mixture'"):
        get_prior({"name": "mixture"}, 2)
    with pytest.raises(ValueError, match="needs a 'name' string"):
        get_likelihood({"scale": 1.0})
