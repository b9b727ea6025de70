"""The ``pyautoencoder`` command end to end: demo, train, evaluate, sample, report."""

from __future__ import annotations

import base64
import io
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import FAST
from PIL import Image

from pyautoencoder.cli import main
from pyautoencoder.registry import list_models


def _pngs_in(html: str) -> list[Image.Image]:
    encoded = re.findall(r"src='data:image/png;base64,([A-Za-z0-9+/=]+)'", html)
    return [Image.open(io.BytesIO(base64.b64decode(data))) for data in encoded]


def _not_blank(image: Image.Image) -> bool:
    return float(np.asarray(image.convert("L"), dtype=np.float64).std()) > 0


def test_demo_writes_checkpoint_metrics_and_report(demo_run: Path) -> None:
    assert (demo_run / "checkpoints" / "latest").is_file()
    assert (demo_run / "run.json").is_file()
    events = [json.loads(line) for line in (demo_run / "metrics.jsonl").read_text().splitlines()]
    assert {"train", "val"} <= {e["event"] for e in events}
    html = (demo_run / "report.html").read_text()
    images = _pngs_in(html)
    assert len(images) == 5  # curves, reconstructions, samples, traversals, latent PCA
    assert all(image.size[0] > 100 and image.size[1] > 50 for image in images)
    assert all(_not_blank(image) for image in images)
    assert "held-out ELBO" in html
    for name in ("curves", "reconstructions", "samples", "traversals", "latent_pca"):
        assert _not_blank(Image.open(demo_run / "figures" / f"{name}.png"))


def test_evaluate_prints_held_out_elbo(demo_run: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["evaluate", str(demo_run), "--num-samples", "4", "--json"]) == 0
    output = capsys.readouterr().out
    assert "held-out ELBO (nats)" in output
    metrics = json.loads(output.strip().splitlines()[-1])
    assert metrics["log_likelihood"] >= metrics["elbo"] - 1.0  # IW bound ~>= ELBO (MC noise)
    assert metrics["elbo"] < 0 and metrics["reconstruction_error"] > 0
    assert json.loads((demo_run / "evaluation.json").read_text())["elbo"] == metrics["elbo"]


def test_sample_writes_a_png_grid(demo_run: Path, tmp_path: Path) -> None:
    target = tmp_path / "grid.png"
    assert main(["sample", str(demo_run), "-n", "16", "-o", str(target)]) == 0
    assert _not_blank(Image.open(target))


def test_report_is_rewritten(demo_run: Path, tmp_path: Path) -> None:
    copy = tmp_path / "run"
    shutil.copytree(demo_run, copy)
    (copy / "report.html").unlink()
    assert main(["report", str(copy), "--num-samples", "3"]) == 0
    assert len(_pngs_in((copy / "report.html").read_text())) == 5


def test_resume_continues_the_run(tmp_path: Path) -> None:
    args = ["--out", str(tmp_path), "--name", "r", "--batch-size", "256", "--no-report", *FAST]
    assert main(["train", "--model", "vae", "--data", "digits", "--epochs", "1", *args]) == 0
    run = tmp_path / "r"
    first = (run / "checkpoints" / "latest").read_text().strip()
    assert main(["train", "--resume", str(run), "--epochs", "2", "--no-report", *FAST]) == 0
    second = (run / "checkpoints" / "latest").read_text().strip()
    assert int(second.split("-")[1]) == 2 * int(first.split("-")[1])


@pytest.mark.slow
@pytest.mark.parametrize("model", list_models())
def test_every_registered_model_trains_from_the_command_line(model: str, tmp_path: Path) -> None:
    args = ["--out", str(tmp_path), "--name", model, "--batch-size", "512", *FAST]
    assert main(["train", "--model", model, "--data", "digits", "--epochs", "1", *args]) == 0
    assert (tmp_path / model / "report.html").is_file()


def test_npy_file_data(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    path = tmp_path / "examples.npy"
    np.save(path, rng.random((60, 16), dtype=np.float32))
    args = ["--out", str(tmp_path), "--name", "npy", "--epochs", "1", "--no-report", *FAST]
    assert main(["train", "--model", "ae", "--data", str(path), *args]) == 0


@pytest.mark.parametrize("command", ["demo", "train", "evaluate", "sample", "report"])
def test_every_subcommand_has_help(command: str, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as info:
        main([command, "--help"])
    assert info.value.code == 0
    assert f"usage: pyautoencoder {command}" in capsys.readouterr().out


def test_python_dash_m_runs_the_command() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "pyautoencoder", "--help"], capture_output=True, text=True
    )
    assert completed.returncode == 0
    assert all(name in completed.stdout for name in ("demo", "train", "evaluate", "sample"))


MNIST = Path(__file__).resolve().parents[3] / "shared" / "data" / "mnist"


@pytest.mark.skipif(not MNIST.is_dir(), reason="the MNIST test split is only on project machines")
def test_mnist_idx_folder(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    args = ["--out", str(tmp_path), "--name", "m", "--epochs", "1", "--batch-size", "1024"]
    data = f"mnist:{MNIST}"
    assert main(["train", "--model", "vae", "--data", data, *args, "--no-report", *FAST]) == 0
    run = json.loads((tmp_path / "m" / "run.json").read_text())
    assert run["input_shape"] == [1, 28, 28]
    assert "held-out ELBO" in capsys.readouterr().out
