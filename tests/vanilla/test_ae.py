"""The plain autoencoder ``AE`` (C-AE-1 to C-AE-3)."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from torch import nn

from pyautoencoder.loss import LikelihoodType, LossResult
from pyautoencoder.vanilla import AE, AEDecodeOutput, AEEncodeOutput, AEOutput

pytestmark = pytest.mark.usefixtures("seeded")


class CountingModule(nn.Module):
    """Wraps a module and records the inputs it is called with."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner
        self.inputs: list[torch.Tensor] = []
        self.outputs: list[torch.Tensor] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.inputs.append(x)
        out = self.inner(x)
        self.outputs.append(out)
        return out


def _ae(data_dim: int = 6, code_dim: int = 3) -> AE:
    encoder = nn.Sequential(nn.Linear(data_dim, 8), nn.Tanh(), nn.Linear(8, code_dim))
    decoder = nn.Sequential(nn.Linear(code_dim, 8), nn.Tanh(), nn.Linear(8, data_dim))
    return AE(encoder, decoder)


def _image_ae() -> AE:
    encoder = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.Flatten(), nn.LazyLinear(3))
    decoder = nn.Sequential(nn.Linear(3, 16), nn.Unflatten(1, (1, 4, 4)))
    return AE(encoder, decoder)


# C-AE-1 ---------------------------------------------------------------------------------------


def test_c_ae_1_output_dataclasses_and_field_order() -> None:
    """C-AE-1: AEEncodeOutput(z), AEDecodeOutput(x_hat), AEOutput(x_hat, z)."""
    assert [f.name for f in dataclasses.fields(AEEncodeOutput)] == ["z"]
    assert [f.name for f in dataclasses.fields(AEDecodeOutput)] == ["x_hat"]
    assert [f.name for f in dataclasses.fields(AEOutput)] == ["x_hat", "z"]
    x_hat, z = torch.zeros(2, 6), torch.zeros(2, 3)
    positional = AEOutput(x_hat, z)
    assert positional.x_hat is x_hat and positional.z is z


# C-AE-2 ---------------------------------------------------------------------------------------


def test_c_ae_2_stores_the_very_modules_passed() -> None:
    """C-AE-2: ``self.encoder`` / ``self.decoder`` are the objects passed in."""
    encoder, decoder = nn.Linear(6, 3), nn.Linear(3, 6)
    model = AE(encoder, decoder)
    assert model.encoder is encoder and model.decoder is decoder


def test_c_ae_2_forward_calls_encoder_once_then_decoder_once_on_that_z() -> None:
    """C-AE-2: one encoder call, one decoder call on exactly that ``z``."""
    encoder, decoder = CountingModule(nn.Linear(6, 3)), CountingModule(nn.Linear(3, 6))
    model = AE(encoder, decoder)
    x = torch.randn(4, 6)
    out = model(x)
    assert isinstance(out, AEOutput)
    assert len(encoder.inputs) == 1 and len(decoder.inputs) == 1
    assert encoder.inputs[0] is x
    assert decoder.inputs[0] is encoder.outputs[0]
    assert out.z is encoder.outputs[0] and out.x_hat is decoder.outputs[0]


def test_c_ae_2_encode_and_decode_wrap_the_modules() -> None:
    """C-AE-2: ``_encode`` -> AEEncodeOutput(encoder(x)), ``_decode`` -> AEDecodeOutput."""
    model = _ae()
    x, z = torch.randn(4, 6), torch.randn(4, 3)
    enc, dec = model._encode(x), model._decode(z)
    assert isinstance(enc, AEEncodeOutput) and isinstance(dec, AEDecodeOutput)
    torch.testing.assert_close(enc.z, model.encoder(x), rtol=0, atol=0)
    torch.testing.assert_close(dec.x_hat, model.decoder(z), rtol=0, atol=0)
    assert enc.z.requires_grad and dec.x_hat.requires_grad


def test_c_ae_2_encode_decode_follow_c_base_3() -> None:
    """C-AE-2 / C-BASE-3: encode/decode give no-grad, non-inference tensors; modes kept."""
    model = _ae()
    model.train()
    enc, dec = model.encode(torch.randn(4, 6)), model.decode(torch.randn(4, 3))
    for t in (enc.z, dec.x_hat):
        assert not t.requires_grad and not t.is_inference()
    assert model.training and torch.is_grad_enabled()
    with torch.no_grad():
        torch.testing.assert_close(model.decode(enc.z).x_hat, model.decoder(enc.z))


