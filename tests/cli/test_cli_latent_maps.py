"""``pyautoencoder train --net resnet --latent-channels C``: a VAE with latent maps."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_helpers import FAST

from pyautoencoder.cli import main
from pyautoencoder.pretrained import from_pretrained

_MAPS = ["--model", "vae", "--net", "resnet", "--hidden", "8", "16", "--latent-channels", "2"]


@pytest.mark.slow
def test_train_evaluate_and_reload_a_vae_with_latent_maps(tmp_path: Path) -> None:
    args = ["--data", "digits", "--epochs", "1", "--batch-size", "512", "--no-report", *FAST]
    assert main(["train", *_MAPS, *args, "--out", str(tmp_path), "--name", "maps"]) == 0
    run = tmp_path / "maps"
    assert json.loads((run / "run.json").read_text())["latent_channels"] == 2
    assert main(["evaluate", str(run), "--num-samples", "3"]) == 0
    model = from_pretrained(run)
    assert model.latent_shape == (2, 4, 4)  # digits are 1 x 8 x 8; two stages halve once


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        (["--net", "mlp", "--latent-channels", "2"], "--latent-channels needs --net resnet"),
        (["--model", "aae", "--net", "resnet", "--latent-channels", "2"], "flat latent only"),
    ],
)
def test_latent_channels_where_maps_do_not_apply_is_one_line(
    extra: list[str], fragment: str, capsys: pytest.CaptureFixture, tmp_path: Path
) -> None:
    args = ["train", "--model", "vae", "--data", "digits", "--out", str(tmp_path), *extra]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err and fragment in err, err
