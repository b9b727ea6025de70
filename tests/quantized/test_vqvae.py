"""VQVAE: the BaseAutoencoder contract, eq. 3 objective with every likelihood, inverse API."""

from __future__ import annotations

import copy
import math

import pytest
import torch
from torch import nn

from pyautoencoder.distributions import available_likelihoods, get_likelihood
from pyautoencoder.quantized import VQVAE, VQVAEOutput
from pyautoencoder.registry import get_model_entry

CODE_DIM = 3


def _model(
    features: int = 6, x_hat_shape: tuple[int, ...] | None = None, **kwargs: object
) -> VQVAE:
    torch.manual_seed(0)
    out_shape = (features,) if x_hat_shape is None else x_hat_shape
    encoder = nn.Sequential(nn.Linear(features, 16), nn.Tanh(), nn.Linear(16, CODE_DIM))
    decoder = nn.Sequential(
        nn.Linear(CODE_DIM, 16),
        nn.Tanh(),
        nn.Linear(16, math.prod(out_shape)),
        nn.Unflatten(1, out_shape),
    )
    kwargs.setdefault("num_codes", 8)
    model = VQVAE(encoder, decoder, code_dim=CODE_DIM, **kwargs)  # type: ignore[arg-type]
    with torch.no_grad():
        model.quantizer.codebook.copy_(torch.randn(model.num_codes, CODE_DIM))
        if model.quantizer.ema:
            model.quantizer.ema_code_sum.copy_(model.quantizer.codebook)
    return model


def _data(name: str, batch: int = 10, features: int = 6) -> torch.Tensor:
    generator = torch.Generator().manual_seed(1)
    if name in ("bernoulli", "continuous_bernoulli"):
        return torch.rand(batch, features, generator=generator, dtype=torch.float64)
    if name == "categorical":
        return torch.randint(0, 256, (batch, features), generator=generator).double()
    return torch.randn(batch, features, generator=generator, dtype=torch.float64)


@pytest.mark.parametrize("ema", [True, False])
def test_loss_equals_an_independent_recomputation(ema: bool) -> None:
    model = _model(ema=ema, beta=0.3).double()
    x = _data("gaussian")
    out = model(x, update_codebook=False)
    result = model.compute_loss(x, out)
    # by hand: encoder, nearest code by cdist, decoder on the code, eq. 3 terms
    z_e = model.encoder(x)
    k = torch.cdist(z_e, model.quantizer.codebook).argmin(dim=1)
    e = model.quantizer.codebook[k]
    x_hat = model.decoder(e)
    nll = 0.5 * (x - x_hat).square().sum(dim=1).mean()
    vq = (z_e - e).square().sum(dim=1).mean()
    expected = nll + 0.3 * vq + (0.0 if ema else vq)
    torch.testing.assert_close(result.objective, expected)
    torch.testing.assert_close(result.diagnostics["log_likelihood"], -nll.detach())
    torch.testing.assert_close(result.diagnostics["commitment_loss"], vq.detach())
    torch.testing.assert_close(result.diagnostics["codebook_loss"], vq.detach())
    assert torch.equal(out.indices, k)
    for value in result.diagnostics.values():
        assert value.dim() == 0 and not value.requires_grad


@pytest.mark.parametrize("name", available_likelihoods())
def test_every_likelihood_of_the_library(name: str) -> None:
    likelihood = get_likelihood(name)
    x = _data(name)
    x_hat_shape = likelihood.x_hat_shape(x.shape)[1:]
    model = _model(x_hat_shape=x_hat_shape, likelihood=name).double()
    out = model(x, update_codebook=False)
    result = model.compute_loss(x, out)
    log_lik = likelihood.log_prob(x, out.x_hat).reshape(x.shape[0], -1).sum(dim=1).mean()
    torch.testing.assert_close(result.objective, -log_lik + out.quantization.loss)
    result.objective.backward()
    assert all(p.grad is not None for p in model.parameters())


def test_encode_returns_indices_and_decode_accepts_them_or_codes() -> None:
    model = _model()
    model.train()
    before = copy.deepcopy(model.state_dict())
    x = _data("gaussian").float()
    enc = model.encode(x)
    assert enc.indices.shape == (10,) and enc.z.shape == (10, CODE_DIM)
    assert not enc.z.requires_grad
    for key, value in model.state_dict().items():  # encode never updates the codebook
        assert torch.equal(value, before[key]), key
    from_indices = model.decode(enc.indices).x_hat
    from_codes = model.decode(enc.z).x_hat
    torch.testing.assert_close(from_indices, from_codes)
    torch.testing.assert_close(model.reconstruct(x), from_codes)
    with pytest.raises(ValueError, match="code_dim = 3"):
        model.decode(torch.randn(4, 5))


