"""PenalizedLikelihood: a likelihood minus a weighted image loss, on every kind of model."""

from __future__ import annotations

import pytest
import torch
from torch import distributions as D
from torch import nn

from pyautoencoder.distributions import PenalizedLikelihood
from pyautoencoder.loss import MSSSIM, LogCosh, Perceptual, ms_ssim
from pyautoencoder.quantized import VQGAN
from pyautoencoder.training import fit
from pyautoencoder.vanilla import AE
from pyautoencoder.variational import VAE

SSIM = {"weights": (0.5, 0.5), "window_size": 3}  # two scales: images >= 6 x 6


def _images(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def _features() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(2, 4, 3), nn.ReLU()).double()


def test_log_prob_sum_is_the_base_minus_the_weighted_distance_in_float64() -> None:
    x, x_hat = _images(3, 2, 2, 8, 8), _images(3, 2, 2, 8, 8, seed=1)  # [B, S, C, H, W]
    gaussian = -0.5 * (x - x_hat).square().sum(dim=(2, 3, 4))  # [B, S]
    log_cosh = torch.log(torch.cosh(x_hat - x)).sum(dim=(2, 3, 4))  # direct formula
    one_minus_ssim = 1 - ms_ssim(x_hat.reshape(6, 2, 8, 8), x.reshape(6, 2, 8, 8), **SSIM)
    cases = [(LogCosh(), log_cosh), (MSSSIM(**SSIM), one_minus_ssim.reshape(3, 2))]
    for loss, distance in cases:
        likelihood = PenalizedLikelihood("gaussian", loss, weight=7.5)
        torch.testing.assert_close(
            likelihood.log_prob_sum(x, x_hat, start_dim=2), gaussian - 7.5 * distance
        )
        torch.testing.assert_close(  # [B, ...] with start_dim=1: one value per example
            likelihood.log_prob_sum(x[:, 0], x_hat[:, 0], start_dim=1),
            gaussian[:, 0] - 7.5 * distance[:, 0],
        )


def test_bernoulli_logits_are_scored_as_probabilities() -> None:
    x, logits = _images(4, 2, 8, 8), torch.randn(4, 2, 8, 8, dtype=torch.float64)
    likelihood = PenalizedLikelihood("bernoulli", LogCosh(), weight=2.0)
    bernoulli = D.Bernoulli(logits=logits, validate_args=False).log_prob(x).sum(dim=(1, 2, 3))
    direct = torch.log(torch.cosh(torch.sigmoid(logits) - x)).sum(dim=(1, 2, 3))
    torch.testing.assert_close(likelihood.log_prob_sum(x, logits, 1), bernoulli - 2.0 * direct)


def _conv_vae(likelihood: object) -> VAE:
    torch.manual_seed(0)
    encoder = nn.Sequential(nn.Flatten(), nn.Linear(2 * 8 * 8, 16), nn.Tanh())
    decoder = nn.Sequential(nn.Linear(3, 2 * 8 * 8), nn.Unflatten(1, (2, 8, 8)))
    model = VAE(encoder, decoder, 3, likelihood=likelihood)  # type: ignore[arg-type]
    model.double().build(torch.zeros(2, 2, 8, 8, dtype=torch.float64))
    return model


def test_vae_trains_on_the_penalty_without_a_compute_loss_of_its_own() -> None:
    perceptual = Perceptual(_features())
    model = _conv_vae(PenalizedLikelihood("gaussian", perceptual, weight=30.0))
    x = _images(5, 2, 8, 8)
    torch.manual_seed(1)
    output = model(x, S=2)
    result = model.compute_loss(x, output)
    x_hat = output.x_hat  # [B, S, C, H, W]
    gaussian = -0.5 * (x.unsqueeze(1) - x_hat).square().sum(dim=(2, 3, 4))
    distance = perceptual.distance(x_hat.reshape(10, 2, 8, 8), x.repeat_interleave(2, dim=0))
    q = D.Independent(D.Normal(output.mu, torch.exp(0.5 * output.log_var)), 1)
    p = D.Independent(D.Normal(torch.zeros(3).double(), torch.ones(3).double()), 1)
    expected = D.kl_divergence(q, p).mean() - (gaussian - 30.0 * distance.reshape(5, 2)).mean()
    torch.testing.assert_close(result.objective, expected)
    # The feature network is the model's (saved, moved with it) and stays frozen.
    assert any(key.startswith("likelihood.loss.feature_net") for key in model.state_dict())
    result.objective.backward()
    assert all(p.grad is None for p in perceptual.parameters())
    assert model.decoder[0].weight.grad is not None


def test_vqgan_adds_the_weighted_distance_to_its_reconstruction_term() -> None:
    def vqgan(likelihood: object) -> VQGAN:
        torch.manual_seed(0)
        encoder = nn.Sequential(nn.Flatten(), nn.Linear(2 * 8 * 8, 4))
        decoder = nn.Sequential(nn.Linear(4, 2 * 8 * 8), nn.Unflatten(1, (2, 8, 8)))
        model = VQGAN(encoder, decoder, 8, 4, likelihood=likelihood, discriminator_hidden=(8,))
        model.double().build(torch.zeros(2, 2, 8, 8, dtype=torch.float64))
        return model

    x = _images(4, 2, 8, 8)
    ssim = MSSSIM(**SSIM)
    plain, penalized = vqgan("gaussian"), vqgan(PenalizedLikelihood("gaussian", ssim, 50.0))
    output = plain(x)
    difference = (
        penalized.compute_loss(x, output).objective - plain.compute_loss(x, output).objective
    )
    torch.testing.assert_close(difference, 50.0 * ssim.distance(output.x_hat, x).mean())


