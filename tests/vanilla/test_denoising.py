"""DenoisingAE: corruption statistics, clean-target loss, train/eval behaviour, errors."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from pyautoencoder.registry import get_model_entry
from pyautoencoder.vanilla import (
    DenoisingAE,
    GaussianCorruption,
    MaskingCorruption,
    SaltAndPepperCorruption,
)

# Monte Carlo: 200,000 elements, a proportion p is estimated within 5 standard errors.
N = 200_000


def _tolerance(p: float) -> float:
    return 5 * (p * (1 - p) / N) ** 0.5


def _model(**kwargs: object) -> DenoisingAE:
    torch.manual_seed(0)
    encoder = nn.Sequential(nn.Linear(8, 16), nn.Tanh(), nn.Linear(16, 3))
    decoder = nn.Sequential(nn.Linear(3, 16), nn.Tanh(), nn.Linear(16, 8))
    return DenoisingAE(encoder, decoder, **kwargs)  # type: ignore[arg-type]


def test_masking_zeroes_a_fraction_noise_level_and_keeps_the_rest() -> None:
    torch.manual_seed(0)
    x = torch.rand(N) + 0.5  # never 0 before corruption
    x_tilde = MaskingCorruption(0.3)(x)
    zeroed = x_tilde == 0
    assert abs(float(zeroed.double().mean()) - 0.3) < _tolerance(0.3)
    assert torch.equal(x_tilde[~zeroed], x[~zeroed])


def test_salt_and_pepper_sets_half_high_half_low() -> None:
    torch.manual_seed(0)
    x = torch.rand(N) * 0.5 + 0.25  # strictly inside (0, 1)
    x_tilde = SaltAndPepperCorruption(0.2)(x)
    salt, pepper = x_tilde == 1.0, x_tilde == 0.0
    assert abs(float(salt.double().mean()) - 0.1) < _tolerance(0.1)
    assert abs(float(pepper.double().mean()) - 0.1) < _tolerance(0.1)
    kept = ~(salt | pepper)
    assert torch.equal(x_tilde[kept], x[kept])


def test_gaussian_noise_has_the_requested_standard_deviation() -> None:
    torch.manual_seed(0)
    x = torch.rand(N, dtype=torch.float64)
    noise = GaussianCorruption(0.4)(x) - x
    # mean within 5 standard errors of 0, std within 1 % (5 standard errors of the std)
    assert abs(float(noise.mean())) < 5 * 0.4 / N**0.5
    assert float(noise.std()) == pytest.approx(0.4, rel=5 * (0.5 / N) ** 0.5)


@pytest.mark.parametrize("corruption", ["gaussian", "masking", "salt_and_pepper"])
def test_loss_compares_the_reconstruction_of_the_corrupted_input_with_the_clean_one(
    corruption: str,
) -> None:
    model = _model(corruption=corruption, noise_level=0.5).double()
    model.train()
    x = torch.rand(6, 8, dtype=torch.float64)
    torch.manual_seed(3)
    out = model(x)
    assert not torch.equal(out.x_tilde, x)
    x_hat = model.decoder(model.encoder(out.x_tilde))  # independent recomputation
    torch.testing.assert_close(out.x_hat, x_hat)
    result = model.compute_loss(x, out)
    torch.testing.assert_close(result.objective, 0.5 * (x - x_hat).square().sum(dim=1).mean())
    noisy_target = 0.5 * (out.x_tilde - x_hat).square().sum(dim=1).mean()
    assert not torch.allclose(result.objective, noisy_target)


def test_corruption_only_in_training_mode_or_when_asked() -> None:
    model = _model(noise_level=0.5)
    x = torch.rand(64, 8)
    model.eval()
    assert model(x).x_tilde is x
    torch.manual_seed(1)
    corrupted = model(x, corrupt=True).x_tilde
    assert not torch.equal(corrupted, x)
    model.train()
    assert model(x, corrupt=False).x_tilde is x
    torch.manual_seed(1)
    torch.testing.assert_close(model(x).x_tilde, corrupted)  # same seed, same draw
    assert model.encode(x).z.shape == (64, 3)  # encode never corrupts
    torch.testing.assert_close(model.encode(x).z, model.encoder(x).detach())


def test_bernoulli_likelihood_and_loss_falls() -> None:
    generator = torch.Generator().manual_seed(0)
    basis = (torch.rand(3, 8, generator=generator) > 0.5).float()
    x = basis[torch.arange(48) % 3]
    model = _model(corruption="salt_and_pepper", noise_level=0.2, likelihood="bernoulli")
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    first = None
    for _ in range(200):
        result = model.compute_loss(x, model(x))
        optimizer.zero_grad()
        result.objective.backward()
        optimizer.step()
        first = float(result.objective.detach()) if first is None else first
    model.eval()
    final = float(model.compute_loss(x, model(x)).objective.detach())
    assert final < 0.2 * first


@pytest.mark.parametrize("corruption", ["gaussian", "masking", "salt_and_pepper"])
def test_compiles_with_fullgraph(corruption: str) -> None:
    model = _model(corruption=corruption, noise_level=0.3)
    model.train()
    x = torch.rand(5, 8)
    step = torch.compile(
        lambda x: model.compute_loss(x, model(x)).objective, fullgraph=True, backend="eager"
    )
    assert torch.isfinite(step(x))


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match=r"noise_level must lie in \[0, 1\], got 1.5"):
        _model(noise_level=1.5)
    with pytest.raises(ValueError, match="noise_level"):
        MaskingCorruption(-0.1)
    with pytest.raises(ValueError, match="corruption must be one of"):
        _model(corruption="blur")
    with pytest.raises(ValueError, match="low must be < high"):
        SaltAndPepperCorruption(0.1, low=1.0, high=0.0)


def test_registered_for_the_generic_factory() -> None:
    entry = get_model_entry("denoising_ae")
    assert entry.cls is DenoisingAE and entry.latent == "code" and entry.latent_arg is None
