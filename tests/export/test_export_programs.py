"""torch.export programs of encoders and decoders: eager equality at other batch sizes, eval
snapshots, several families (AE, VAE, CVAE, VQ-VAE), save/load, and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from pyautoencoder.export import (
    ExportError,
    export_decoder,
    export_encoder,
    load_exported,
    save_exported,
)
from pyautoencoder.quantized import VQVAE
from pyautoencoder.vanilla import AE
from pyautoencoder.variational import CVAE, VAE

pytestmark = pytest.mark.usefixtures("seeded")

# Same kernels on the same inputs: the programs match eager outputs to float32 rounding.
ATOL = 1e-6


def _vae() -> VAE:
    encoder = nn.Sequential(nn.Linear(6, 8), nn.BatchNorm1d(8), nn.Tanh(), nn.Dropout(0.5))
    model = VAE(encoder, nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 6)), 3)
    model.build(torch.rand(4, 6))
    with torch.no_grad():  # non-trivial BatchNorm running statistics
        model.train()
        for _ in range(3):
            model(torch.rand(16, 6) * 3 + 1)
    return model


def _run(program: torch.export.ExportedProgram, *inputs: torch.Tensor) -> object:
    with torch.no_grad():
        return program.module()(*inputs)


@pytest.mark.parametrize("batch", [3, 7])
def test_vae_encoder_mean_matches_eager_at_other_batch_sizes(batch: int) -> None:
    model = _vae()
    program = export_encoder(model, torch.rand(4, 6))  # default output for a VAE: "mu"
    x = torch.rand(batch, 6)
    expected = model.eval().encode(x).mu  # eval: BatchNorm running stats, no dropout
    torch.testing.assert_close(_run(program, x), expected, atol=ATOL, rtol=0)


def test_encoder_returns_several_fields_in_the_order_asked() -> None:
    model = _vae()
    program = export_encoder(model, torch.rand(4, 6), output=("log_var", "z", "mu"))
    x = torch.rand(5, 6)
    log_var, z, mu = _run(program, x)  # type: ignore[misc]
    expected = model.eval().encode(x)
    torch.testing.assert_close(log_var, expected.log_var, atol=ATOL, rtol=0)
    torch.testing.assert_close(mu, expected.mu, atol=ATOL, rtol=0)
    assert z.shape == (5, 1, 3)  # sample=False by default, as in model.encode (C-VAE-4)
    torch.testing.assert_close(z, expected.mu.unsqueeze(1), atol=ATOL, rtol=0)


def test_sampling_encoder_draws_like_eager_from_the_global_generator() -> None:
    model = _vae()
    program = export_encoder(model, torch.rand(4, 6), output="z", encode_kwargs={"sample": True})
    x = torch.rand(3, 6)
    torch.manual_seed(5)
    drawn = _run(program, x)
    torch.manual_seed(5)
    expected = model.eval().encode(x, sample=True).z
    torch.testing.assert_close(drawn, expected, atol=ATOL, rtol=0)
    torch.manual_seed(6)
    assert not torch.allclose(_run(program, x), drawn)  # type: ignore[arg-type]


@pytest.mark.parametrize("batch", [3, 7])
def test_vae_decoder_matches_eager_at_other_batch_sizes(batch: int) -> None:
    model = _vae()
    program = export_decoder(model, torch.randn(4, 2, 3))
    z = torch.randn(batch, 2, 3)
    torch.testing.assert_close(_run(program, z), model.decode(z).x_hat, atol=ATOL, rtol=0)


def test_export_leaves_the_model_untouched_and_is_a_snapshot() -> None:
    model = _vae()
    model.train()
    program = export_encoder(model, torch.rand(4, 6))
    assert model.training and all(m.training for m in model.modules())
    assert all(p.requires_grad for p in model.parameters())
    x = torch.rand(3, 6)
    before = _run(program, x)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(1.0)
    torch.testing.assert_close(_run(program, x), before, atol=0, rtol=0)


def test_ae_encoder_and_decoder_round_trip() -> None:
    model = AE(nn.Sequential(nn.Linear(6, 2)), nn.Sequential(nn.Linear(2, 6), nn.Sigmoid()))
    encoder = export_encoder(model, torch.rand(4, 6))  # an AE has no "mu": output "z"
    decoder = export_decoder(model, torch.rand(4, 2))
    x = torch.rand(7, 6)
    code = _run(encoder, x)
    torch.testing.assert_close(code, model.encode(x).z, atol=ATOL, rtol=0)
    x_hat = _run(decoder, code)  # type: ignore[arg-type]
    torch.testing.assert_close(x_hat, model(x).x_hat.detach(), atol=ATOL, rtol=0)


def test_conditional_model_exports_with_its_condition() -> None:
    encoder = nn.Sequential(nn.LazyLinear(5), nn.Tanh())
    model = CVAE(encoder, nn.LazyLinear(6), latent_dim=2, condition_dim=3)
    model.build(torch.rand(4, 6))
    x, y = torch.rand(4, 6), torch.tensor([0, 1, 2, 1])
    encoder_program = export_encoder(model, (x, y))
    decoder_program = export_decoder(model, (torch.randn(4, 1, 2), y))
    x7, y7 = torch.rand(7, 6), torch.tensor([2, 1, 0, 0, 1, 2, 2])
    mu = _run(encoder_program, x7, y7)
    torch.testing.assert_close(mu, model.encode(x7, y7).mu, atol=ATOL, rtol=0)
    z7 = torch.randn(7, 1, 2)
    expected = model.decode(z7, y7).x_hat
    torch.testing.assert_close(_run(decoder_program, z7, y7), expected, atol=ATOL, rtol=0)


def test_vqvae_exports_code_indices_and_decodes_them() -> None:
    model = VQVAE(nn.Linear(6, 4), nn.Linear(4, 6), num_codes=8, code_dim=4)
    encoder = export_encoder(model, torch.rand(4, 6), output="indices")
    decoder = export_decoder(model, torch.zeros(4, dtype=torch.long))
    x = torch.rand(7, 6)
    indices = _run(encoder, x)
    expected = model.encode(x)
    assert isinstance(indices, torch.Tensor) and indices.dtype == torch.long
    assert torch.equal(indices, expected.indices)
    torch.testing.assert_close(_run(decoder, indices), model.decode(indices).x_hat)


def test_fixed_batch_program_refuses_another_batch_size() -> None:
    program = export_encoder(_vae(), torch.rand(4, 6), dynamic_batch=False)
    assert _run(program, torch.rand(4, 6)).shape == (4, 3)  # type: ignore[union-attr]
    with pytest.raises(Exception, match="4"):
        _run(program, torch.rand(3, 6))


def test_save_and_load_round_trip_leaves_no_temporary_file(tmp_path: Path) -> None:
    model = _vae()
    program = export_decoder(model, torch.randn(4, 1, 3))
    path = save_exported(program, tmp_path / "sub" / "decoder.pt2")
    assert path.is_file() and sorted(p.name for p in path.parent.iterdir()) == ["decoder.pt2"]
    z = torch.randn(6, 1, 3)
    torch.testing.assert_close(_run(load_exported(path), z), _run(program, z), atol=0, rtol=0)
    with pytest.raises(FileNotFoundError, match="no exported program"):
        load_exported(tmp_path / "missing.pt2")
    with pytest.raises(TypeError, match=r"program must be a torch\.export\.ExportedProgram"):
        save_exported(model, tmp_path / "x.pt2")  # type: ignore[arg-type]


class _DataDependent(nn.Module):
    """Python control flow on tensor values: torch.export cannot trace it."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.sum() > 0:
            return x * 2
        return x


