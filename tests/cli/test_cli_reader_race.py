"""Readers take no lock: a checkpoint pruned between reading ``latest`` and loading is retried."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from pyautoencoder.cli import _runs
from pyautoencoder.training import CheckpointError


def test_pruned_checkpoint_is_retried_with_the_new_pointer(
    demo_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = tmp_path / "run"
    shutil.copytree(demo_run, run)
    real = _runs.load_weights
    calls: list[Path] = []

    def writer_saves_meanwhile(model: Any, path: Path) -> None:
        calls.append(path)
        if len(calls) == 1:  # the trainer moved latest on and pruned the folder just read
            (run / "checkpoints" / "latest").write_text("best\n")
            raise CheckpointError(f"checkpoint weights not found: {path}")
        real(model, path)

    monkeypatch.setattr(_runs, "load_weights", writer_saves_meanwhile)
    _, _, _, checkpoint = _runs.load_run(run)
    assert checkpoint.name == "best" and len(calls) == 2


def test_a_damaged_checkpoint_is_not_retried(
    demo_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = tmp_path / "run"
    shutil.copytree(demo_run, run)
    calls: list[Path] = []

    def damaged(model: Any, path: Path) -> None:
        calls.append(path)
        raise CheckpointError("cannot read checkpoint weights")

    monkeypatch.setattr(_runs, "load_weights", damaged)
    with pytest.raises(CheckpointError, match="cannot read checkpoint weights"):
        _runs.load_run(run)
    assert len(calls) == 1
