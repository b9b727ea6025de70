"""VAE options: prior, likelihood objects, free bits, kl_estimator (defaults unchanged)."""

from __future__ import annotations

import pytest
import torch
from torch import distributions as D
from torch import nn

from pyautoencoder.distributions import (
    CategoricalLikelihood,
    DiagonalGaussianPrior,
    GaussianLikelihood,
    MixtureOfGaussiansPrior,
)
from pyautoencoder.variational import VAE


def _model(x_dim: int = 5, out_dim: int | None = None, **kwargs: object) -> VAE:
    decoder = nn.Linear(2, out_dim or x_dim)
    model = VAE(nn.Sequential(nn.Linear(x_dim, 8), nn.Tanh()), decoder, 2, **kwargs)  # type: ignore[arg-type]
    model.build(torch.zeros(1, x_dim))
    return model


def test_default_vae_state_dict_keys_are_those_of_2x() -> None:
    keys = set(_model().state_dict())
    assert keys == {
        "encoder.0.weight",
        "encoder.0.bias",
        "decoder.weight",
        "decoder.bias",
        "sampling_layer.mu.weight",
        "sampling_layer.mu.bias",
        "sampling_layer.log_var.weight",
        "sampling_layer.log_var.bias",
    }


@pytest.mark.parametrize("prior", ["diagonal_gaussian", "mixture_of_gaussians", "vamp"])
def test_prior_option_loss_equals_float64_recomputation(prior: str) -> None:
    torch.manual_seed(0)
    model = _model(prior=prior).double()
    x = torch.randn(4, 5, dtype=torch.float64)
    out = model(x, S=3)
    result = model.compute_loss(x, out)
    q = D.Independent(D.Normal(out.mu, (0.5 * out.log_var).exp()), 1)
    p = model.prior
    if prior == "diagonal_gaussian":
        kl = D.kl_divergence(q, p)  # closed form
    else:  # the documented Monte Carlo estimate at the drawn samples
        z = out.z.transpose(0, 1)  # [S, B, D_z]
        kl = (q.log_prob(z) - p.log_prob(z)).mean(0)
    log_lik = (-0.5 * (x.unsqueeze(1) - out.x_hat) ** 2).sum(-1).mean(1)
    torch.testing.assert_close(-result.objective, (log_lik - kl).mean())
    result.objective.backward()
    assert all(p.grad is not None for p in model.parameters())


def test_prior_and_posterior_are_distributions() -> None:
    model = _model(prior=MixtureOfGaussiansPrior(2, num_components=4))
    assert isinstance(model.prior, D.MixtureSameFamily)
    assert model.prior.event_shape == (2,)
    posterior = model.posterior(torch.randn(3, 5))
    assert posterior.batch_shape == (3,) and posterior.event_shape == (2,)


def test_learnable_prior_parameters_are_trained() -> None:
    torch.manual_seed(0)
    model = _model(prior=DiagonalGaussianPrior(2))
    x = torch.randn(16, 5)
    model.compute_loss(x, model(x)).objective.backward()
    assert model.latent_prior.loc.grad is not None  # type: ignore[union-attr]


def test_free_bits_objective_and_diagnostics() -> None:
    torch.manual_seed(0)
    model = _model(free_bits=0.5).double()
    x = torch.randn(6, 5, dtype=torch.float64)
    out = model(x, S=2)
    result = model.compute_loss(x, out, beta=2.0)
    kl_per_dim = 0.5 * (out.mu**2 + out.log_var.exp() - 1 - out.log_var)  # [B, D_z]
    thresholded = kl_per_dim.mean(0).clamp(min=0.5).sum()
    log_lik = (-0.5 * (x.unsqueeze(1) - out.x_hat) ** 2).sum(-1).mean()
    torch.testing.assert_close(result.objective, -log_lik + 2.0 * thresholded)
    # Diagnostics keep the true KL and the contract identity.
    diag = result.diagnostics
    torch.testing.assert_close(diag["kl_divergence"], kl_per_dim.sum(-1).mean().detach())
    torch.testing.assert_close(diag["elbo"], diag["log_likelihood"] - 2.0 * diag["kl_divergence"])
    torch.testing.assert_close(diag["kl_free_bits"], thresholded.detach())


def test_free_bits_stop_the_gradient_of_dimensions_below_the_threshold() -> None:
    torch.manual_seed(0)
    model = _model(free_bits=100.0)  # every dimension far below 100 nats
    x = torch.randn(6, 5)
    model.compute_loss(x, model(x, sample=False)).objective.backward()
    assert model.sampling_layer.log_var.weight.grad is not None
    assert torch.all(model.sampling_layer.log_var.weight.grad == 0)


def test_likelihood_object_with_learned_scale_is_registered_and_trained() -> None:
    torch.manual_seed(0)
    likelihood = GaussianLikelihood("learned")
    model = _model(likelihood=likelihood)
    assert any(p is likelihood.log_scale for p in model.parameters())
    x = torch.randn(4, 5)
    out = model(x)
    result = model.compute_loss(x, out)
    expected = D.Normal(out.x_hat, 1.0).log_prob(x.unsqueeze(1)).sum(-1).mean()
    torch.testing.assert_close(result.diagnostics["log_likelihood"], expected.detach())
    result.objective.backward()
    assert likelihood.log_scale is not None and likelihood.log_scale.grad is not None