def test_untraceable_part_is_named_in_a_one_line_error() -> None:
    model = AE(_DataDependent(), nn.Identity())
    with pytest.raises(ExportError, match=r"^could not export the encoder of AE: ") as info:
        export_encoder(model, torch.rand(4, 3))
    assert "\n" not in str(info.value)
    assert info.value.__cause__ is not None  # the full torch.export report is chained
    model = AE(nn.Identity(), _DataDependent())
    with pytest.raises(ExportError, match=r"^could not export the decoder of AE: "):
        export_decoder(model, torch.rand(4, 3))


def test_unknown_field_lists_the_available_ones() -> None:
    with pytest.raises(ValueError, match=r"'indices' is not a field of VAEEncodeOutput.*z, mu"):
        export_encoder(_vae(), torch.rand(4, 6), output="indices")


def test_unbuilt_lazy_model_is_refused_with_the_fix() -> None:
    model = VAE(nn.Sequential(nn.Linear(6, 4)), nn.Linear(2, 6), 2)
    with pytest.raises(ValueError, match=r"encoder of VAE: .*never materialised.*model\.build"):
        export_encoder(model, torch.rand(4, 6))


def test_bad_example_inputs_are_named() -> None:
    model = _vae()
    with pytest.raises(TypeError, match="example_input must be a tensor or a tuple"):
        export_encoder(model, [1.0, 2.0])  # type: ignore[list-item]
    with pytest.raises(ValueError, match=r"sharing one batch size B, got shapes \[\(4, 1, 3\)"):
        export_decoder(model, (torch.rand(4, 1, 3), torch.rand(5, 2)))
    with pytest.raises(TypeError, match=r"model must be a torch\.nn\.Module"):
        export_encoder("vae", torch.rand(4, 6))  # type: ignore[arg-type]
