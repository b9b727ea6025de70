"""MLP and convolutional encoders/decoders: shapes, exact round trips, configs, errors."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from pyautoencoder.nets import ConvDecoder, ConvEncoder, MLPDecoder, MLPEncoder

IMAGE_SHAPES = [(1, 28, 28), (3, 32, 32), (1, 64, 64), (1, 8, 8), (2, 28, 20), (1, 7, 9)]


def test_mlp_encoder_outputs_last_hidden_features_without_out_features() -> None:
    encoder = MLPEncoder((1, 8, 8), hidden=(16, 12))
    features = encoder(torch.rand(5, 1, 8, 8))
    assert features.shape == (5, 12) and encoder.out_features == 12
    assert (features >= 0).all()  # the last hidden layer ends with its ReLU


def test_mlp_encoder_with_out_features_ends_with_a_linear_code() -> None:
    encoder = MLPEncoder((4,), hidden=(8,), out_features=3)
    assert isinstance(encoder.layers[-1], nn.Linear)
    assert encoder(torch.randn(2, 4)).shape == (2, 3)


def test_mlp_encoder_without_hidden_is_one_linear_map() -> None:
    encoder = MLPEncoder((2, 3), hidden=(), out_features=4)
    assert [type(m) for m in encoder.layers] == [nn.Flatten, nn.Linear]


def test_mlp_decoder_maps_latents_to_the_output_shape_without_output_activation() -> None:
    decoder = MLPDecoder(3, (8, 16), (1, 8, 8))
    assert decoder(torch.randn(4, 3)).shape == (4, 1, 8, 8)
    assert not any(isinstance(m, nn.ReLU) for m in list(decoder.layers)[-2:])


@pytest.mark.parametrize("shape", IMAGE_SHAPES)
def test_conv_decoder_retraces_the_encoder_sizes_exactly(shape: tuple[int, int, int]) -> None:
    num_layers = 3 if min(shape[1:]) >= 8 else 2
    channels = (4, 8, 8)[:num_layers]
    encoder = ConvEncoder(shape, channels, out_features=5)
    decoder = ConvDecoder(5, channels, shape)
    x = torch.rand(2, *shape)
    z = encoder(x)
    assert z.shape == (2, 5)
    assert decoder(z).shape == (2, *shape)
    # Layer by layer the transposed convolutions visit the encoder's sizes in reverse.
    encoder_sizes = []
    h = x
    for layer in encoder.layers:
        h = layer(h)
        if isinstance(layer, nn.Conv2d):
            encoder_sizes.append(tuple(h.shape[-2:]))
    decoder_sizes = []
    h = z
    for layer in decoder.layers:
        if isinstance(layer, nn.ConvTranspose2d):
            decoder_sizes.append(tuple(h.shape[-2:]))
        h = layer(h)
    assert decoder_sizes == encoder_sizes[::-1]


def test_conv_encoder_features_follow_hidden_and_end_with_the_activation() -> None:
    encoder = ConvEncoder((1, 28, 28), (4, 8), hidden=(10,))
    features = encoder(torch.rand(3, 1, 28, 28))
    assert features.shape == (3, 10) and (features >= 0).all()


def test_conv_encoder_without_hidden_outputs_the_flattened_maps() -> None:
    encoder = ConvEncoder((1, 32, 32), (4, 8))
    assert encoder(torch.rand(1, 1, 32, 32)).shape == (1, 8 * 8 * 8)
    assert encoder.out_features == 8 * 8 * 8


def test_conv_nets_reject_images_too_small_for_their_layers() -> None:
    with pytest.raises(ValueError, match=r"input_shape 8x8 is too small for 4 stride-2"):
        ConvEncoder((1, 8, 8), (4, 4, 4, 4))
    with pytest.raises(ValueError, match="output_shape"):
        ConvDecoder(2, (4, 4, 4, 4), (1, 8, 8))
    with pytest.raises(ValueError, match=r"input_shape must have 3 entries"):
        ConvEncoder((64, 64), (4,))


@pytest.mark.parametrize(
    "net",
    [
        MLPEncoder((1, 8, 8), (16,), 3, "gelu"),
        MLPDecoder(3, (16,), (1, 8, 8), "tanh"),
        ConvEncoder((1, 28, 28), (4, 8), 6, (12,), "silu"),
        ConvDecoder(6, (4, 8), (1, 28, 28), (12,), "elu"),
    ],
    ids=["mlp_encoder", "mlp_decoder", "conv_encoder", "conv_decoder"],
)
def test_config_is_json_and_rebuilds_the_same_architecture(net: nn.Module) -> None:
    config = net.config
    assert json.loads(json.dumps(config)) == config
    rebuilt = type(net)(**config)
    assert str(rebuilt) == str(net)
    assert [p.shape for p in rebuilt.parameters()] == [p.shape for p in net.parameters()]
    config["activation"] = "changed"
    assert net.config["activation"] != "changed"  # a copy


def test_unknown_activation_suggests_the_close_name() -> None:
    with pytest.raises(ValueError, match=r"unknown activation 'rellu'.*Did you mean 'relu'"):
        MLPEncoder((4,), (8,), activation="rellu")


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: MLPEncoder((4,), (8, 0)), r"hidden\[1\] must be a positive int, got 0"),
        (lambda: MLPEncoder((4,), ()), r"hidden must hold at least one size"),
        (lambda: MLPEncoder((4,), (8,), out_features=True), r"out_features must be a positive"),
        (lambda: MLPDecoder(0, (8,), (4,)), r"latent_dim must be a positive int, got 0"),
        (lambda: MLPDecoder(2, "16", (4,)), r"hidden must be a sequence of positive ints"),
        (lambda: ConvEncoder((1, 8, 8), ()), r"channels must hold at least one size"),
    ],
)
def test_bad_sizes_name_the_argument(build: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build()  # type: ignore[operator]