def test_a_deterministic_autoencoder_takes_it_through_loss_kwargs() -> None:
    torch.manual_seed(0)
    model = AE(
        nn.Sequential(nn.Flatten(), nn.Linear(2 * 8 * 8, 4)),
        nn.Sequential(nn.Linear(4, 2 * 8 * 8), nn.Unflatten(1, (2, 8, 8))),
    )
    likelihood = PenalizedLikelihood("gaussian", LogCosh(), weight=3.0)
    x = _images(6, 2, 8, 8).float()
    output = model(x)
    expected = (
        0.5 * (x - output.x_hat).square().sum(dim=(1, 2, 3))
        + 3.0 * torch.log(torch.cosh(output.x_hat - x)).sum(dim=(1, 2, 3))
    ).mean()
    torch.testing.assert_close(
        model.compute_loss(x, output, likelihood=likelihood).objective, expected
    )
    result = fit(
        model,
        x,
        epochs=2,
        batch_size=3,
        accelerator="cpu",
        progress=False,
        loss_kwargs={"likelihood": likelihood},
    )
    assert result.steps == 4 and torch.isfinite(torch.tensor(result.train_metrics["loss"]))


def test_bad_settings_are_refused() -> None:
    with pytest.raises(TypeError, match=r"distance\(x_hat, x\)"):
        PenalizedLikelihood("gaussian", nn.MSELoss())
    with pytest.raises(ValueError, match="weight"):
        PenalizedLikelihood("gaussian", LogCosh(), weight=-1.0)
    with pytest.raises(ValueError, match="shaped like x"):
        PenalizedLikelihood("categorical", LogCosh())
    with pytest.raises(TypeError, match="no elementwise"):
        PenalizedLikelihood("gaussian", LogCosh()).log_prob(torch.zeros(2), torch.zeros(2))


@pytest.mark.slow
def test_vae_loss_with_the_penalty_compiles_with_fullgraph() -> None:
    model = _conv_vae(PenalizedLikelihood("gaussian", MSSSIM(**SSIM), 10.0)).float()
    x = _images(4, 2, 8, 8).float()

    def step(x: torch.Tensor) -> torch.Tensor:
        return model.compute_loss(x, model(x)).objective

    compiled = torch.compile(step, fullgraph=True, backend="eager")
    torch.manual_seed(0)
    expected = step(x)
    torch.manual_seed(0)
    torch.testing.assert_close(compiled(x), expected)


def test_vae_gan_adds_the_penalized_reconstruction_to_encoder_and_decoder_updates() -> None:
    from pyautoencoder.variational import VAEGAN

    def vae_gan(likelihood: object) -> VAEGAN:
        torch.manual_seed(0)
        encoder = nn.Sequential(nn.Flatten(), nn.Linear(2 * 8 * 8, 8), nn.Tanh())
        decoder = nn.Sequential(nn.Linear(3, 2 * 8 * 8), nn.Unflatten(1, (2, 8, 8)))
        model = VAEGAN(encoder, decoder, 3, likelihood=likelihood, discriminator_hidden=(8,))
        model.double().build(torch.zeros(2, 2, 8, 8, dtype=torch.float64))
        return model

    x = _images(4, 2, 8, 8)
    likelihood = PenalizedLikelihood("gaussian", LogCosh(), 2.0)
    plain, penalized = vae_gan("gaussian"), vae_gan(likelihood)
    for update in ("encoder_loss", "decoder_loss"):
        results = []
        for model in (plain, penalized):
            torch.manual_seed(1)
            results.append(getattr(model, update)(x))
        torch.manual_seed(1)
        with torch.no_grad():
            z = penalized._encode(x, S=1, sample=True).z
        x_tilde = penalized._decode(z).x_hat[:, 0]
        nll = (
            0.5 * (x - x_tilde).square().sum(dim=(1, 2, 3))
            + 2.0 * torch.log(torch.cosh(x_tilde - x)).sum(dim=(1, 2, 3))
        ).mean()
        torch.testing.assert_close(results[1].objective - results[0].objective, nll)
    assert "log_likelihood" in penalized.encoder_loss(x).diagnostics
    assert "log_likelihood" not in plain.encoder_loss(x).diagnostics


def test_gradients_pass_gradcheck() -> None:
    x = _images(2, 1, 1, 6, 6)
    x_hat = _images(2, 1, 1, 6, 6, seed=3).requires_grad_(True)
    for loss in (LogCosh(), MSSSIM(**SSIM)):
        likelihood = PenalizedLikelihood("gaussian", loss, weight=1.5)
        function = likelihood.log_prob_sum
        assert torch.autograd.gradcheck(lambda t, f=function: f(x, t, 2), (x_hat,))
