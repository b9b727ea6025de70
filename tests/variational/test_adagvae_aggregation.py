"""AdaGVAE beyond C-ADA: ML-VAE aggregation, known-k variant (Locatello et al. 2020), single-input
methods delegated to the inner VAE, and training on pairs."""

from __future__ import annotations

import pytest
import torch
from torch import distributions as D
from torch import nn

from pyautoencoder.variational import VAE, AdaGVAE
from pyautoencoder.variational._adagvae import adaptive_group_posteriors


def _params() -> tuple[torch.Tensor, ...]:
    gen = torch.Generator().manual_seed(0)
    return tuple(torch.randn(3, 5, dtype=torch.float64, generator=gen) for _ in range(4))


def _kl_per_dim(mu1, lv1, mu2, lv2):  # type: ignore[no-untyped-def]
    return 0.5 * (lv2 - lv1 + (lv1.exp() + (mu1 - mu2) ** 2) / lv2.exp() - 1)


def test_mlvae_aggregation_is_the_normalised_product_of_experts() -> None:
    mu1, lv1, mu2, lv2 = _params()
    new = adaptive_group_posteriors(mu1, lv1, mu2, lv2, aggregation="mlvae")
    kl = _kl_per_dim(mu1, lv1, mu2, lv2)
    tau = 0.5 * (kl.max(1, keepdim=True).values + kl.min(1, keepdim=True).values)
    shared = kl < tau
    var1, var2 = lv1.exp(), lv2.exp()
    var = 2 * var1 * var2 / (var1 + var2)  # precision (1/var1 + 1/var2) / 2
    mean = (mu1 / var1 + mu2 / var2) * var / 2
    torch.testing.assert_close(new[0], torch.where(shared, mean, mu1))
    torch.testing.assert_close(new[1], torch.where(shared, var.log(), lv1))
    torch.testing.assert_close(new[2], torch.where(shared, mean, mu2))
    torch.testing.assert_close(new[3], torch.where(shared, var.log(), lv2))


@pytest.mark.parametrize("k", [0, 1, 3, 5])
def test_known_k_shares_the_dims_with_smallest_kl(k: int) -> None:
    mu1, lv1, mu2, lv2 = _params()
    new_mu1, new_lv1, new_mu2, _ = adaptive_group_posteriors(mu1, lv1, mu2, lv2, k=k)
    order = _kl_per_dim(mu1, lv1, mu2, lv2).argsort(dim=1)  # ascending KL
    shared = torch.zeros(3, 5, dtype=torch.bool)
    shared.scatter_(1, order[:, : 5 - k], True)  # the D_z - k smallest
    mean = (mu1 + mu2) / 2
    log_var = torch.log((lv1.exp() + lv2.exp()) / 2)
    torch.testing.assert_close(new_mu1, torch.where(shared, mean, mu1))
    torch.testing.assert_close(new_mu2, torch.where(shared, mean, mu2))
    torch.testing.assert_close(new_lv1, torch.where(shared, log_var, lv1))


def test_default_behaviour_is_unchanged() -> None:
    mu1, lv1, mu2, lv2 = _params()
    default = adaptive_group_posteriors(mu1, lv1, mu2, lv2)
    explicit = adaptive_group_posteriors(mu1, lv1, mu2, lv2, aggregation="gvae", k=None)
    for a, b in zip(default, explicit):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize(("aggregation", "k"), [("mlvae", None), ("gvae", 2), ("mlvae", 1)])
