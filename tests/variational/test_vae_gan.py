"""VAE-GAN: the three updates of Larsen et al. (2016), Algorithm 1."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from pyautoencoder.variational import VAEGAN


def _model(seed: int = 0) -> VAEGAN:
    torch.manual_seed(seed)
    model = VAEGAN(
        nn.Sequential(nn.Linear(6, 8), nn.Tanh()),
        nn.Linear(2, 6),
        2,
        similarity_weight=0.3,
        discriminator_hidden=(5, 4),
    )
    model.build(torch.zeros(3, 6))
    return model


def _features(model: VAEGAN, x: torch.Tensor) -> torch.Tensor:
    h = F.leaky_relu(model.discriminator.features[1](x), 0.2)
    return F.leaky_relu(model.discriminator.features[3](h), 0.2)


def test_feature_distance_is_half_the_squared_distance_of_last_hidden_features() -> None:
    model = _model()
    x, x_tilde = torch.randn(4, 6), torch.randn(4, 6)
    expected = 0.5 * ((_features(model, x) - _features(model, x_tilde)) ** 2).sum(1).mean()
    torch.testing.assert_close(model.feature_distance(x, x_tilde), expected)


def test_compute_loss_is_beta_kl_plus_feature_distance_plus_generator_loss() -> None:
    model = _model()
    x = torch.randn(4, 6)
    output = model(x)
    result = model.compute_loss(x, output, beta=2.0)
    mu, log_var = output.mu, output.log_var
    kl = 0.5 * (mu**2 + log_var.exp() - 1 - log_var).sum(1).mean()  # closed form vs N(0, I)
    x_tilde = output.x_hat[:, 0]
    logits = model.discriminator.head(_features(model, x_tilde)).squeeze(-1)
    expected = 2.0 * kl + model.feature_distance(x, x_tilde) + F.softplus(-logits).mean()
    torch.testing.assert_close(result.objective, expected)


def test_each_update_sends_gradients_where_algorithm_1_says() -> None:
    model = _model()
    x = torch.randn(4, 6)
    encoder_step, decoder_step, critic_step = model.training_steps()
    assert [s.name for s in (encoder_step, decoder_step, critic_step)] == [
        "encoder",
        "decoder",
        "discriminator",
    ]
    groups = [{id(p) for p in step.parameters} for step in model.training_steps()]
    assert set.union(*groups) == {id(p) for p in model.parameters()}
    assert sum(len(g) for g in groups) == len(list(model.parameters()))  # disjoint
    model.zero_grad()
    decoder_step.loss(x).objective.backward()
    assert all(p.grad is None for p in model.encoder.parameters())  # codes drawn without grad
    model.zero_grad()
    critic_step.loss(x).objective.backward()
    assert all(p.grad is None for p in model.decoder.parameters())
    assert all(p.grad is not None for p in model.discriminator.parameters())


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="similarity_weight"):
        VAEGAN(nn.Linear(6, 8), nn.Linear(2, 6), 2, similarity_weight=-1.0)
    with pytest.raises(ValueError, match="discriminator_hidden"):
        VAEGAN(nn.Linear(6, 8), nn.Linear(2, 6), 2, discriminator_hidden=())