# C-AE-3 ---------------------------------------------------------------------------------------


def test_c_ae_3_gaussian_objective_formula() -> None:
    """C-AE-3: objective = 0.5 * ((x - x_hat)**2).reshape(B, -1).sum(1).mean()."""
    model = _image_ae().double()
    x = torch.randn(5, 1, 4, 4, dtype=torch.float64)
    out = model(x)
    result = model.compute_loss(x, out)
    expected = 0.5 * ((x - out.x_hat) ** 2).reshape(5, -1).sum(1).mean()
    assert isinstance(result, LossResult)
    torch.testing.assert_close(result.objective, expected)
    assert result.objective.dim() == 0 and result.objective.requires_grad


def test_c_ae_3_bernoulli_objective_formula() -> None:
    """C-AE-3: with bernoulli, the summed BCE-with-logits per example, batch mean."""
    model = _image_ae().double()
    x = torch.rand(5, 1, 4, 4, dtype=torch.float64)
    out = model(x)
    result = model.compute_loss(x, out, likelihood=LikelihoodType.BERNOULLI)
    bce = nn.functional.binary_cross_entropy_with_logits(out.x_hat, x, reduction="none")
    torch.testing.assert_close(result.objective, bce.reshape(5, -1).sum(1).mean())


@pytest.mark.parametrize("likelihood", ["gaussian", "bernoulli"])
def test_c_ae_3_enum_and_strings_are_identical(likelihood: str) -> None:
    """C-AE-3 / C-LOSS-3: enum, lower- and upper-case names give identical objectives."""
    model = _ae()
    x = torch.rand(4, 6)
    out = model(x)
    results = [
        model.compute_loss(x, out, likelihood=spec).objective
        for spec in (LikelihoodType(likelihood), likelihood, likelihood.upper())
    ]
    for other in results[1:]:
        assert torch.equal(results[0], other)


def test_c_ae_3_diagnostics_are_detached_scalars() -> None:
    """C-AE-3 / C-LOSS-2: ``{"log_likelihood": -objective}``, detached 0-dim, same device."""
    model = _ae()
    x = torch.randn(4, 6)
    result = model.compute_loss(x, model(x))
    assert set(result.diagnostics) == {"log_likelihood"}
    value = result.diagnostics["log_likelihood"]
    assert isinstance(value, torch.Tensor) and value.dim() == 0 and not value.requires_grad
    assert value.device == result.objective.device
    assert torch.equal(value, -result.objective.detach())


@pytest.mark.parametrize("x_hat_shape", [(4, 6, 1), (4, 5), (4, 1, 6), (1, 6)])
def test_c_ae_3_shape_mismatch_raises_same_shape(x_hat_shape: tuple[int, ...]) -> None:
    """C-AE-3: ``x`` vs ``output.x_hat`` shape mismatch -> ValueError containing ``same shape``."""
    model = _ae()
    x = torch.randn(4, 6)
    out = AEOutput(x_hat=torch.randn(x_hat_shape), z=torch.randn(4, 3))
    for likelihood in ("gaussian", "bernoulli"):
        with pytest.raises(ValueError, match="same shape"):
            model.compute_loss(x.sigmoid(), out, likelihood=likelihood)


def test_c_ae_3_gradients_reach_every_parameter() -> None:
    """C-AE-3: backward gives a non-zero gradient to each encoder and decoder parameter."""
    model = _image_ae()
    x = torch.randn(3, 1, 4, 4)
    model.compute_loss(x, model(x)).objective.backward()
    for name, param in model.named_parameters():
        assert param.grad is not None and param.grad.abs().sum() > 0, name


def test_c_ae_3_batch_of_one_and_output_by_keyword() -> None:
    """C-AE-3: works with B = 1; ``output`` may be passed by keyword."""
    model = _ae()
    x = torch.randn(1, 6)
    out = model(x)
    result = model.compute_loss(x=x, output=out)
    assert torch.isfinite(result.objective)
    torch.testing.assert_close(result.objective, 0.5 * ((x - out.x_hat) ** 2).sum())


def test_ae_compiles_without_graph_breaks() -> None:
    """forward + compute_loss trace with ``fullgraph=True`` and match eager mode."""
    model = _ae()
    x = torch.randn(4, 6)

    def step(inputs: torch.Tensor) -> torch.Tensor:
        return model.compute_loss(inputs, model(inputs), likelihood="gaussian").objective

    compiled = torch.compile(step, fullgraph=True, backend="eager")
    torch.testing.assert_close(compiled(x), step(x))
    torch._dynamo.reset()
