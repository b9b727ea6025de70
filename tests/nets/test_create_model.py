"""create_model: encoders end as the registry says, configs are recorded, errors are clear."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn

from pyautoencoder.nets import ConvEncoder, MLPEncoder, create_model
from pyautoencoder.registry import get_model_entry, list_models
from pyautoencoder.variational import VAE

NETWORK_MODELS = [name for name in list_models() if get_model_entry(name).latent != "dictionary"]


@pytest.mark.parametrize("name", NETWORK_MODELS)
def test_encoder_output_follows_the_registry_latent_kind(name: str) -> None:
    entry = get_model_entry(name)
    model = create_model(name, (1, 8, 8), 3, hidden=(16, 12))
    assert isinstance(model, entry.cls)
    assert not any(
        isinstance(p, nn.parameter.UninitializedParameter) for p in model.parameters()
    ), "create_model must return a built model"
    encoder = model.encoder
    assert isinstance(encoder, MLPEncoder)
    expected = 12 if entry.latent == "features" else 3
    assert encoder.out_features == expected
    if entry.latent_arg is not None:
        # hierarchical VAEs spread an int latent size over their groups: [3] * num_groups
        received = getattr(model, entry.latent_arg)
        assert received == 3 or (isinstance(received, list) and set(received) == {3})


@pytest.mark.parametrize("name", ["topk_sae", "batch_topk_sae", "jumprelu_sae", "gated_sae"])
def test_dictionary_models_are_built_from_the_input_size_without_networks(name: str) -> None:
    options = {"k": 2} if "topk" in name else {}
    model = create_model(name, (1, 8, 8), 3, hidden=(16, 12), **options)
    assert get_model_entry(name).latent == "dictionary"
    assert model.input_dim == 64 and model.num_latents == 3
    assert not hasattr(model, "encoder")
    assert model.pretrained_config["model"]["latent_dim"] == 3


def test_conv_model_round_trips_image_shapes() -> None:
    model = create_model("vae", (1, 28, 28), 4, net="conv", channels=(4, 8), hidden=(16,))
    assert isinstance(model.encoder, ConvEncoder)
    output = model(torch.rand(3, 1, 28, 28))
    assert output.x_hat.shape == (3, 1, 1, 28, 28) and output.z.shape == (3, 1, 4)


def test_model_kwargs_reach_the_model() -> None:
    model = create_model("vae", (4,), 2, hidden=(8,), likelihood="bernoulli", free_bits=0.5)
    assert isinstance(model, VAE) and model.free_bits == 0.5
    assert type(model.likelihood).__name__.lower().startswith("bernoulli")


def test_pretrained_config_holds_exactly_the_creation_arguments() -> None:
    model = create_model("ae", [1, 8, 8], 3, hidden=[16], activation="tanh")
    config = model.pretrained_config
    assert json.loads(json.dumps(config)) == config
    assert config["format"] == "pyautoencoder.pretrained" and config["format_version"] == 1
    assert config["model"] == {
        "name": "ae",
        "input_shape": [1, 8, 8],
        "latent_dim": 3,
        "net": "mlp",
        "hidden": [16],
        "channels": [32, 64],
        "activation": "tanh",
        "model_kwargs": {},
    }


def test_model_kwargs_that_are_not_json_leave_no_pretrained_config() -> None:
    model = create_model("vae", (4,), 2, hidden=(8,), prior=None, kl_estimator="auto")
    assert model.pretrained_config["model"]["model_kwargs"] == {
        "prior": None,
        "kl_estimator": "auto",
    }
    from pyautoencoder.distributions import get_likelihood

    custom = create_model("vae", (4,), 2, hidden=(8,), likelihood=get_likelihood("bernoulli"))
    assert custom.pretrained_config is None


def test_conditional_models_get_room_for_the_condition() -> None:
    model = create_model("cvae", (1, 4, 4), 2, hidden=(8,), condition_dim=3)
    assert model.encoder.config["input_shape"] == [16 + 3]
    assert model.decoder.config["latent_dim"] == 2 + 3
    y = torch.tensor([0, 2])
    assert model(torch.rand(2, 1, 4, 4), y).x_hat.shape == (2, 1, 1, 4, 4)


def test_unknown_model_name_suggests_close_matches() -> None:
    with pytest.raises(ValueError, match=r"Unknown model 'vea'.*Did you mean 'vae'"):
        create_model("vea", (4,), 2)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"net": "transformer"}, r"net must be 'mlp', 'conv' or 'resnet', got 'transformer'"),
        ({"name": "cvae", "net": "conv"}, r"net='conv' cannot be used for the conditional"),
        ({"net": "conv", "input_shape": (64,)}, r"net='conv' needs input_shape \(C, H, W\)"),
        ({"hidden": ()}, r"hidden must hold at least one width"),
        ({"latent_dim": 0}, r"latent_dim must be a positive int"),
        ({"name": "vqvae", "code_dim": 4}, r"pass the latent size as latent_dim, not as code_dim"),
    ],
)
def test_invalid_arguments_are_explained(kwargs: dict[str, object], message: str) -> None:
    arguments: dict[str, object] = {"name": "vae", "input_shape": (1, 8, 8), "latent_dim": 2}
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=message):
        create_model(**arguments)  # type: ignore[arg-type]


@pytest.mark.parametrize("net", ["mlp", "resnet"])
def test_a_hierarchical_decoder_dim_sizes_the_decoder_it_builds(net: str, tmp_path: Path) -> None:
    """``decoder_dim`` (the registry's decoder_input_arg) is the built decoder's input width,
    and the saved config rebuilds the same model."""
    from pyautoencoder.pretrained import from_pretrained, save_pretrained

    extra = {"hidden": (16,)} if net == "mlp" else {"channels": (4, 8)}
    model = create_model(
        "hierarchical_vae", (1, 8, 8), 6, net=net, num_groups=2, decoder_dim=10, **extra
    )
    assert model.decoder_dim == 10
    assert model(torch.rand(3, 1, 8, 8)).x_hat.shape == (3, 1, 1, 8, 8)
    save_pretrained(model, tmp_path / "m")
    again = from_pretrained(tmp_path / "m")
    assert again.decoder_dim == 10
    for (name, a), (_, b) in zip(model.state_dict().items(), again.state_dict().items()):
        assert torch.equal(a, b), name
