"""ResNetEncoder/ResNetDecoder shapes, the attention block against the formula, PatchGAN."""

from __future__ import annotations

import math

import pytest
import torch

from pyautoencoder.nets import (
    PatchDiscriminator,
    ResidualBlock,
    ResNetDecoder,
    ResNetEncoder,
    SelfAttention2d,
)


@pytest.mark.parametrize("size", [32, 64])
@pytest.mark.parametrize("attention", [True, False])
def test_encoder_and_decoder_shapes(size: int, attention: bool) -> None:
    encoder = ResNetEncoder(3, (8, 16, 16), out_channels=8, attention=attention, norm_groups=4)
    decoder = ResNetDecoder(4, (8, 16, 16), out_channels=3, attention=attention, norm_groups=4)
    z = encoder(torch.rand(2, 3, size, size))
    assert z.shape == (2, 8, size // 4, size // 4)
    x_hat = decoder(z[:, :4])
    assert x_hat.shape == (2, 3, size, size)
    rebuilt = type(decoder)(**decoder.config)
    assert rebuilt.config == decoder.config and encoder.config["channels"] == [8, 16, 16]


def test_attention_equals_softmax_formula_in_float64() -> None:
    torch.manual_seed(0)
    block = SelfAttention2d(4, groups=2).double()
    x = torch.randn(2, 4, 3, 5, dtype=torch.float64)
    h = block.norm(x).flatten(2)  # [B, C, N]
    w = block.qkv.weight.view(12, 4)
    b = block.qkv.bias
    qkv = torch.einsum("oc,bcn->bon", w, h) + b.view(1, 12, 1)
    q, k, v = qkv[:, :4], qkv[:, 4:8], qkv[:, 8:]
    weights = torch.softmax(torch.einsum("bci,bcj->bij", q, k) / math.sqrt(4), dim=-1)
    attended = torch.einsum("bij,bcj->bci", weights, v)
    out = torch.einsum("oc,bcn->bon", block.proj.weight.view(4, 4), attended)
    expected = x + (out + block.proj.bias.view(1, 4, 1)).view(2, 4, 3, 5)
    torch.testing.assert_close(block(x), expected)


def test_residual_block_with_zeroed_branch_is_its_skip() -> None:
    block = ResidualBlock(4, 6, groups=2)
    torch.nn.init.zeros_(block.conv2.weight)
    torch.nn.init.zeros_(block.conv2.bias)
    x = torch.randn(1, 4, 5, 5)
    torch.testing.assert_close(block(x), block.skip(x))


def test_resnet_errors_name_the_argument() -> None:
    with pytest.raises(ValueError, match="norm_groups=32 must divide every channel count"):
        ResNetEncoder(3, (8, 16))
    encoder = ResNetEncoder(3, (8, 8, 8), norm_groups=4)
    with pytest.raises(ValueError, match="divisible by 4"):
        encoder(torch.rand(1, 3, 30, 32))
    with pytest.raises(ValueError, match="z must be latent maps"):
        ResNetDecoder(4, (8,), norm_groups=4)(torch.rand(2, 4))


@pytest.mark.parametrize(("size", "side"), [(32, 2), (64, 6), (256, 30)])
def test_patch_discriminator_output_size(size: int, side: int) -> None:
    discriminator = PatchDiscriminator(3, base_channels=4, norm="none")
    assert discriminator(torch.rand(1, 3, size, size)).shape == (1, 1, side, side)
    assert discriminator.output_size(size, size) == (side, side)


def test_patch_discriminator_sees_a_70_pixel_patch() -> None:
    torch.manual_seed(0)
    discriminator = PatchDiscriminator(1, base_channels=2, norm="none").double()
    x = torch.randn(1, 1, 128, 128, dtype=torch.float64, requires_grad=True)
    logits = discriminator(x)
    logits[0, 0, 5, 5].backward()
    assert x.grad is not None
    rows = torch.nonzero(x.grad[0, 0].abs().sum(dim=1)).flatten()
    cols = torch.nonzero(x.grad[0, 0].abs().sum(dim=0)).flatten()
    assert int(rows.max() - rows.min()) + 1 == 70
    assert int(cols.max() - cols.min()) + 1 == 70


def test_patch_discriminator_errors() -> None:
    with pytest.raises(ValueError, match="norm must be one of"):
        PatchDiscriminator(norm="instance")
    with pytest.raises(ValueError, match="at least 24x24 pixels"):
        PatchDiscriminator(3, base_channels=4)(torch.rand(1, 3, 16, 16))


@pytest.mark.slow
def test_resnet_and_patch_discriminator_trace_under_compile_fullgraph() -> None:
    encoder = ResNetEncoder(3, (4, 8), out_channels=4, norm_groups=2)
    decoder = ResNetDecoder(4, (4, 8), out_channels=3, norm_groups=2)
    discriminator = PatchDiscriminator(3, base_channels=4, num_layers=2)
    model = torch.nn.Sequential(encoder, decoder, discriminator).eval()
    x = torch.rand(2, 3, 16, 16)
    compiled = torch.compile(model, fullgraph=True, backend="eager")
    torch.testing.assert_close(compiled(x), model(x))


@pytest.mark.parametrize("size", [32, 64])
@pytest.mark.parametrize("name", ["vae", "ae"])
def test_create_model_with_resnet_networks(name: str, size: int, tmp_path) -> None:
    from pyautoencoder.nets import create_model, from_pretrained, save_pretrained

    model = create_model(
        name, (3, size, size), 8, net="resnet", channels=(8, 16, 16), latent_channels=2
    )
    encoder = model.encoder[0]
    assert isinstance(encoder, ResNetEncoder) and encoder.config["norm_groups"] == 8
    x = torch.rand(2, 3, size, size)
    model.eval()
    with torch.no_grad():
        assert model.encoder(x).shape[-1] == (8 if name == "ae" else 2 * (size // 4) ** 2)
        x_hat = model.decoder(torch.randn(2, 8))
    assert x_hat.shape == (2, 3, size, size)
    save_pretrained(model, tmp_path / "m")
    rebuilt = from_pretrained(tmp_path / "m").eval()
    assert rebuilt.pretrained_config["model"]["latent_channels"] == 2
    z = torch.randn(2, 8)
    with torch.no_grad():
        torch.testing.assert_close(rebuilt.decoder(z), model.decoder(z))


def test_create_model_resnet_refuses_sizes_the_stages_cannot_halve() -> None:
    from pyautoencoder.nets import create_model

    with pytest.raises(ValueError, match="divisible by 4"):
        create_model("vae", (3, 30, 32), 8, net="resnet", channels=(8, 8, 8))
    with pytest.raises(ValueError, match="net must be 'mlp', 'conv' or 'resnet'"):
        create_model("vae", (3, 32, 32), 8, net="unet")
