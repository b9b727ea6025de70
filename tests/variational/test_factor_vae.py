"""FactorVAE: the objective with the density-ratio TC term, the discriminator step."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from pyautoencoder.variational import VAE, FactorVAE


def _pair(seed: int = 0) -> tuple[FactorVAE, VAE]:
    """A FactorVAE and a VAE with the same encoder/decoder weights."""
    torch.manual_seed(seed)
    encoder = nn.Sequential(nn.Linear(6, 8), nn.Tanh())
    decoder = nn.Linear(2, 6)
    model = FactorVAE(encoder, decoder, 2, tc_weight=3.0, discriminator_hidden=(5,))
    model(torch.zeros(1, 6))  # materialise the lazy sampling layer
    vae = VAE(encoder, decoder, 2)
    vae.sampling_layer = model.sampling_layer
    return model, vae


def test_objective_is_the_vae_objective_plus_gamma_times_the_mean_logit() -> None:
    model, vae = _pair()
    x = torch.randn(4, 6)
    torch.manual_seed(1)
    output = model(x)
    result = model.compute_loss(x, output, beta=2.0)
    reference = vae.compute_loss(x, output, beta=2.0).objective
    logits = model.discriminator(output.z[:, 0])  # [B]
    torch.testing.assert_close(result.objective, reference + 3.0 * logits.mean())
    torch.testing.assert_close(result.diagnostics["tc_estimate"], logits.mean().detach())


def test_discriminator_loss_is_the_logistic_loss_on_codes_and_permuted_codes() -> None:
    model, _ = _pair()
    x = torch.randn(8, 6)
    torch.manual_seed(3)
    result = model.discriminator_loss(x)
    torch.manual_seed(3)
    with torch.no_grad():
        codes = model._encode(x, S=1, sample=True).z[:, 0]
    order = torch.argsort(torch.rand(codes.shape), dim=0)
    permuted = torch.gather(codes, 0, order)
    real, fake = model.discriminator(codes), model.discriminator(permuted)
    expected = 0.5 * (
        F.binary_cross_entropy_with_logits(real, torch.ones(8))
        + F.binary_cross_entropy_with_logits(fake, torch.zeros(8))
    )
    torch.testing.assert_close(result.objective, expected)
    result.objective.backward()
    assert all(p.grad is None for p in model.encoder.parameters())
    assert all(p.grad is not None for p in model.discriminator.parameters())


def test_training_steps_split_the_parameters_between_the_two_optimizers() -> None:
    model, _ = _pair()
    vae_step, critic_step = model.training_steps()
    assert (vae_step.name, critic_step.name) == ("vae", "discriminator")
    critic = {id(p) for p in model.discriminator.parameters()}
    assert {id(p) for p in critic_step.parameters} == critic
    assert {id(p) for p in vae_step.parameters} == {
        id(p) for p in model.parameters() if id(p) not in critic
    }
    assert vae_step.uses_loss_kwargs and not critic_step.uses_loss_kwargs


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="tc_weight"):
        FactorVAE(nn.Linear(6, 8), nn.Linear(2, 6), 2, tc_weight=-1.0)
    with pytest.raises(ValueError, match="hidden"):
        FactorVAE(nn.Linear(6, 8), nn.Linear(2, 6), 2, discriminator_hidden=())
    with pytest.raises(ValueError, match="start_step"):
        FactorVAE(nn.Linear(6, 8), nn.Linear(2, 6), 2, discriminator_start_step=-1)
