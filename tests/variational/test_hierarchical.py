"""LadderVAE and HierarchicalVAE: the top-down bound against independent computations."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import distributions as D
from torch import nn

from pyautoencoder.evaluation import elbo, log_likelihood_estimate
from pyautoencoder.objectives import ImportanceWeightedBound, TotalCorrelation
from pyautoencoder.variational import VAE, HierarchicalVAE, LadderVAE
from pyautoencoder.variational._gaussian_groups import (
    gaussian_kl_per_dim,
    natural_parameter_merge,
    precision_weighted_merge,
)

pytestmark = pytest.mark.usefixtures("seeded")

GROUPS = [3, 2, 2]


def _model(cls: type, dtype: torch.dtype = torch.float32) -> nn.Module:
    encoder = nn.Sequential(nn.Linear(6, 12), nn.Tanh())
    model = cls(encoder, nn.Linear(GROUPS[0], 6), GROUPS, hidden_dim=12, likelihood="bernoulli")
    model.build(torch.rand(2, 6))
    for parameter in model.parameters():  # move every head away from its initial q = p
        nn.init.normal_(parameter, std=0.2)
    return model.to(dtype)


def _independent_log_prior(model: nn.Module, z: torch.Tensor) -> torch.Tensor:
    """``log p(z)`` of the top-down prior, written out with torch.distributions: ``[N]``."""
    groups = list(z.split(GROUPS, dim=-1))
    top = len(GROUPS) - 1
    state = (
        model.initial_state.expand(z.shape[0], -1) if isinstance(model, HierarchicalVAE) else None
    )
    total = torch.zeros(z.shape[0], dtype=z.dtype)
    for group in reversed(range(len(GROUPS))):
        if group == top:
            mu, log_var = torch.zeros_like(groups[group]), torch.zeros_like(groups[group])
        else:
            mu, log_var = model.prior_heads[group](state).chunk(2, dim=-1)
        total = total + D.Normal(mu, torch.exp(0.5 * log_var)).log_prob(groups[group]).sum(-1)
        if isinstance(model, HierarchicalVAE):
            cell = model.cells[group]  # s <- s + W z, then s <- s + MLP(s)
            state = state + cell.z_proj(groups[group])
            state = state + cell.residual(state)
        elif group > 0:
            state = model.top_down[group - 1](groups[group])
    return total


@pytest.mark.parametrize("cls", [LadderVAE, HierarchicalVAE])
def test_log_p_and_log_q_equal_torch_distributions_in_float64(cls: type) -> None:
    model = _model(cls, torch.float64)
    x = torch.rand(5, 6, dtype=torch.float64)
    out = model(x, S=3)
    z = out.z.reshape(15, -1)
    log_q = D.Normal(out.mu, torch.exp(0.5 * out.log_var)).log_prob(out.z).sum(-1)
    torch.testing.assert_close(out.log_q, log_q, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(out.log_p.reshape(15), _independent_log_prior(model, z))


@pytest.mark.parametrize("cls", [LadderVAE, HierarchicalVAE])
def test_elbo_equals_the_monte_carlo_sum_over_groups_of_log_p_minus_log_q(cls: type) -> None:
    model = _model(cls, torch.float64)
    x = (torch.rand(4, 6) > 0.5).double()
    with torch.no_grad():
        out = model(x, S=20000)
        result = model.compute_loss(x, out)
        log_lik = D.Bernoulli(logits=out.x_hat).log_prob(x.unsqueeze(1).expand_as(out.x_hat))
        monte_carlo = (log_lik.sum(-1) + out.log_p - out.log_q).mean()
    # The analytic per-group KL and the Monte Carlo log-ratio estimate the same expectation;
    # 20000 samples per input leave a standard error near 0.01 nats.
    assert abs(float(result.diagnostics["elbo"]) - float(monte_carlo)) < 0.05


def test_kl_per_group_diagnostics_add_up_to_the_kl() -> None:
    model = _model(HierarchicalVAE)
    x = torch.rand(4, 6)
    diagnostics = model.compute_loss(x, model(x)).diagnostics
    groups = sum(diagnostics[f"kl_group_{g}"] for g in (1, 2, 3))
    torch.testing.assert_close(groups, diagnostics["kl_divergence"])


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.floats(-30, 30), min_size=2, max_size=2),
    st.lists(st.floats(-5, 5), min_size=3, max_size=3),
)
def test_precision_weighted_merge_is_the_normalised_product_of_gaussians(
    log_vars: list[float], points: list[float]
) -> None:
    mu_a, mu_b, z = (torch.tensor(v, dtype=torch.float64) for v in points)
    lv_a, lv_b = (torch.tensor(v, dtype=torch.float64) for v in log_vars)
    mu, log_var = precision_weighted_merge(mu_a, lv_a, mu_b, lv_b)
    var_a, var_b = lv_a.exp(), lv_b.exp()
    expected_var = var_a * var_b / (var_a + var_b)
    torch.testing.assert_close(log_var, expected_var.log(), rtol=1e-9, atol=1e-9)
    if max(log_vars) - min(log_vars) < 20:  # the product's density is representable
        product = D.Normal(mu_a, var_a.sqrt()).log_prob(z) + D.Normal(mu_b, var_b.sqrt()).log_prob(
            z
        )
        normaliser = D.Normal(mu_b, (var_a + var_b).sqrt()).log_prob(mu_a)
        merged = D.Normal(mu, expected_var.sqrt()).log_prob(z)
        torch.testing.assert_close(merged, product - normaliser, rtol=1e-7, atol=1e-7)


def test_gaussian_kl_per_dim_matches_torch_distributions_and_passes_gradcheck() -> None:
    args = [torch.randn(4, 3, dtype=torch.float64, requires_grad=True) for _ in range(4)]
    mu_q, lv_q, mu_p, lv_p = args
    expected = D.kl_divergence(
        D.Normal(mu_q, (0.5 * lv_q).exp()), D.Normal(mu_p, (0.5 * lv_p).exp())
    )
    torch.testing.assert_close(gaussian_kl_per_dim(*args), expected)
    assert torch.autograd.gradcheck(gaussian_kl_per_dim, tuple(args))
    assert torch.autograd.gradcheck(precision_weighted_merge, tuple(args))
    assert torch.autograd.gradcheck(natural_parameter_merge, tuple(args))


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.floats(-20, 20), min_size=2, max_size=2),
    st.lists(st.floats(-5, 5), min_size=2, max_size=2),
)
def test_natural_parameter_merge_is_the_precision_weighted_merge_of_the_same_estimate(
    logs: list[float], means: list[float]
) -> None:
    log_precision, log_var_p = (torch.tensor(v, dtype=torch.float64) for v in logs)
    mu_hat, mu_p = (torch.tensor(v, dtype=torch.float64) for v in means)
    eta = mu_hat * log_precision.exp()  # the estimate N(mu_hat, 1 / precision)
    mu, log_var = natural_parameter_merge(eta, log_precision, mu_p, log_var_p)
    expected = precision_weighted_merge(mu_hat, -log_precision, mu_p, log_var_p)
    torch.testing.assert_close(log_var, expected[1], rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(mu, expected[0], rtol=1e-9, atol=1e-9)


def _vae_and_encoder(latent: int) -> tuple[nn.Module, nn.Module]:
    encoder = nn.Sequential(nn.Linear(6, 12), nn.Tanh())
    return encoder, nn.Sequential(nn.Linear(latent, 8), nn.Tanh(), nn.Linear(8, 6))


def _same_noise_elbo(model: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    torch.manual_seed(3)
    out = model(x, S=4)
    return out.z, model.compute_loss(x, out).diagnostics["elbo"]


def test_one_group_ladder_vae_at_a_vaes_weights_gives_the_vaes_elbo() -> None:
    encoder, decoder = _vae_and_encoder(3)
    vae = VAE(encoder, decoder, 3, likelihood="bernoulli").double()
    ladder = LadderVAE(encoder, decoder, [3], likelihood="bernoulli").double()
    x = (torch.rand(5, 6) > 0.5).double()
    vae.build(x)
    ladder.build(x)
    head, layer = ladder.estimate_heads[0], vae.sampling_layer
    with torch.no_grad():  # the top group's head is (mu, log_var): the VAE's two heads stacked
        head.weight.copy_(torch.cat([layer.mu.weight, layer.log_var.weight]))
        head.bias.copy_(torch.cat([layer.mu.bias, layer.log_var.bias]))
    z_vae, elbo_vae = _same_noise_elbo(vae, x)
    z_ladder, elbo_ladder = _same_noise_elbo(ladder, x)
    torch.testing.assert_close(z_ladder, z_vae, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(elbo_ladder, elbo_vae, rtol=1e-12, atol=1e-12)


def test_one_group_hierarchical_vae_is_a_vae_whose_decoder_starts_with_the_cell() -> None:
    """One group, residual branch at its zero start: the state is ``s_0 + W z`` and the decoder
    reads ``to_decoder(s_0 + W z)``; the posterior is a linear map of ``[s_0, h]``."""
    encoder, decoder = _vae_and_encoder(5)
    model = HierarchicalVAE(encoder, decoder, [3], hidden_dim=7, decoder_dim=5)
    x = torch.rand(5, 6, dtype=torch.float64)
    model.double().build(x)
    with torch.no_grad():
        nn.init.normal_(model.initial_state)
    cell, head, s0 = model.cells[0], model.posterior_heads[0], model.initial_state
    vae = VAE(encoder, nn.Sequential(nn.Linear(3, 7), model.to_decoder, decoder), 3).double()
    vae.build(x)
    layer = vae.sampling_layer
    with torch.no_grad():
        vae.decoder[0].weight.copy_(cell.z_proj.weight)
        vae.decoder[0].bias.copy_(cell.z_proj.bias + s0)
        weight_s, weight_h = head.weight[:, :7], head.weight[:, 7:]
        bias = head.bias + weight_s @ s0  # [2 D]
        layer.mu.weight.copy_(weight_h[:3])
        layer.mu.bias.copy_(bias[:3])
        layer.log_var.weight.copy_(weight_h[3:])
        layer.log_var.bias.copy_(bias[3:])
    z_vae, elbo_vae = _same_noise_elbo(vae, x)
    z_model, elbo_model = _same_noise_elbo(model, x)
    torch.testing.assert_close(z_model, z_vae, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(elbo_model, elbo_vae, rtol=1e-12, atol=1e-12)


def test_hierarchical_vae_decoder_reads_decoder_dim_features() -> None:
    model = HierarchicalVAE(nn.Linear(6, 8), nn.Linear(10, 6), [2, 2], decoder_dim=10)
    x = torch.rand(3, 6)
    model.build(x)
    assert model(x, S=2).x_hat.shape == (3, 2, 6)
    assert model.sample(4).shape == (4, 6)
    with pytest.raises(ValueError, match="decoder_dim"):
        HierarchicalVAE(nn.Linear(6, 8), nn.Linear(10, 6), [2, 2], decoder_dim=0)


def test_sample_runs_top_down_through_the_conditional_prior() -> None:
    model = LadderVAE(
        nn.Sequential(nn.Linear(6, 8), nn.Tanh()), nn.Identity(), [2, 2], hidden_dim=8
    )
    model.build(torch.rand(2, 6))
    with torch.no_grad():  # p(z_1 | z_2) = N(100, 1) whatever z_2: the decoder shows z_1
        model.prior_heads[0].weight.zero_()
        model.prior_heads[0].bias.copy_(torch.tensor([100.0, 100.0, 0.0, 0.0]))
    drawn = model.sample(4000)
    torch.testing.assert_close(drawn.mean(0), torch.full((2,), 100.0), rtol=0, atol=0.1)
    torch.testing.assert_close(drawn.std(0), torch.ones(2), rtol=0.1, atol=0)


@pytest.mark.parametrize("cls", [LadderVAE, HierarchicalVAE])
def test_importance_sampled_log_likelihood_is_above_the_elbo(cls: type) -> None:
    model = _model(cls)
    x = (torch.rand(6, 6) > 0.5).float()
    estimate = log_likelihood_estimate(model, x, 300, seed=0)
    bound = elbo(model, x, 300, seed=0)
    assert estimate.mean > bound.mean
    assert math.isfinite(estimate.bits_per_dim)
    iwb = ImportanceWeightedBound(50)(model, x, model(x, S=50)).diagnostics["iwae_bound"]
    assert float(iwb) > bound.mean - 0.5  # the K = 50 bound sits above the ELBO (MC slack)


def test_bad_group_sizes_and_objectives_say_what_is_wrong() -> None:
    encoder, decoder = nn.Linear(6, 8), nn.Linear(2, 6)
    with pytest.raises(ValueError, match=r"latent_dims\[1\]"):
        LadderVAE(encoder, decoder, [2, 0])
    with pytest.raises(ValueError, match="at least one group"):
        LadderVAE(encoder, decoder, [])
    model = HierarchicalVAE(encoder, decoder, 2, num_groups=3, objective=TotalCorrelation())
    assert model.latent_dims == [2, 2, 2]
    x = torch.rand(3, 6)
    with pytest.raises(TypeError, match="no single prior"):
        model.compute_loss(x, model(x))
    dreg = HierarchicalVAE(encoder, decoder, 2, objective=ImportanceWeightedBound(3, "dreg"))
    with pytest.raises(ValueError, match="DReG"):
        dreg.compute_loss(x, dreg(x, S=3))


def test_hierarchical_vae_starts_with_unit_gain_from_z_to_the_decoder() -> None:
    """``z ~ N(0, I)`` reaches the decoder with variance ~1 per feature (PyTorch's default
    init would give ~1/9 through the two maps)."""
    model = HierarchicalVAE(nn.Linear(6, 8), nn.Linear(64, 6), [64], hidden_dim=512)
    z = torch.randn(4000, 64)
    with torch.no_grad():
        reaching = model.to_decoder(model.cells[0].z_proj(z))  # [N, 64]
    assert 0.7 < float(reaching.var(dim=0).mean()) < 1.3
