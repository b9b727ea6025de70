"""Seeded runs repeat exactly across processes, and every epoch prints a line without a TTY."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pyautoencoder.cli import main

EPOCHS = 2
TINY = [
    "--model", "vae", "--epochs", str(EPOCHS), "--batch-size", "32", "--hidden", "16",
    "--latent-dim", "2", "--no-report", "--logger", "none", "--num-samples", "2",
    "--log-every", "1",
]  # fmt: skip


def _values(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def two_processes(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list]:
    """Two ``pyautoencoder train`` processes with one seed, stdout and stderr piped (no TTY)."""
    root = tmp_path_factory.mktemp("seeded")
    data = root / "x.npy"
    rng = np.random.default_rng(0)
    np.save(data, (rng.random((96, 10)) > 0.5).astype(np.float32))
    completed = []
    for name in ("a", "b"):
        command = [sys.executable, "-m", "pyautoencoder", "train", "--data", str(data), *TINY]
        command += ["--seed", "3", "--out", str(root), "--name", name]
        completed.append(subprocess.run(command, capture_output=True, text=True, timeout=300))
    for process in completed:
        assert process.returncode == 0, process.stderr
    return root, completed


@pytest.mark.slow
def test_two_processes_with_one_seed_write_identical_metrics(two_processes) -> None:
    root, _ = two_processes
    first, second = _values(root / "a"), _values(root / "b")
    assert [e["event"] for e in first].count("val") == EPOCHS
    assert first == second


@pytest.mark.slow
def test_another_seed_writes_other_metrics(two_processes) -> None:
    root, _ = two_processes
    args = ["train", "--data", str(root / "x.npy"), *TINY, "--quiet"]
    assert main([*args, "--seed", "4", "--out", str(root), "--name", "c"]) == 0
    assert _values(root / "c") != _values(root / "a")


@pytest.mark.slow
def test_each_epoch_prints_one_line_without_a_terminal(two_processes) -> None:
    root, completed = two_processes
    lines = [line for line in completed[0].stdout.splitlines() if line.startswith("epoch ")]
    assert len(lines) == EPOCHS
    val = [e for e in _values(root / "a") if e["event"] == "val"]
    for index, (line, event) in enumerate(zip(lines, val), start=1):
        assert line.startswith(f"epoch {index}/{EPOCHS}: train loss ")
        assert f"| held-out loss {event['loss']:.3f}, ELBO {event['elbo']:.3f}" in line
    assert "it/s" not in completed[0].stderr  # no progress bar in a pipe


def test_quiet_prints_no_epoch_lines(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    data = tmp_path / "x.npy"
    np.save(data, (np.random.default_rng(1).random((64, 6)) > 0.5).astype(np.float32))
    args = ["train", "--data", str(data), *TINY, "--epochs", "1", "--quiet"]
    assert main([*args, "--out", str(tmp_path), "--name", "q"]) == 0
    assert not [line for line in capsys.readouterr().out.splitlines() if line.startswith("epoch")]
