"""User errors: one line on stderr, exit code 2, no traceback, nothing executed."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import torch

from pyautoencoder.cli import main


def _one_line_error(capsys: pytest.CaptureFixture, *fragments: str) -> str:
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err
    assert err.startswith("pyautoencoder: error: ")
    for fragment in fragments:
        assert fragment in err, err
    return err


def test_unknown_model_suggests_and_lists(capsys: pytest.CaptureFixture, tmp_path: Path) -> None:
    assert main(["train", "--model", "vea", "--data", "digits", "--out", str(tmp_path)]) == 2
    _one_line_error(capsys, "unknown model 'vea'", "Did you mean 'vae'", "iwae")


def test_unknown_data_suggests_and_lists(capsys: pytest.CaptureFixture, tmp_path: Path) -> None:
    assert main(["train", "--model", "vae", "--data", "digts", "--out", str(tmp_path)]) == 2
    _one_line_error(capsys, "unknown data set 'digts'", "Did you mean 'digits'", "mnist:<dir>")


@pytest.mark.parametrize("spec", ["missing.npy", "mnist:/no/such/folder"])
def test_missing_data_path(spec: str, capsys: pytest.CaptureFixture, tmp_path: Path) -> None:
    assert main(["train", "--model", "vae", "--data", spec, "--out", str(tmp_path)]) == 2
    _one_line_error(capsys, "not found")


def test_corrupted_checkpoint(demo_run: Path, tmp_path: Path, capsys) -> None:
    run = tmp_path / "run"
    shutil.copytree(demo_run, run)
    latest = run / "checkpoints" / (run / "checkpoints" / "latest").read_text().strip()
    weights = latest / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:200])
    assert main(["evaluate", str(run)]) == 2
    _one_line_error(capsys, "cannot read checkpoint weights", "corrupted")


def test_incompatible_resume(demo_run: Path, tmp_path: Path, capsys) -> None:
    run = tmp_path / "run"
    shutil.copytree(demo_run, run)
    assert main(["train", "--resume", str(run), "--model", "iwae"]) == 2
    _one_line_error(capsys, "--resume: the run was trained with --model vae, got iwae")
    assert main(["train", "--resume", str(tmp_path / "nothing")]) == 2
    _one_line_error(capsys, "run folder not found")


class _Payload:
    def __init__(self, sentinel: Path) -> None:
        self.sentinel = sentinel

    def __reduce__(self):
        return (os.system, (f"touch {self.sentinel}",))


def test_malicious_pt_data_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    sentinel = tmp_path / "pwned"
    path = tmp_path / "data.pt"
    torch.save({"x": torch.rand(10, 4), "payload": _Payload(sentinel)}, path)
    assert main(["train", "--model", "vae", "--data", str(path), "--out", str(tmp_path)]) == 2
    _one_line_error(capsys, "refusing to load", "weights-only")
    assert not sentinel.exists()


def test_malicious_trainer_state_on_resume(demo_run: Path, tmp_path: Path, capsys) -> None:
    run = tmp_path / "run"
    shutil.copytree(demo_run, run)
    sentinel = tmp_path / "pwned"
    latest = run / "checkpoints" / (run / "checkpoints" / "latest").read_text().strip()
    torch.save({"format_version": 1, "payload": _Payload(sentinel)}, latest / "trainer_state.pt")
    assert main(["train", "--resume", str(run), "--quiet"]) == 2
    _one_line_error(capsys, "refusing to load trainer state")
    assert not sentinel.exists()
