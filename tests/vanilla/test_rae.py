"""RAE: code and decoder regularisers against float64 recomputations; ex-post density."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from pyautoencoder.registry import get_model_entry
from pyautoencoder.vanilla import RAE
from pyautoencoder.vanilla._rae import decoder_jacobian_frobenius_sq

# torch scripts its forward-mode decompositions on the first jvp and warns about its own use of
# torch.jit.script; nothing of ours.
pytestmark = pytest.mark.filterwarnings(
    "ignore:`torch.jit.script` is deprecated:DeprecationWarning"
)


def _nets() -> tuple[nn.Module, nn.Module]:
    torch.manual_seed(0)
    encoder = nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 2)).double()
    decoder = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 6)).double()
    return encoder, decoder


def _explicit_decoder_norm(decoder: nn.Module, z: torch.Tensor) -> torch.Tensor:
    rows = [
        torch.autograd.functional.jacobian(
            lambda t: decoder(t.unsqueeze(0)).squeeze(0), code, create_graph=True
        )
        .square()
        .sum()
        for code in z
    ]
    return torch.stack(rows)


def test_gradient_penalty_equals_the_explicit_decoder_jacobian() -> None:
    _, decoder = _nets()
    z = torch.randn(5, 2, dtype=torch.float64)
    torch.testing.assert_close(
        decoder_jacobian_frobenius_sq(decoder, z), _explicit_decoder_norm(decoder, z)
    )


@pytest.mark.parametrize("regularizer", ["gradient_penalty", "weight_decay", "none"])
def test_loss_equals_an_independent_recomputation(regularizer: str) -> None:
    encoder, decoder = _nets()
    model = RAE(
        encoder, decoder, 2, code_weight=0.3, regularizer=regularizer, regularizer_weight=0.2
    )
    x = torch.randn(7, 6, dtype=torch.float64)
    result = model.compute_loss(x, model(x))
    z = encoder(x)
    nll = 0.5 * (x - decoder(z)).square().sum(dim=1).mean()
    code = 0.5 * z.square().sum(dim=1).mean()
    reg = {
        "gradient_penalty": _explicit_decoder_norm(decoder, z).mean(),
        "weight_decay": sum(p.square().sum() for p in decoder.parameters()),
        "none": torch.zeros((), dtype=torch.float64),
    }[regularizer]
    torch.testing.assert_close(result.objective, nll + 0.3 * code + 0.2 * reg)
    torch.testing.assert_close(result.diagnostics["code_norm_sq"], code.detach())
    torch.testing.assert_close(result.diagnostics["decoder_regularizer"], reg.detach())
    params = list(model.parameters())
    got = torch.autograd.grad(result.objective, params)
    want = torch.autograd.grad(nll + 0.3 * code + 0.2 * reg, params)
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b)


def test_ex_post_density_fits_the_codes_and_samples() -> None:
    generator = torch.Generator().manual_seed(0)
    centres = torch.tensor([[-4.0, 0.0], [4.0, 1.0]])
    codes = centres[torch.arange(400) % 2] + 0.5 * torch.randn(400, 2, generator=generator)
    model = RAE(nn.Identity(), nn.Linear(2, 3), 2, num_components=2)
    with pytest.raises(RuntimeError, match="fit_density"):
        model.sample(3)
    mean_log_density = model.fit_density(codes, batch_size=64)
    density = model.density()
    torch.testing.assert_close(
        density.log_prob(codes).mean(), torch.tensor(mean_log_density), atol=1e-3, rtol=0
    )
    assert (
        float(torch.cdist(centres, density.component_distribution.mean).min(1).values.max()) < 0.2
    )
    torch.manual_seed(1)
    draws = density.sample((4000,))
    torch.testing.assert_close(draws.mean(0), codes.mean(0), atol=0.2, rtol=0)
    assert model.sample(5).shape == (5, 3)
    # the density is part of the state: a fresh model loads it
    fresh = RAE(nn.Identity(), nn.Linear(2, 3), 2, num_components=2)
    fresh.load_state_dict(model.state_dict())
    torch.testing.assert_close(fresh.density().log_prob(codes), density.log_prob(codes))


def test_fit_density_accepts_a_data_loader_of_tuples() -> None:
    data = torch.randn(50, 2)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(data, data), batch_size=8)
    a = RAE(nn.Identity(), nn.Linear(2, 3), 2, num_components=3)
    b = RAE(nn.Identity(), nn.Linear(2, 3), 2, num_components=3)
    assert a.fit_density(loader) == pytest.approx(b.fit_density(data))


@pytest.mark.parametrize("regularizer", ["gradient_penalty", "weight_decay", "none"])
def test_compiles_with_fullgraph(regularizer: str) -> None:
    encoder, decoder = _nets()
    model = RAE(encoder, decoder, 2, regularizer=regularizer).float()
    x = torch.randn(5, 6)
    step = torch.compile(
        lambda x: model.compute_loss(x, model(x)).objective, fullgraph=True, backend="eager"
    )
    torch.testing.assert_close(step(x), model.compute_loss(x, model(x)).objective)


def test_loss_falls_with_a_bernoulli_likelihood() -> None:
    generator = torch.Generator().manual_seed(0)
    x = (torch.rand(3, 6, generator=generator) > 0.5).double()[torch.arange(48) % 3]
    encoder, decoder = _nets()
    model = RAE(encoder, decoder, 2, likelihood="bernoulli")
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(150):
        result = model.compute_loss(x, model(x))
        optimizer.zero_grad()
        result.objective.backward()
        optimizer.step()
        losses.append(float(result.objective.detach()))
    assert losses[-1] < 0.3 * losses[0]


def test_bad_arguments_and_code_shape() -> None:
    encoder, decoder = _nets()
    with pytest.raises(ValueError, match="regularizer must be"):
        RAE(encoder, decoder, 2, regularizer="spectral")
    with pytest.raises(ValueError, match="latent_dim"):
        RAE(encoder, decoder, 0)
    model = RAE(encoder, decoder, 3)
    with pytest.raises(ValueError, match=r"\[B, 3\].*\(4, 2\)"):
        model(torch.randn(4, 6, dtype=torch.float64))


def test_registered_for_the_generic_factory() -> None:
    entry = get_model_entry("rae")
    assert entry.cls is RAE and entry.latent == "code" and entry.latent_arg == "latent_dim"
