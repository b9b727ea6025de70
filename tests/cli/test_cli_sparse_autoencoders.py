"""``train --model topk_sae --data shards:<glob> --k K --num-latents M`` end to end."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import FAST

from pyautoencoder.cli import main
from pyautoencoder.data import superposition


def write_activation_shards(folder: Path) -> str:
    data = superposition(48, 12, 0.95, num_examples=600, seed=0)
    x = np.concatenate([data.train_x.numpy(), data.test_x.numpy()])
    for index in range(3):
        np.save(folder / f"acts-{index}.npy", x[index * 200 : (index + 1) * 200])
    return str(folder / "acts-*.npy")


@pytest.mark.slow  # one short training run with its report (~6 s)
def test_topk_sae_trains_on_shards_with_l0_fvu_and_the_density_report(tmp_path: Path) -> None:
    pattern = write_activation_shards(tmp_path)
    arguments = ["train", "--model", "topk_sae", "--data", f"shards:{pattern}", "--k", "3"]
    arguments += ["--num-latents", "64", "--epochs", "2", "--batch-size", "64"]
    arguments += ["--out", str(tmp_path / "runs"), "--name", "sae", *FAST]
    assert main(arguments) == 0
    run = tmp_path / "runs" / "sae"
    spec = json.loads((run / "run.json").read_text())
    assert spec["options"]["k"] == 3 and spec["latent_dim"] == 64
    evaluation = json.loads((run / "evaluation.json").read_text())
    assert evaluation["num_examples"] == 120  # the last fifth of 600 held out
    assert evaluation["l0"] <= 3.0 and 0.0 <= evaluation["fvu"] < 1.0
    events = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert any("l0" in e and "fvu" in e for e in events if e["event"] == "train")
    assert (run / "figures" / "feature_density.png").is_file()
    html = (run / "report.html").read_text()
    assert "Feature density" in html and "held-out fraction of variance unexplained" in html
    assert "held-out L0 (active latents per example)" in html


def test_a_bad_shard_is_one_line_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pattern = write_activation_shards(tmp_path)
    np.save(tmp_path / "acts-3.npy", np.zeros((10, 5), dtype=np.float32))
    arguments = ["train", "--model", "topk_sae", "--data", f"shards:{pattern}", "--k", "3"]
    assert main([*arguments, "--out", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err
    assert err.startswith("pyautoencoder: error: ") and "acts-3.npy" in err
    assert "shape (5,)" in err


def test_a_glob_without_shards_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = f"shards:{tmp_path / 'none-*.npy'}"
    assert main(["train", "--model", "topk_sae", "--data", spec, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "no .npy shard matches" in err


def test_k_is_checked_like_a_set_option(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pattern = write_activation_shards(tmp_path)
    arguments = ["train", "--model", "vae", "--data", f"shards:{pattern}", "--k", "3"]
    assert main([*arguments, "--out", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "has no option 'k'" in err


@pytest.mark.slow  # one short training run (~5 s)
def test_num_latents_defaults_to_an_overcomplete_dictionary(tmp_path: Path) -> None:
    """Without ``--num-latents`` a sparse autoencoder gets ``4 x D`` latents (``k=32`` fits),
    not the 8 latents of the other models."""
    pattern = write_activation_shards(tmp_path)  # 48 features in D = 12 dimensions
    arguments = ["train", "--model", "topk_sae", "--data", f"shards:{pattern}", "--epochs", "1"]
    arguments += ["--batch-size", "480", "--no-report", "--out", str(tmp_path / "runs")]
    assert main([*arguments, "--name", "sae", *FAST]) == 0
    spec = json.loads((tmp_path / "runs" / "sae" / "run.json").read_text())
    assert (
        spec["input_shape"] == [12] and spec["latent_dim"] == 4 * 12 and "k" not in spec["options"]
    )
