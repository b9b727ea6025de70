"""Priors, the KL registry and the Monte Carlo fallback."""

from __future__ import annotations

import pytest
import torch
from torch import distributions as D
from torch import nn

from pyautoencoder.distributions import (
    DiagonalGaussianPrior,
    MixtureOfGaussiansPrior,
    Prior,
    StandardNormalPrior,
    VampPrior,
    available_priors,
    get_prior,
    has_closed_form_kl,
    monte_carlo_kl,
    posterior_kl,
    register_kl,
)
from pyautoencoder.variational import VAE


def _posterior(batch: int = 4, dim: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(1)
    mu = torch.randn(batch, dim, dtype=torch.float64, generator=gen)
    log_var = torch.randn(batch, dim, dtype=torch.float64, generator=gen) * 0.5
    return mu, log_var


def _q(mu: torch.Tensor, log_var: torch.Tensor) -> D.Distribution:
    return D.Independent(D.Normal(mu, (0.5 * log_var).exp()), 1)


def test_standard_normal_kl_equals_torch_closed_form() -> None:
    mu, log_var = _posterior()
    prior = StandardNormalPrior(3).double()
    expected = D.kl_divergence(_q(mu, log_var), prior.distribution())
    torch.testing.assert_close(posterior_kl(mu, log_var, prior), expected)


def test_diagonal_gaussian_kl_equals_torch_closed_form() -> None:
    mu, log_var = _posterior()
    prior = DiagonalGaussianPrior(3).double()
    with torch.no_grad():
        prior.loc.copy_(torch.tensor([0.5, -1.0, 2.0]))
        prior.log_var.copy_(torch.tensor([0.3, -0.7, 1.1]))
    expected = D.kl_divergence(_q(mu, log_var), prior.distribution())
    torch.testing.assert_close(posterior_kl(mu, log_var, prior), expected)


def test_mixture_kl_is_the_documented_monte_carlo_estimate() -> None:
    torch.manual_seed(0)
    mu, log_var = _posterior(batch=2, dim=2)
    prior = MixtureOfGaussiansPrior(2, num_components=3).double()
    assert not has_closed_form_kl(prior)
    q = _q(mu, log_var)
    z = q.sample((4,)).transpose(0, 1)  # [B, S, D_z]
    expected = q.log_prob(z.transpose(0, 1)) - prior.distribution().log_prob(z.transpose(0, 1))
    torch.testing.assert_close(posterior_kl(mu, log_var, prior, z), expected.mean(0))


def test_monte_carlo_kl_converges_to_the_closed_form() -> None:
    torch.manual_seed(0)
    mu, log_var = _posterior(batch=3, dim=2)
    prior = DiagonalGaussianPrior(2).double()
    with torch.no_grad():
        prior.loc.fill_(0.3)
        prior.log_var.fill_(0.4)
    q = _q(mu, log_var)
    samples = q.sample((20000,))  # [N, B, D_z]
    ratio = q.log_prob(samples) - prior.distribution().log_prob(samples)  # [N, B]
    estimate = monte_carlo_kl(mu, log_var, samples.transpose(0, 1), prior)
    exact = posterior_kl(mu, log_var, prior)
    tolerance = 4 * ratio.std(0) / 20000**0.5  # 4 standard errors
    assert torch.all((estimate - exact).abs() < tolerance)


def test_monte_carlo_kl_needs_samples() -> None:
    mu, log_var = _posterior()
    with pytest.raises(ValueError, match="needs the posterior samples z"):
        posterior_kl(mu, log_var, MixtureOfGaussiansPrior(3).double())


def test_register_kl_adds_a_closed_form_for_a_user_prior() -> None:
    class ShiftedNormal(StandardNormalPrior):
        pass

    class Wide(Prior):
        def distribution(self) -> D.Distribution:
            return D.Independent(D.Normal(torch.zeros(self.latent_dim), 2.0), 1)

    assert has_closed_form_kl(ShiftedNormal(2))  # inherited through the MRO
    assert not has_closed_form_kl(Wide(2))

    @register_kl(Wide)
    def _kl_wide(mu: torch.Tensor, log_var: torch.Tensor, prior: Prior) -> torch.Tensor:
        return D.kl_divergence(D.Normal(mu, (0.5 * log_var).exp()), D.Normal(0.0, 2.0))

    mu, log_var = _posterior(dim=2)
    prior = Wide(2)
    expected = D.kl_divergence(_q(mu.float(), log_var.float()), prior.distribution())
    torch.testing.assert_close(posterior_kl(mu.float(), log_var.float(), prior), expected)
    with pytest.raises(TypeError, match="prior_type must be a Prior subclass"):
        register_kl(int)  # type: ignore[arg-type]


def test_get_prior_names_objects_and_errors() -> None:
    assert set(available_priors()) >= {
        "standard_normal",
        "diagonal_gaussian",
        "mixture_of_gaussians",
        "vamp",
    }
    assert isinstance(get_prior(None, 3), StandardNormalPrior)
    assert isinstance(get_prior("Mixture_Of_Gaussians", 3), MixtureOfGaussiansPrior)
    with pytest.raises(ValueError, match=r"Unknown prior 'vampp'.*did you mean 'vamp'"):
        get_prior("vampp", 3)
    with pytest.raises(ValueError, match=r"prior.latent_dim must equal .* = 3, got 4"):
        get_prior(DiagonalGaussianPrior(4), 3)
    with pytest.raises(TypeError, match="prior must be None, a registered name"):
        get_prior(3.0, 3)


def test_mixture_prior_log_prob_equals_hand_computed_mixture() -> None:
    prior = MixtureOfGaussiansPrior(2, num_components=3).double()
    z = torch.randn(5, 2, dtype=torch.float64)
    comps = D.Normal(prior.loc, (0.5 * prior.log_var).exp())  # [K, D]
    log_comp = comps.log_prob(z.unsqueeze(1)).sum(-1)  # [N, K]
    log_weights = torch.log_softmax(prior.logits, 0)
    expected = torch.logsumexp(log_comp + log_weights, dim=1)
    torch.testing.assert_close(prior.log_prob(z), expected)


def _vamp_vae(input_shape: tuple[int, ...] | None = None) -> VAE:
    prior = VampPrior(2, num_pseudo_inputs=4, input_shape=input_shape)
    return VAE(nn.Sequential(nn.Flatten(), nn.LazyLinear(6)), nn.Linear(2, 5), 2, prior=prior)


def test_vamp_prior_is_the_mixture_of_posteriors_at_pseudo_inputs() -> None:
    torch.manual_seed(0)
    model = _vamp_vae()
    x = torch.randn(3, 5)
    model.build(x)
    prior = model.latent_prior
    assert isinstance(prior, VampPrior)
    assert prior.pseudo_inputs.shape == (4, 5)
    mu, log_var = model.sampling_layer.get_params(model.encoder(prior.pseudo_inputs))
    z = torch.randn(7, 2)
    comps = D.Normal(mu, (0.5 * log_var).exp()).log_prob(z.unsqueeze(1)).sum(-1)  # [N, K]
    expected = torch.logsumexp(comps, dim=1) - torch.log(torch.tensor(4.0))
    torch.testing.assert_close(model.prior.log_prob(z), expected)


def test_vamp_prior_gradients_reach_pseudo_inputs_and_state_dict_round_trips() -> None:
    torch.manual_seed(0)
    model = _vamp_vae()
    x = torch.randn(3, 5)
    out = model(x, S=2)
    model.compute_loss(x, out).objective.backward()
    assert all(p.grad is not None for p in model.parameters())
    fresh = _vamp_vae()
    fresh.load_state_dict(model.state_dict())
    torch.testing.assert_close(
        fresh.latent_prior.pseudo_inputs,
        model.latent_prior.pseudo_inputs,  # type: ignore[arg-type]
    )
    z = torch.randn(4, 2)
    torch.testing.assert_close(fresh.prior.log_prob(z), model.prior.log_prob(z))


def test_vamp_prior_errors_are_clear() -> None:
    with pytest.raises(RuntimeError, match="VampPrior needs the model's encoder"):
        VampPrior(2, input_shape=(3,)).distribution()
    model = _vamp_vae()
    with pytest.raises(RuntimeError, match=r"call model.build\(x\)"):
        model.prior  # noqa: B018


def test_priors_follow_the_model_dtype() -> None:
    for name in ("standard_normal", "diagonal_gaussian", "mixture_of_gaussians"):
        prior = get_prior(name, 3).double()
        assert prior.sample(4).dtype == torch.float64
        assert prior.sample(4).shape == (4, 3)


def test_vamp_prior_input_shape_is_checked_against_the_data() -> None:
    """A wrong ``input_shape`` fails at build with both shapes named, not in the KL's matmul."""
    model = _vamp_vae(input_shape=(7,))
    with pytest.raises(
        ValueError, match=r"input_shape \(7,\).*one example \(5,\).*input_shape=\(5,\)"
    ):
        model.build(torch.randn(3, 5))
    built = _vamp_vae()
    built.build(torch.randn(3, 5))
    with pytest.raises(ValueError, match=r"input_shape \(5,\)"):
        built(torch.randn(3, 6))
    right = _vamp_vae(input_shape=(5,))
    right.build(torch.randn(3, 5))  # the matching shape builds
    assert right.latent_prior.pseudo_inputs.shape == (4, 5)
