"""``pyautoencoder train`` for the models trained with several optimizers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_helpers import FAST

from pyautoencoder.cli import main


@pytest.mark.slow
@pytest.mark.parametrize("model", ["factor_vae", "aae", "vae_gan", "vqgan"])
def test_adversarial_models_train_on_shapes(model: str, tmp_path: Path) -> None:
    args = ["--out", str(tmp_path), "--name", model, "--batch-size", "512", "--no-report", *FAST]
    assert main(["train", "--model", model, "--data", "shapes", "--epochs", "1", *args]) == 0
    run = tmp_path / model
    events = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    train = [event for event in events if event["event"] == "train"]
    assert "discriminator_loss" in train[-1]
    assert (run / "checkpoints" / "latest").is_file()