def test_decoder_predicted_scale_in_a_vae() -> None:
    torch.manual_seed(0)
    model = _model(out_dim=10, likelihood=GaussianLikelihood("decoder"))
    x = torch.randn(4, 5)
    out = model(x, S=2)
    loc, log_scale = out.x_hat.chunk(2, dim=-1)
    expected = D.Normal(loc, log_scale.exp()).log_prob(x.unsqueeze(1)).sum(-1).mean()
    result = model.compute_loss(x, out)
    torch.testing.assert_close(result.diagnostics["log_likelihood"], expected.detach())
    bad = torch.randn(4, 2, 5)
    with pytest.raises(ValueError, match=r"x_hat must have shape \[B, S, \*x_hat_shape"):
        model.compute_loss(x, type(out)(x_hat=bad, z=out.z, mu=out.mu, log_var=out.log_var))


def test_categorical_likelihood_in_a_vae() -> None:
    torch.manual_seed(0)
    decoder = nn.Sequential(nn.Linear(2, 5 * 4), nn.Unflatten(1, (5, 4)))
    model = VAE(nn.Sequential(nn.Linear(5, 8)), decoder, 2, likelihood=CategoricalLikelihood(4))
    x = torch.randint(0, 4, (3, 5)).float()
    out = model(x, S=2)
    assert out.x_hat.shape == (3, 2, 5, 4)
    result = model.compute_loss(x, out)
    expected = D.Categorical(logits=out.x_hat).log_prob(x.long().unsqueeze(1)).sum(-1).mean()
    torch.testing.assert_close(result.diagnostics["log_likelihood"], expected.detach())


def test_contract_messages_for_the_default_likelihood_are_unchanged() -> None:
    model = _model()
    x = torch.randn(3, 5)
    out = model(x)
    for bad, hint in ((torch.randn(3, 5), True), (torch.randn(3, 1, 4), False)):
        broken = type(out)(x_hat=bad, z=out.z, mu=out.mu, log_var=out.log_var)
        with pytest.raises(ValueError) as info:
            model.compute_loss(x, broken)
        message = str(info.value)
        assert "x_hat must have shape [B, S, *x.shape[1:]] = [3, S, 5] with S >= 1" in message
        assert ("unsqueeze(1)" in message) is hint


def test_compute_loss_likelihood_argument_overrides_the_models() -> None:
    torch.manual_seed(0)
    model = _model(likelihood="bernoulli")
    x = torch.rand(3, 5)
    out = model(x)
    by_default = model.compute_loss(x, out).objective
    explicit = model.compute_loss(x, out, likelihood="bernoulli").objective
    gaussian = model.compute_loss(x, out, likelihood="gaussian").objective
    torch.testing.assert_close(by_default, explicit)
    assert not torch.allclose(by_default, gaussian)


def test_sample_and_reconstruct() -> None:
    model = _model()
    assert model.sample(6).shape == (6, 5)
    x = torch.randn(3, 5)
    expected = model.decode(model.encode(x).z).x_hat.squeeze(1)
    torch.testing.assert_close(model.reconstruct(x), expected)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"prior": "vampprior"}, ValueError, "Unknown prior 'vampprior'.*did you mean 'vamp'"),
        ({"likelihood": "lapalce"}, ValueError, "did you mean 'laplace'"),
        ({"free_bits": -0.1}, ValueError, "free_bits must be finite and >= 0"),
        ({"kl_estimator": "exact"}, ValueError, "kl_estimator must be 'auto', 'analytic'"),
        (
            {"kl_estimator": "analytic", "prior": "mixture_of_gaussians"},
            ValueError,
            "needs a closed-form KL",
        ),
        ({"prior": 3}, TypeError, "prior must be None, a registered name"),
    ],
)
def test_bad_option_arguments(kwargs: dict, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        VAE(nn.Linear(5, 8), nn.Linear(2, 5), 2, **kwargs)


def test_vae_with_options_compiles_with_fullgraph() -> None:
    model = _model(prior="mixture_of_gaussians", free_bits=0.1, likelihood=GaussianLikelihood(0.5))
    x = torch.randn(4, 5)

    def step(inputs: torch.Tensor) -> torch.Tensor:
        return model.compute_loss(inputs, model(inputs)).objective

    loss = torch.compile(step, fullgraph=True, backend="eager")(x)
    loss.backward()
    assert torch.isfinite(loss)


_COMPILE_OPTIONS = {
    "diagonal_gaussian_prior": ({"prior": "diagonal_gaussian"}, 5, None),
    "vamp_prior": ({"prior": "vamp"}, 5, None),
    "laplace": ({"likelihood": "laplace"}, 5, None),
    "normal_decoder_scale": ({"likelihood": GaussianLikelihood("decoder")}, 5, 10),
    "continuous_bernoulli": ({"likelihood": "continuous_bernoulli"}, 5, None),
    "categorical": ({"likelihood": CategoricalLikelihood(4)}, 5, 20),
}


@pytest.mark.parametrize("option", sorted(_COMPILE_OPTIONS))
def test_every_prior_and_likelihood_compiles_with_fullgraph(option: str) -> None:
    """forward + compute_loss trace with no graph break and equal eager mode (same seed)."""
    kwargs, x_dim, out_dim = _COMPILE_OPTIONS[option]
    torch.manual_seed(0)
    model = _model(x_dim, out_dim, **kwargs)
    if option == "categorical":
        decoder = model.decoder
        model.decoder = nn.Sequential(decoder, nn.Unflatten(1, (5, 4)))  # [N, F, K] logits
        x = torch.randint(0, 4, (6, 5)).float()
    else:
        x = torch.rand(6, 5)

    def step(inputs: torch.Tensor) -> torch.Tensor:
        return model.compute_loss(inputs, model(inputs, S=2)).objective

    compiled = torch.compile(step, fullgraph=True, backend="eager")
    torch.manual_seed(1)
    loss = compiled(x)
    torch.manual_seed(1)
    torch.testing.assert_close(loss, step(x))
    loss.backward()
    assert all(p.grad is not None for p in model.parameters())
    torch._dynamo.reset()
