"""ELBO: float64 against torch.distributions; beta multiplies; free bits."""

from __future__ import annotations

import torch
from objective_helpers import binary_data, make_vae, reference_log_weights

from pyautoencoder.objectives import ELBO


def test_elbo_equals_torch_distributions_in_float64() -> None:
    model = make_vae(ELBO(beta=3.0))
    x = binary_data()
    torch.manual_seed(1)
    out = model(x, S=4)
    result = model.compute_loss(x, out, beta=0.5)  # a schedule's beta multiplies: 1.5 in all
    log_lik, _, _, kl = reference_log_weights(x, out)
    expected = log_lik.mean(dim=1) - 1.5 * kl  # [B]
    torch.testing.assert_close(-result.objective, expected.mean())
    torch.testing.assert_close(result.diagnostics["elbo"], expected.mean().detach())
    torch.testing.assert_close(result.diagnostics["kl_divergence"], kl.mean().detach())
    torch.testing.assert_close(
        result.diagnostics["elbo_unweighted"], (log_lik.mean(dim=1) - kl).mean().detach()
    )


def test_elbo_with_a_tensor_beta_equals_the_number() -> None:
    model = make_vae(ELBO(beta=2.0))
    x = binary_data()
    out = model(x)
    a = model.compute_loss(x, out, beta=0.25).objective
    b = model.compute_loss(x, out, beta=torch.tensor(0.25, dtype=torch.float64)).objective
    torch.testing.assert_close(a, b)


def test_free_bits_threshold_each_dimension_of_the_batch_mean_kl() -> None:
    model = make_vae(ELBO(free_bits=0.4))
    x = binary_data()
    out = model(x)
    result = model.compute_loss(x, out)
    log_lik, _, _, _ = reference_log_weights(x, out)
    mu, log_var = out.mu, out.log_var
    kl_dims = 0.5 * (mu.square() + log_var.exp() - 1.0 - log_var)  # [B, D_z], closed form
    term = kl_dims.mean(dim=0).clamp(min=0.4).sum()
    torch.testing.assert_close(-result.objective, log_lik.mean() - term)
    torch.testing.assert_close(result.diagnostics["kl_free_bits"], term.detach())


def test_elbo_gradient_passes_gradcheck() -> None:
    model = make_vae()
    x = binary_data(3)
    out = model(x, S=2)

    def loss(mu: torch.Tensor, log_var: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
        z = mu.unsqueeze(1) + (0.5 * log_var).exp().unsqueeze(1) * eps
        output = type(out)(x_hat=x_hat, z=z, mu=mu, log_var=log_var)
        return model.compute_loss(x, output, beta=0.7).objective

    eps = torch.randn_like(out.z)
    inputs = tuple(t.detach().requires_grad_() for t in (out.mu, out.log_var, out.x_hat))
    assert torch.autograd.gradcheck(loss, inputs)
