"""AAE: reconstruction + non-saturating generator loss; the discriminator step on prior draws."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from pyautoencoder.vanilla import AAE


def _model(seed: int = 0, weight: float = 0.5) -> AAE:
    torch.manual_seed(seed)
    return AAE(nn.Linear(6, 2), nn.Linear(2, 6), 2, weight, discriminator_hidden=(5,))


def test_objective_is_the_gaussian_nll_plus_the_weighted_generator_loss() -> None:
    model = _model()
    x = torch.randn(4, 6)
    output = model(x)
    result = model.compute_loss(x, output)
    nll = 0.5 * ((x - output.x_hat) ** 2).sum(dim=1).mean()  # the "gaussian" likelihood
    logits = model.discriminator(output.z)
    generator = -F.logsigmoid(logits).mean()
    torch.testing.assert_close(result.objective, nll + 0.5 * generator)
    torch.testing.assert_close(result.diagnostics["generator_loss"], generator.detach())


def test_discriminator_loss_takes_prior_draws_as_real_and_codes_as_fake() -> None:
    model = _model()
    x = torch.randn(8, 6)
    torch.manual_seed(4)
    result = model.discriminator_loss(x)
    torch.manual_seed(4)
    draws = model.latent_prior.sample(8)
    real = model.discriminator(draws)
    fake = model.discriminator(model.encoder(x).detach())
    expected = 0.5 * (
        F.binary_cross_entropy_with_logits(real, torch.ones(8))
        + F.binary_cross_entropy_with_logits(fake, torch.zeros(8))
    )
    torch.testing.assert_close(result.objective, expected)
    result.objective.backward()
    assert all(p.grad is None for p in model.encoder.parameters())
    assert all(p.grad is not None for p in model.discriminator.parameters())


def test_training_steps_split_autoencoder_and_discriminator() -> None:
    model = _model()
    autoencoder, critic = model.training_steps()
    assert (autoencoder.name, critic.name) == ("autoencoder", "discriminator")
    expected = {id(p) for m in (model.encoder, model.decoder) for p in m.parameters()}
    assert {id(p) for p in autoencoder.parameters} == expected
    assert {id(p) for p in critic.parameters} == {id(p) for p in model.discriminator.parameters()}


def test_sample_decodes_prior_draws() -> None:
    model = _model()
    torch.manual_seed(2)
    samples = model.sample(5)
    torch.manual_seed(2)
    with torch.no_grad():
        expected = model.decoder(model.latent_prior.sample(5))
    torch.testing.assert_close(samples, expected)


def test_codes_of_the_wrong_shape_are_refused() -> None:
    model = AAE(nn.Linear(6, 3), nn.Linear(2, 6), 2, discriminator_hidden=(5,))
    x = torch.randn(4, 6)
    with pytest.raises(ValueError, match=r"codes of shape \[B, latent_dim\] = \[B, 2\]"):
        model.discriminator_loss(x)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"adversarial_weight": -1.0}, "adversarial_weight"),
        ({"discriminator_lr": 0.0}, "lr must be > 0"),
        ({"discriminator_start_step": -2}, "start_step"),
    ],
)
def test_bad_settings_are_refused(options: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        AAE(nn.Linear(6, 2), nn.Linear(2, 6), 2, **options)  # type: ignore[arg-type]