def test_variants_train_and_compile(aggregation: str, k: int | None) -> None:
    torch.manual_seed(0)
    vae = VAE(nn.Sequential(nn.Linear(6, 8), nn.Tanh()), nn.Linear(4, 6), 4)
    model = AdaGVAE(vae, aggregation=aggregation, k=k)  # type: ignore[arg-type]
    model.build(torch.zeros(1, 6))
    x1, x2 = torch.randn(5, 6), torch.randn(5, 6)

    def step(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return model.compute_loss((a, b), model((a, b))).objective

    loss = torch.compile(step, fullgraph=True, backend="eager")(x1, x2)
    loss.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"aggregation": "poe"}, "aggregation must be 'gvae' or 'mlvae'"),
        ({"k": 5}, r"k must be None or an int in \[0, latent_dim\] = \[0, 4\]"),
        ({"k": -1}, r"k must be None or an int in \[0, latent_dim\]"),
    ],
)
def test_bad_arguments(kwargs: dict, message: str) -> None:
    vae = VAE(nn.Linear(6, 8), nn.Linear(4, 6), 4)
    with pytest.raises(ValueError, match=message):
        AdaGVAE(vae, **kwargs)


def _pair_model() -> AdaGVAE:
    torch.manual_seed(0)
    vae = VAE(nn.Sequential(nn.Linear(6, 16), nn.Tanh()), nn.Linear(3, 6), 3)
    model = AdaGVAE(vae)
    model.build(torch.zeros(2, 6))
    return model


def test_single_input_methods_delegate_to_the_inner_vae() -> None:
    model = _pair_model()
    model.train()
    x = torch.randn(5, 6)
    enc = model.encode(x)
    torch.testing.assert_close(enc.z, model.vae.encode(x).z)
    assert not enc.z.requires_grad and model.training and model.vae.training
    torch.testing.assert_close(model.decode(enc.z).x_hat, model.vae.decode(enc.z).x_hat)
    torch.manual_seed(3)
    sampled = model.encode(x, S=4, sample=True).z
    torch.manual_seed(3)
    torch.testing.assert_close(sampled, model.vae.encode(x, S=4, sample=True).z)

    posterior = model.posterior(x)
    assert isinstance(posterior, D.Distribution) and posterior.event_shape == (3,)
    torch.testing.assert_close(posterior.mean, enc.mu)
    torch.testing.assert_close(posterior.variance, enc.log_var.exp())
    z = torch.randn(5, 3)
    torch.testing.assert_close(
        model.prior.log_prob(z), D.Independent(D.Normal(0.0, torch.ones(3)), 1).log_prob(z)
    )

    assert model.likelihood is model.vae.likelihood
    torch.manual_seed(4)
    samples = model.sample(7)
    torch.manual_seed(4)
    torch.testing.assert_close(samples, model.vae.sample(7))
    assert samples.shape == (7, 6)
    torch.testing.assert_close(model.reconstruct(x), model.decode(enc.z).x_hat.squeeze(1))


def test_training_on_pairs_lowers_the_objective() -> None:
    """A tiny weakly supervised set: pairs share factor 0 and differ in factor 1."""
    model = _pair_model()
    generator = torch.Generator().manual_seed(1)
    mixing = torch.randn(2, 6, generator=generator)
    shared = torch.randn(128, 1, generator=generator)
    x1 = torch.cat([shared, torch.randn(128, 1, generator=generator)], dim=1) @ mixing
    x2 = torch.cat([shared, torch.randn(128, 1, generator=generator)], dim=1) @ mixing
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(100):
        loss = model.compute_loss((x1, x2), model((x1, x2))).objective
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    first, last = sum(losses[:10]) / 10, sum(losses[-10:]) / 10
    assert last < 0.7 * first, (first, last)


def test_elbo_unweighted_is_the_sum_of_both_true_elbos() -> None:
    model = _pair_model()
    x1, x2 = torch.randn(4, 6), torch.randn(4, 6)
    output = model((x1, x2), S=2)
    diagnostics = model.compute_loss((x1, x2), output, beta=3.0).diagnostics
    expected = (
        diagnostics["log_likelihood_x1"]
        - diagnostics["kl_divergence_x1"]
        + diagnostics["log_likelihood_x2"]
        - diagnostics["kl_divergence_x2"]
    )
    torch.testing.assert_close(diagnostics["elbo_unweighted"], expected)
    weighted = expected - 2.0 * (diagnostics["kl_divergence_x1"] + diagnostics["kl_divergence_x2"])
    torch.testing.assert_close(diagnostics["elbo"], weighted)  # beta = 3: two more KLs each
