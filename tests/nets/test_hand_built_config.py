"""A model built by hand from library objects saves a complete config; from_pretrained rebuilds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn

from pyautoencoder.nets import MLPDecoder, MLPEncoder, from_pretrained, save_pretrained
from pyautoencoder.objectives import ELBO, MIWAE, DIPPenalty
from pyautoencoder.pretrained import PretrainedError, load_pretrained
from pyautoencoder.variational import IWAE, VAE


def _nets() -> tuple[nn.Module, nn.Module]:
    return MLPEncoder((10,), (8,)), MLPDecoder(3, (8,), (10,))


@pytest.mark.parametrize(
    "make",
    [
        lambda: VAE(*_nets(), 3, likelihood="bernoulli", objective=MIWAE(2, 2)),
        lambda: VAE(*_nets(), 3, objective=ELBO(beta=2.0) + DIPPenalty("ii", 1.0), prior="vamp"),
        lambda: IWAE(*_nets(), 3, num_samples=4, gradient_estimator="dreg"),
    ],
    ids=["vae-miwae", "vae-elbo+dip-vamp", "iwae"],
)
def test_hand_built_model_round_trips_through_from_pretrained(make: object, tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = make()  # type: ignore[operator]
    x = torch.rand(4, 10)
    model.build(x)
    save_pretrained(model, tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["model"] is None and config["constructor"]["input_shape"] == [10]
    loaded = from_pretrained(tmp_path)
    assert type(loaded) is type(model)
    assert loaded.objective.config() == model.objective.config()
    model.eval()
    torch.manual_seed(1)
    expected = model.compute_loss(x, model(x)).objective
    torch.manual_seed(1)
    torch.testing.assert_close(loaded.compute_loss(x, loaded(x)).objective, expected)


def test_custom_networks_still_save_without_a_config(tmp_path: Path) -> None:
    model = VAE(nn.Sequential(nn.Linear(10, 8), nn.Tanh()), nn.Linear(3, 10), 3)
    model.build(torch.zeros(2, 10))
    save_pretrained(model, tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["model"] is None and "constructor" not in config
    with pytest.raises(PretrainedError, match="call load_pretrained"):
        from_pretrained(tmp_path)
    twin = VAE(nn.Sequential(nn.Linear(10, 8), nn.Tanh()), nn.Linear(3, 10), 3)
    load_pretrained(twin, tmp_path)


def test_constructor_arguments_are_those_of_the_outermost_class() -> None:
    model = IWAE(*_nets(), 3, num_samples=4)
    arguments = model.__dict__["_constructor_arguments"]
    assert arguments["num_samples"] == 4 and "objective" not in arguments


def test_prior_and_likelihood_objects_are_saved_by_config(tmp_path: Path) -> None:
    from pyautoencoder.distributions import GaussianLikelihood, MixtureOfGaussiansPrior

    torch.manual_seed(0)
    model = VAE(
        *_nets(),
        3,
        prior=MixtureOfGaussiansPrior(3, num_components=4),
        likelihood=GaussianLikelihood("per_feature", feature_shape=(10,), init_scale=0.5),
    )
    x = torch.rand(4, 10)
    model.build(x)
    save_pretrained(model, tmp_path)
    arguments = json.loads((tmp_path / "config.json").read_text())["constructor"]["arguments"]
    assert arguments["prior"] == {"name": "mixture_of_gaussians", "num_components": 4}
    assert arguments["likelihood"]["scale"] == "per_feature"
    loaded = from_pretrained(tmp_path)
    assert loaded.latent_prior.num_components == 4
    torch.testing.assert_close(loaded.likelihood.log_scale, model.likelihood.log_scale)
    model.eval()
    torch.manual_seed(1)
    expected = model.compute_loss(x, model(x)).objective
    torch.manual_seed(1)
    torch.testing.assert_close(loaded.compute_loss(x, loaded(x)).objective, expected)


@pytest.mark.parametrize("posterior", [None, "planar:2"])
def test_hand_built_cvae_saves_the_shape_of_x_not_of_the_encoder_input(
    posterior: str | None, tmp_path: Path
) -> None:
    from pyautoencoder.variational import CVAE

    torch.manual_seed(0)  # the encoder reads x (10 features) and the one-hot y (2)
    encoder, decoder = MLPEncoder((12,), (8,)), MLPDecoder(5, (8,), (10,))
    model = CVAE(encoder, decoder, 3, condition_dim=2, posterior=posterior)
    x, y = torch.rand(4, 10), torch.tensor([0, 1, 1, 0])
    model.build(x)
    save_pretrained(model, tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["constructor"]["input_shape"] == [10]
    loaded = from_pretrained(tmp_path)
    model.eval()
    torch.testing.assert_close(loaded.reconstruct(x, y), model.reconstruct(x, y))


def test_a_cvae_with_its_own_conditioning_saves_weights_only(tmp_path: Path) -> None:
    from pyautoencoder.variational import CVAE, ConcatConditioning

    class Scaled(ConcatConditioning):  # a user's conditioning: no JSON form
        pass

    model = CVAE(MLPEncoder((12,), (8,)), MLPDecoder(5, (8,), (10,)), 3, 2, Scaled())
    model.build(torch.rand(4, 10))
    save_pretrained(model, tmp_path)
    assert "constructor" not in json.loads((tmp_path / "config.json").read_text())


def test_training_checkpoints_of_a_hand_built_model_are_rebuilt_by_from_pretrained(
    tmp_path: Path,
) -> None:
    from pyautoencoder.training import fit

    torch.manual_seed(0)
    model = VAE(*_nets(), 3, objective=MIWAE(2, 2))
    x = torch.rand(12, 10)
    model.build(x[:2])
    fit(model, x, max_steps=2, batch_size=6, progress=False, accelerator="cpu", out_dir=tmp_path)
    (checkpoint,) = [p for p in (tmp_path / "checkpoints").iterdir() if p.is_dir()]
    config = json.loads((checkpoint / "config.json").read_text())
    assert config["model"] is None and config["constructor"]["name"] == "vae"
    loaded = from_pretrained(checkpoint)
    assert loaded.objective.config() == model.objective.config()
    model.eval()
    torch.testing.assert_close(loaded.reconstruct(x), model.reconstruct(x))