def test_feature_maps_quantise_per_position() -> None:
    torch.manual_seed(0)
    encoder = nn.Conv2d(1, 4, 3, padding=1)
    decoder = nn.Conv2d(4, 1, 3, padding=1)
    model = VQVAE(encoder, decoder, num_codes=16, code_dim=4)
    x = torch.randn(2, 1, 5, 5)
    out = model(x)
    assert out.indices.shape == (2, 5, 5) and out.z.shape == (2, 4, 5, 5)
    assert model.decode(out.indices).x_hat.shape == x.shape
    assert torch.isfinite(model.compute_loss(x, out).objective)


def test_registered_for_the_generic_factory() -> None:
    entry = get_model_entry("vqvae")
    assert entry.cls is VQVAE and entry.latent == "code" and entry.latent_arg == "code_dim"
    # the factory's convention: encoder ends in latent_dim features, latent_dim -> code_dim
    model = entry.cls(nn.Sequential(nn.Flatten(), nn.LazyLinear(5)), nn.LazyLinear(7), code_dim=5)
    assert model.num_codes == 512
    x = torch.randn(4, 7)
    model.build(x)
    assert model.compute_loss(x, model(x)).objective.dim() == 0


def test_code_dim_mismatch_names_both_sizes() -> None:
    model = VQVAE(nn.Linear(6, 5), nn.Linear(4, 6), num_codes=8, code_dim=4)
    with pytest.raises(ValueError, match=r"code_dim = 4.*\(2, 5\) with 5"):
        model(torch.randn(2, 6))
    with pytest.raises(ValueError, match="num_codes"):
        VQVAE(nn.Linear(6, 4), nn.Linear(4, 6), num_codes=0, code_dim=4)


def test_unbuilt_model_loads_a_built_state_dict() -> None:
    def make() -> VQVAE:
        return VQVAE(nn.LazyLinear(CODE_DIM), nn.LazyLinear(6), num_codes=8, code_dim=CODE_DIM)

    torch.manual_seed(0)
    source = make()
    x = torch.randn(10, 6)
    source.build(x)
    source.train()
    source(x)  # one EMA step so the buffers are not at their initial values
    target = make()
    target.load_state_dict(source.state_dict(), strict=True)
    source.eval()
    target.eval()
    a, b = source(x), target(x)
    assert torch.equal(a.indices, b.indices)
    torch.testing.assert_close(a.x_hat, b.x_hat)


@pytest.mark.parametrize("kwargs", [{"dead_code_steps": 5}, {"ema": False}, {"cosine": True}])
def test_loss_falls_on_clustered_data(kwargs: dict) -> None:
    generator = torch.Generator().manual_seed(0)
    centers = torch.randn(4, 6, generator=generator) * 3
    x = centers[torch.arange(64) % 4] + 0.1 * torch.randn(64, 6, generator=generator)
    model = _model(**kwargs)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(150):
        result = model.compute_loss(x, model(x))
        optimizer.zero_grad()
        result.objective.backward()
        optimizer.step()
        losses.append(float(result.objective.detach()))
    assert sum(losses[-10:]) / 10 < 0.3 * sum(losses[:10]) / 10
    assert float(result.diagnostics["perplexity"]) > 2.0


@pytest.mark.parametrize("ema", [True, False])
def test_forward_and_loss_compile_with_fullgraph(ema: bool) -> None:
    eager = _model(ema=ema)
    compiled_model = copy.deepcopy(eager)
    x = _data("gaussian").float()

    def step(model: VQVAE, x: torch.Tensor) -> torch.Tensor:
        return model.compute_loss(x, model(x)).objective

    compiled = torch.compile(step, fullgraph=True, backend="eager")
    for _ in range(2):
        torch.testing.assert_close(compiled(compiled_model, x), step(eager, x))
    torch.testing.assert_close(compiled_model.quantizer.codebook, eager.quantizer.codebook)


def test_output_repr_shows_shapes() -> None:
    model = _model()
    out = model(_data("gaussian").float())
    assert isinstance(out, VQVAEOutput)
    assert "indices=Tensor(shape=(10,), dtype=torch.int64)" in repr(out)


@pytest.mark.parametrize("options", [{}, {"dead_code_steps": None}])
def test_codes_unused_for_100_steps_are_reset_by_default(options: dict) -> None:
    model = _model(**options).train()
    x = _data("gaussian").float()
    quantizer = model.quantizer
    with torch.no_grad():  # collapsed: code 0 at the origin, every other code far away
        quantizer.codebook.fill_(50.0)
        quantizer.codebook[0] = 0.0
        quantizer.ema_code_sum.copy_(quantizer.codebook)
        quantizer.steps_since_used.fill_(99)
    model(x)  # codes 1.. reach 100 unused steps: dead from the next training step
    assert float(quantizer.codebook[1:].min()) > 49.0  # not yet (the EMA moves them a little)
    model(x)
    nearest = quantizer.codebook[1:].abs().min()
    if options:  # dead_code_steps=None: the paper's VQ-VAE keeps its dead codes
        assert quantizer.dead_code_steps is None and float(nearest) > 49.0
    else:  # all replaced by encoder outputs of the batch
        assert quantizer.dead_code_steps == 100
        assert float(quantizer.codebook[1:].abs().max()) < 10.0
