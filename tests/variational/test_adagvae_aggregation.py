"""AdaGVAE's ML-VAE aggregation and known-k variant (Locatello et al. 2020)."""

from __future__ import annotations

import pytest
import torch
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
