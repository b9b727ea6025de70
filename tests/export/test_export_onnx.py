"""ONNX files from exported programs: checked, dynamic batch named "batch", numerically equal
to eager (run with onnxruntime when installed, else ONNX's reference evaluator)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from torch import nn

from pyautoencoder.export import export_decoder, export_encoder, run_onnx, to_onnx
from pyautoencoder.variational import VAE

pytestmark = pytest.mark.usefixtures("seeded")

# ONNX kernels (reference evaluator: numpy) differ from torch's in float32 rounding only.
ATOL = 1e-5


def _vae() -> VAE:
    encoder = nn.Sequential(nn.Linear(6, 8), nn.BatchNorm1d(8), nn.Tanh())
    model = VAE(encoder, nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 6)), 3)
    model.build(torch.rand(4, 6))
    return model


def _batch_dims(path: Path) -> tuple[list[str], list[str]]:
    graph = onnx.load(str(path)).graph
    first = [v.type.tensor_type.shape.dim[0].dim_param for v in (*graph.input, *graph.output)]
    return first[: len(graph.input)], first[len(graph.input) :]


@pytest.mark.slow
def test_encoder_and_decoder_onnx_files_match_eager_with_dynamic_batch(tmp_path: Path) -> None:
    model = _vae().eval()
    encoder_path = to_onnx(
        export_encoder(model, torch.rand(4, 6), output=("mu", "log_var")),
        tmp_path / "encoder.onnx",
        input_names=["x"],
        output_names=["mu", "log_var"],
    )
    decoder_path = to_onnx(export_decoder(model, torch.randn(4, 1, 3)), tmp_path / "decoder.onnx")
    for path in (encoder_path, decoder_path):
        onnx.checker.check_model(onnx.load(str(path)), full_check=True)
        inputs, outputs = _batch_dims(path)
        assert set(inputs) == {"batch"} and set(outputs) == {"batch"}
    assert [v.name for v in onnx.load(str(encoder_path)).graph.output] == ["mu", "log_var"]
    for batch in (3, 7):
        x, z = torch.rand(batch, 6), torch.randn(batch, 1, 3)
        expected = model.encode(x)
        mu, log_var = run_onnx(encoder_path, x)
        np.testing.assert_allclose(mu, expected.mu.numpy(), atol=ATOL, rtol=0)
        np.testing.assert_allclose(log_var, expected.log_var.numpy(), atol=ATOL, rtol=0)
        (x_hat,) = run_onnx(decoder_path, z)
        assert x_hat.shape == (batch, 1, 6)
        np.testing.assert_allclose(x_hat, model.decode(z).x_hat.numpy(), atol=ATOL, rtol=0)


def test_run_onnx_checks_the_number_of_inputs(tmp_path: Path) -> None:
    model = nn.Linear(2, 2)
    program = torch.export.export(model, (torch.rand(3, 2),))
    path = to_onnx(program, tmp_path / "linear.onnx")
    with pytest.raises(ValueError, match=r"has 1 input\(s\)"):
        run_onnx(path, torch.rand(3, 2), torch.rand(3, 2))
    with pytest.raises(TypeError, match=r"program must be a torch\.export\.ExportedProgram"):
        to_onnx(model, tmp_path / "x.onnx")  # type: ignore[arg-type]


def test_missing_onnx_names_the_extra(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "onnx", None)
    program = torch.export.export(nn.Linear(2, 2), (torch.rand(3, 2),))
    with pytest.raises(ImportError, match=r'pip install "pyautoencoder\[onnx\]"'):
        to_onnx(program, tmp_path / "linear.onnx")
    assert not (tmp_path / "linear.onnx").exists()
