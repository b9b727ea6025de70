"""Adversarial losses on logits, permute_dims and the density-ratio TC estimate."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.nn import functional as F

from pyautoencoder.loss import (
    adaptive_adversarial_weight,
    density_ratio_tc,
    hinge_discriminator_loss,
    hinge_generator_loss,
    logistic_discriminator_loss,
    non_saturating_generator_loss,
    permute_dims,
)


def test_logistic_loss_is_the_mean_binary_cross_entropy_with_labels_one_and_zero() -> None:
    generator = torch.Generator().manual_seed(0)
    real = torch.randn(7, generator=generator, dtype=torch.float64)
    fake = torch.randn(5, generator=generator, dtype=torch.float64)
    expected = 0.5 * (
        F.binary_cross_entropy(torch.sigmoid(real), torch.ones(7, dtype=torch.float64))
        + F.binary_cross_entropy(torch.sigmoid(fake), torch.zeros(5, dtype=torch.float64))
    )
    torch.testing.assert_close(logistic_discriminator_loss(real, fake), expected)


def test_non_saturating_loss_is_minus_mean_log_d() -> None:
    fake = torch.tensor([-2.0, 0.0, 3.0], dtype=torch.float64)
    expected = -torch.log(torch.sigmoid(fake)).mean()
    torch.testing.assert_close(non_saturating_generator_loss(fake), expected)


@settings(max_examples=30, deadline=None)
@given(st.floats(-1e4, 1e4), st.floats(-1e4, 1e4))
def test_losses_stay_finite_at_extreme_logits(real: float, fake: float) -> None:
    r = torch.tensor([real], dtype=torch.float64)
    f = torch.tensor([fake], dtype=torch.float64)
    assert torch.isfinite(logistic_discriminator_loss(r, f))
    assert torch.isfinite(non_saturating_generator_loss(f))


def test_logistic_loss_gradcheck() -> None:
    real = torch.randn(4, dtype=torch.float64, requires_grad=True)
    fake = torch.randn(3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(logistic_discriminator_loss, (real, fake))
    assert torch.autograd.gradcheck(non_saturating_generator_loss, (fake,))


def test_permute_dims_permutes_each_column_and_breaks_dependence() -> None:
    torch.manual_seed(0)
    base = torch.randn(4000, 1)
    z = torch.cat([base, base, -base], dim=1)  # perfectly dependent columns
    out = permute_dims(z)
    for j in range(3):  # each column keeps its values
        torch.testing.assert_close(out[:, j].sort().values, z[:, j].sort().values)
    corr = torch.corrcoef(out.T)
    off_diagonal = corr[~torch.eye(3, dtype=torch.bool)]
    assert off_diagonal.abs().max() < 4 / math.sqrt(4000)  # independent up to ~4 std errors


def test_density_ratio_tc_at_the_optimal_discriminator_is_the_gaussian_tc() -> None:
    """For z ~ N(0, Sigma) the Bayes-optimal logit is log N(z; 0, Sigma) - sum_j log N(z_j; 0,
    Sigma_jj), and TC = 0.5 (sum_j log Sigma_jj - log det Sigma) in closed form."""
    sigma = torch.tensor([[1.0, 0.6, 0.2], [0.6, 2.0, -0.5], [0.2, -0.5, 0.8]], dtype=torch.float64)
    joint = torch.distributions.MultivariateNormal(torch.zeros(3, dtype=torch.float64), sigma)
    marginals = torch.distributions.Normal(torch.zeros(3, dtype=torch.float64), sigma.diag().sqrt())
    torch.manual_seed(0)
    z = joint.sample((200_000,))
    logits = joint.log_prob(z) - marginals.log_prob(z).sum(-1)  # [B]
    closed_form = 0.5 * (sigma.diag().log().sum() - torch.logdet(sigma))
    standard_error = logits.std() / math.sqrt(len(logits))
    assert abs(density_ratio_tc(logits) - closed_form) < 4 * standard_error


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda: density_ratio_tc(torch.zeros(3, 1)),
            "logits must be floating-point logits of shape",
        ),
        (
            lambda: logistic_discriminator_loss(torch.zeros(3), torch.zeros(3, dtype=torch.long)),
            "fake_logits",
        ),
        (lambda: non_saturating_generator_loss([0.0]), "fake_logits must be a torch.Tensor"),
        (lambda: permute_dims(torch.zeros(3)), r"z must have shape \[B, D_z\]"),
    ],
)
def test_bad_inputs_are_refused_with_the_argument_name(call, message: str) -> None:
    with pytest.raises((TypeError, ValueError), match=message):
        call()


def test_hinge_losses_match_their_formulas() -> None:
    real = torch.tensor([-0.5, 0.3, 2.0], dtype=torch.float64)
    fake = torch.tensor([-2.0, 0.1], dtype=torch.float64)
    expected = (
        0.5 * (torch.tensor([1.5, 0.7, 0.0]).mean() + torch.tensor([0.0, 1.1]).mean()).double()
    )
    torch.testing.assert_close(hinge_discriminator_loss(real, fake), expected)
    torch.testing.assert_close(hinge_generator_loss(fake), torch.tensor(0.95, dtype=torch.float64))


def test_adaptive_weight_is_the_ratio_of_gradient_norms_at_the_last_layer() -> None:
    torch.manual_seed(0)
    decoder = torch.nn.Sequential(torch.nn.Linear(3, 5), torch.nn.Tanh(), torch.nn.Linear(5, 4))
    decoder.double()
    critic = torch.nn.Linear(4, 1).double()
    x = torch.randn(6, 4, dtype=torch.float64)
    x_hat = decoder(torch.randn(6, 3, dtype=torch.float64))
    reconstruction = ((x - x_hat) ** 2).mean()
    generator = hinge_generator_loss(critic(x_hat).squeeze(-1))
    last = decoder[2].weight
    weight = adaptive_adversarial_weight(reconstruction, generator, last)
    # direct computation: each loss's gradient w.r.t. the last weight, one backward at a time
    reconstruction.backward(retain_graph=True)
    rec_norm = last.grad.norm()
    last.grad = None
    generator.backward()
    gan_norm = last.grad.norm()
    torch.testing.assert_close(weight, rec_norm / (gan_norm + 1e-4))
    assert not weight.requires_grad


def test_adaptive_weight_is_clamped_when_the_adversarial_gradient_vanishes() -> None:
    last = torch.ones(2, 2, requires_grad=True)
    reconstruction = (last**2).sum()
    generator = (last * 0.0).sum()
    assert adaptive_adversarial_weight(reconstruction, generator, last) == 1e4
