"""VAE with latent maps (``latent_shape = (C, h, w)``): the KL autoencoder of latent diffusion.

The reference for most checks is the flat VAE: a map VAE defines the same model as a flat VAE
whose encoder returns the maps' ``mu, log_var`` flattened (selected by identity heads) and
whose decoder unflattens ``z``, so with the same seed every bound, estimate and gradient of the
map VAE equals the flat one's (tested against closed forms elsewhere). The KL and densities
are also checked directly against ``torch.distributions`` in float64.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import distributions as D
from torch import nn

from pyautoencoder.evaluation import active_units, elbo, kl_per_dimension, log_likelihood_estimate
from pyautoencoder.nets import create_model
from pyautoencoder.objectives import (
    ELBO,
    DIPPenalty,
    ImportanceWeightedBound,
    MMDPenalty,
    Objective,
    TotalCorrelation,
)
from pyautoencoder.pretrained import from_pretrained, save_pretrained
from pyautoencoder.variational import VAE
from pyautoencoder.variational.stochastic_layers import SpatialGaussian

SHAPE = (3, 4, 4)  # latent maps: C = 3 channels of 4 x 4
LATENT_DIM = 48


def _map_vae(objective: Objective | None = None, dtype: torch.dtype = torch.float64) -> VAE:
    torch.manual_seed(0)
    encoder = nn.Conv2d(2, 6, 3, stride=2, padding=1)  # [B, 2, 8, 8] -> [B, 6, 4, 4]
    decoder = nn.Sequential(nn.Upsample(scale_factor=2.0), nn.Conv2d(3, 2, 3, padding=1))
    model = VAE(encoder, decoder, latent_shape=SHAPE, objective=objective)
    model.build(torch.zeros(2, 2, 8, 8))
    return model.to(dtype)


class _FlatParams(nn.Module):
    """``x -> cat(mu.flatten(1), log_var.flatten(1))`` of the map VAE: ``[B, 2 D_z]``."""

    def __init__(self, maps: VAE) -> None:
        super().__init__()
        self.maps = maps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mu, log_var = self.maps.sampling_layer.get_params(self.maps.encoder(x))
        return torch.cat([mu.flatten(1), log_var.flatten(1)], dim=1)


class _Unflatten(nn.Module):
    def __init__(self, maps: VAE) -> None:
        super().__init__()
        self.maps = maps

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.maps.decoder(z.reshape(z.shape[0], *SHAPE))


def _flat_twin(maps: VAE, objective: Objective | None = None) -> VAE:
    """A flat VAE with the same posterior, prior and decoder as ``maps`` (shared weights)."""
    flat = VAE(_FlatParams(maps), _Unflatten(maps), LATENT_DIM, objective=objective)
    flat.to(torch.float64).build(torch.zeros(2, 2, 8, 8, dtype=torch.float64))
    eye, zeros = torch.eye(LATENT_DIM), torch.zeros(LATENT_DIM, LATENT_DIM)
    with torch.no_grad():
        flat.sampling_layer.mu.weight.copy_(torch.cat([eye, zeros], dim=1))
        flat.sampling_layer.log_var.weight.copy_(torch.cat([zeros, eye], dim=1))
        flat.sampling_layer.mu.bias.zero_()
        flat.sampling_layer.log_var.bias.zero_()
    return flat


def _x(batch: int = 5) -> torch.Tensor:
    return torch.rand(batch, 2, 8, 8, generator=torch.Generator().manual_seed(1)).double()


def test_shapes_of_every_output() -> None:
    model, x = _map_vae(), _x()
    assert model.latent_shape == SHAPE and model.latent_dim == LATENT_DIM
    output = model(x, S=3)
    assert output.z.shape == (5, 3, *SHAPE)
    assert output.mu.shape == output.log_var.shape == (5, *SHAPE)
    assert output.x_hat.shape == (5, 3, 2, 8, 8)
    assert model.encode(x).z.shape == (5, 1, *SHAPE)
    assert torch.equal(model.encode(x).z[:, 0], model.encode(x).mu)
    assert model.decode(model.encode(x).z).x_hat.shape == (5, 1, 2, 8, 8)
    assert model.sample(4).shape == (4, 2, 8, 8)
    assert model.reconstruct(x).shape == (5, 2, 8, 8)
    assert model.posterior(x).event_shape == SHAPE
    assert model.prior.event_shape == SHAPE
    assert model.kl_per_dim(output).shape == (5, LATENT_DIM)
    assert isinstance(model.sampling_layer, SpatialGaussian)


def test_kl_and_densities_match_torch_distributions_in_float64() -> None:
    model, x = _map_vae(), _x()
    output = model(x, S=2)
    q = D.Independent(D.Normal(output.mu, torch.exp(0.5 * output.log_var)), 3)
    p = D.Independent(D.Normal(torch.zeros(SHAPE).double(), torch.ones(SHAPE).double()), 3)
    torch.testing.assert_close(model.kl_per_dim(output).sum(-1), D.kl_divergence(q, p))
    z = output.z.transpose(0, 1)  # [S, B, C, h, w]
    torch.testing.assert_close(model.posterior_log_prob(output), q.log_prob(z).T)
    torch.testing.assert_close(model.prior_log_prob(output), p.log_prob(z).T)
    torch.testing.assert_close(model.prior.log_prob(z), p.log_prob(z))
    torch.testing.assert_close(model.posterior(x).log_prob(z), q.log_prob(z))


@pytest.mark.parametrize(
    "objective",
    [
        lambda: ELBO(),
        lambda: ELBO(beta=4.0, free_bits=0.05),
        lambda: ImportanceWeightedBound(4),
        lambda: ImportanceWeightedBound(4, gradient_estimator="dreg"),
        lambda: ELBO() + DIPPenalty("ii", 2.0),
        lambda: ELBO() + MMDPenalty(weight=3.0),
        lambda: TotalCorrelation(beta=5.0, sampling="mss", dataset_size=100),
    ],
    ids=["elbo", "free-bits", "iwae", "dreg", "dip", "mmd", "tc"],
)
def test_objectives_equal_those_of_the_flat_twin(objective) -> None:
    maps = _map_vae(objective())
    flat = _flat_twin(maps, objective())
    x = _x()
    results = []
    for model in (maps, flat):
        torch.manual_seed(3)
        result = model.compute_loss(x, model(x))
        grads = torch.autograd.grad(result.objective, list(maps.parameters()))
        results.append((result, grads))
    (map_result, map_grads), (flat_result, flat_grads) = results
    torch.testing.assert_close(map_result.objective, flat_result.objective)
    assert map_result.diagnostics.keys() == flat_result.diagnostics.keys()
    for key, value in map_result.diagnostics.items():
        torch.testing.assert_close(value, flat_result.diagnostics[key])
    for map_grad, flat_grad in zip(map_grads, flat_grads, strict=True):
        torch.testing.assert_close(map_grad, flat_grad)


def test_evaluation_equals_the_flat_twin() -> None:
    maps = _map_vae()
    flat = _flat_twin(maps)
    x = _x(7)
    for estimate in (log_likelihood_estimate, elbo):
        a, b = (estimate(m, x, 6, chunk_size=4, seed=0) for m in (maps, flat))
        torch.testing.assert_close(a.values, b.values)
    torch.testing.assert_close(active_units(maps, x).variances, active_units(flat, x).variances)
    torch.testing.assert_close(kl_per_dimension(maps, x), kl_per_dimension(flat, x))
    torch.manual_seed(5)
    drawn = maps.sample(3)
    torch.manual_seed(5)
    torch.testing.assert_close(drawn, flat.sample(3))


def test_latent_argument_errors() -> None:
    encoder, decoder = nn.Conv2d(2, 6, 1), nn.Conv2d(3, 2, 1)
    with pytest.raises(ValueError, match="exactly one"):
        VAE(encoder, decoder, 4, latent_shape=(3, 4, 4))
    with pytest.raises(TypeError, match=r"latent_dim must be a positive int .*latent_shape"):
        VAE(encoder, decoder)
    with pytest.raises(ValueError, match=r"\(C, h, w\)"):
        VAE(encoder, decoder, latent_shape=(1, 2, 3, 4, 5))
    with pytest.raises(TypeError, match="latent_shape must be a sequence"):
        VAE(encoder, decoder, latent_shape=4)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="diagonal Gaussian posterior only"):
        VAE(encoder, decoder, latent_shape=(3, 4, 4), posterior="iaf:2")
    model = _map_vae()
    with pytest.raises(ValueError, match=r"\[B, S, 3, 4, 4\].*unsqueeze\(1\)"):
        model.decode(torch.zeros(2, 3, 4, 4).double())
    with pytest.raises(ValueError, match=r"encoder features must be maps \[B, F, 4, 4\]"):
        model(torch.zeros(2, 2, 16, 16).double())


def test_flat_vae_given_as_a_one_dimensional_shape_is_the_flat_vae() -> None:
    model = VAE(nn.Linear(4, 6), nn.Linear(3, 4), latent_shape=(3,))
    assert model.latent_dim == 3 and model.latent_shape == (3,)
    assert model(torch.zeros(2, 4)).z.shape == (2, 1, 3)


def test_create_model_builds_latent_maps_without_latent_dim(tmp_path: Path) -> None:
    model = create_model("vae", net="resnet", image_size=8, channels=(8, 16), latent_channels=2)
    assert model.latent_shape == (2, 4, 4)
    assert model.pretrained_config["model"]["latent_dim"] is None
    assert model.pretrained_config["model"]["latent_channels"] == 2
    model.eval()
    x = torch.rand(3, 3, 8, 8)
    save_pretrained(model, tmp_path)
    loaded = from_pretrained(tmp_path)
    assert json.loads((tmp_path / "config.json").read_text())["model"]["input_shape"] == [3, 8, 8]
    expected, got = model(x, sample=False), loaded(x, sample=False)
    assert torch.equal(expected.mu, got.mu) and torch.equal(expected.x_hat, got.x_hat)
    fresh = VAE(model.encoder, model.decoder, latent_shape=(2, 4, 4))  # heads never built
    fresh.load_state_dict(model.state_dict(), strict=True)
    assert torch.equal(fresh.eval()(x, sample=False).log_var, expected.log_var)


def test_create_model_refuses_latent_maps_where_they_do_not_apply() -> None:
    with pytest.raises(ValueError, match=r"latent_dim is required.*net='resnet'"):
        create_model("vae", (3, 8, 8), net="conv")
    with pytest.raises(ValueError, match="flat latent only"):
        create_model("factor_vae", (3, 8, 8), net="resnet", channels=(8, 16))
    with pytest.raises(ValueError, match="not both"):
        create_model("vae", (3, 8, 8), image_size=8, net="resnet", channels=(8, 16))
    with pytest.raises(ValueError, match=r"input_shape .* or image_size"):
        create_model("vae", latent_dim=4)


@pytest.mark.slow
def test_the_issue_example_has_posteriors_on_maps() -> None:
    model = create_model(
        "vae", net="resnet", image_size=128, channels=(64, 128, 256), latent_channels=4
    )
    assert model.posterior(torch.rand(1, 3, 128, 128)).mean.shape == (1, 4, 32, 32)


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["eager", "aot_eager"])
def test_loss_compiles_with_fullgraph(backend: str) -> None:
    model, x = _map_vae(ImportanceWeightedBound(3), torch.float32), _x().float()

    def step(x: torch.Tensor) -> torch.Tensor:
        return model.compute_loss(x, model(x)).objective

    compiled = torch.compile(step, fullgraph=True, backend=backend)
    torch.manual_seed(0)
    expected = step(x)
    torch.manual_seed(0)
    torch.testing.assert_close(compiled(x), expected)


def test_a_tiny_training_run_lowers_the_loss() -> None:
    from pyautoencoder.training import fit

    model = create_model("vae", net="resnet", image_size=8, channels=(8, 16), latent_channels=2)
    images = torch.rand(48, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    before = model.compute_loss(images, model(images, sample=False)).objective.detach()
    result = fit(
        model, images, epochs=4, batch_size=16, lr=3e-3, progress=False, accelerator="cpu", seed=0
    )
    after = model.compute_loss(images, model(images, sample=False)).objective.detach()
    assert result.steps == 12 and torch.isfinite(after) and after < before


@pytest.mark.slow
def test_encoder_and_decoder_export_with_latent_maps() -> None:
    from pyautoencoder.export import export_decoder, export_encoder

    model, x = _map_vae(dtype=torch.float32).eval(), _x().float()
    encoder = export_encoder(model, x[:2])
    torch.testing.assert_close(encoder.module()(x), model.encode(x).mu)  # any batch size
    z = model.encode(x).z  # [B, 1, 3, 4, 4]
    decoder = export_decoder(model, z[:2])
    torch.testing.assert_close(decoder.module()(z), model.decode(z).x_hat)


def test_a_latent_maps_config_without_latent_channels_is_refused(tmp_path: Path) -> None:
    from pyautoencoder.nets._pretrained import PretrainedError

    model = create_model("vae", net="resnet", image_size=8, channels=(8, 16), latent_channels=2)
    save_pretrained(model, tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    del config["model"]["latent_channels"]
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(PretrainedError, match="missing field 'latent_channels'"):
        from_pretrained(tmp_path)


def test_larger_images_go_through_tiles_of_the_training_size() -> None:
    from pyautoencoder.nets import tiled

    model = create_model("vae", net="resnet", image_size=8, channels=(8, 16), latent_channels=2)
    model.eval()
    large, small = torch.rand(2, 3, 16, 24), torch.rand(2, 3, 8, 8)
    with torch.no_grad():
        mu = tiled(lambda t: model.encode(t).mu, large, tile_size=8, tile_overlap=4)
        x_hat = tiled(
            lambda z: model.decode(z.unsqueeze(1)).x_hat[:, 0], mu, tile_size=4, tile_overlap=2
        )
        one_tile = tiled(lambda t: model.encode(t).mu, small, tile_size=8, tile_overlap=4)
        torch.testing.assert_close(one_tile, model.encode(small).mu)
    assert mu.shape == (2, 2, 8, 12) and x_hat.shape == (2, 3, 16, 24)
    with pytest.raises(ValueError, match=r"encoder features must be maps \[B, F, 4, 4\]"):
        model.encode(large)  # untiled: the latent size is the model's
