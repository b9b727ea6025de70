"""VQGAN: adaptive adversarial weight, discriminator start step, hinge critic."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from pyautoencoder.quantized import VQGAN


def _model(start: int = 0, adaptive: bool = True) -> VQGAN:
    torch.manual_seed(0)
    model = VQGAN(
        nn.Linear(6, 3),
        nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.Linear(5, 6)),
        num_codes=4,
        code_dim=3,
        ema=False,
        adversarial_weight=0.5,
        adaptive_weight=adaptive,
        discriminator_hidden=(5,),
        discriminator_start_step=start,
    )
    model.build(torch.zeros(2, 6))
    return model


def test_adaptive_weight_equals_the_ratio_of_gradient_norms_at_the_last_decoder_layer() -> None:
    model = _model()
    x = torch.randn(8, 6)
    torch.manual_seed(1)
    result = model.autoencoder_loss(x)
    # direct: the two losses of the same forward pass, one backward each
    torch.manual_seed(1)
    reference = _model()
    output = reference(x)
    nll = 0.5 * ((x - output.x_hat) ** 2).sum(1).mean()  # the "gaussian" likelihood
    generator = -reference.discriminator(output.x_hat)[0].mean()  # hinge generator loss
    last = reference.decoder[2].weight
    (rec_grad,) = torch.autograd.grad(nll, last, retain_graph=True)
    (gan_grad,) = torch.autograd.grad(generator, last, retain_graph=True)
    expected = rec_grad.norm() / (gan_grad.norm() + 1e-4)
    torch.testing.assert_close(result.diagnostics["adaptive_weight"], expected)
    vq = output.quantization.loss
    torch.testing.assert_close(result.objective, nll + vq + 0.5 * expected * generator)


def test_no_adversarial_term_before_the_discriminator_start_step() -> None:
    model = _model(start=2, adaptive=False)
    x = torch.randn(8, 6)
    objectives = []
    for _ in range(3):
        result = model.autoencoder_loss(x)
        output = model(x)
        nll = -result.diagnostics["log_likelihood"]
        objectives.append((result.objective.detach(), nll + output.quantization.loss.detach()))
    torch.testing.assert_close(objectives[0][0], objectives[0][1])
    torch.testing.assert_close(objectives[1][0], objectives[1][1])
    assert not torch.allclose(objectives[2][0], objectives[2][1])  # step 2: term switched on
    assert int(model.adversarial_steps) == 3
    assert model.training_steps()[1].start_step == 2


def test_hinge_discriminator_loss_on_inputs_and_reconstructions() -> None:
    model = _model()
    x = torch.randn(8, 6)
    result = model.discriminator_loss(x)
    with torch.no_grad():
        x_hat = model(x, update_codebook=False).x_hat
    real, fake = model.discriminator(x)[0], model.discriminator(x_hat)[0]
    expected = 0.5 * (F.relu(1 - real).mean() + F.relu(1 + fake).mean())
    torch.testing.assert_close(result.objective, expected)


def test_unknown_gan_loss_is_refused() -> None:
    with pytest.raises(ValueError, match="gan_loss must be one of"):
        VQGAN(nn.Linear(6, 3), nn.Linear(3, 6), 4, 3, gan_loss="wasserstein")  # type: ignore[arg-type]


def test_a_critic_returning_one_map_scores_every_entry_as_a_logit() -> None:
    """A patch critic (one [B, 1, H', W'] tensor) is not indexed: [0] would be one image."""
    model = _model()
    patch_critic = nn.Sequential(nn.Linear(6, 4), nn.Unflatten(1, (1, 2, 2)))
    model.discriminator = patch_critic
    x = torch.randn(8, 6)
    result = model.discriminator_loss(x)
    with torch.no_grad():
        x_hat = model(x, update_codebook=False).x_hat
    real, fake = patch_critic(x), patch_critic(x_hat)  # [8, 1, 2, 2]
    expected = 0.5 * (F.relu(1 - real).mean() + F.relu(1 + fake).mean())
    torch.testing.assert_close(result.objective, expected)
