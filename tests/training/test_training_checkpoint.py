"""Checkpoints: safetensors weights, weights-only trainer state, atomic folders, refusal of
pickles that would run code."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from torch import nn

from pyautoencoder.training import (
    CheckpointError,
    find_checkpoint,
    load_trainer_state,
    load_weights,
    save_checkpoint,
)
from pyautoencoder.training._checkpoint import STATE_FILE, WEIGHTS_FILE


def _state(step: int) -> dict:
    return {"format_version": 1, "step": step, "rng": torch.get_rng_state(), "lr": [0.1, 0.2]}


def test_checkpoint_round_trip_restores_weights_and_state(tmp_path: Path) -> None:
    source = nn.Linear(4, 3)
    written = _state(1)
    save_checkpoint(tmp_path, "step-00000001", source, written)
    target = nn.Linear(4, 3)
    folder = find_checkpoint(tmp_path)
    load_weights(target, folder / WEIGHTS_FILE)
    state = load_trainer_state(folder / STATE_FILE)
    assert torch.equal(target.weight, source.weight) and torch.equal(target.bias, source.bias)
    assert state["step"] == 1 and torch.equal(state["rng"], written["rng"])


def test_tied_weights_are_saved(tmp_path: Path) -> None:
    model = nn.Sequential(nn.Linear(3, 3, bias=False), nn.Linear(3, 3, bias=False))
    model[1].weight = model[0].weight
    save_checkpoint(tmp_path, "step-00000001", model, _state(1))
    copy = nn.Sequential(nn.Linear(3, 3, bias=False), nn.Linear(3, 3, bias=False))
    load_weights(copy, find_checkpoint(tmp_path) / WEIGHTS_FILE)
    assert torch.equal(copy[1].weight, model[0].weight)


def test_latest_pointer_moves_and_old_checkpoints_are_pruned(tmp_path: Path) -> None:
    model = nn.Linear(2, 2)
    for step in (1, 2, 3):
        save_checkpoint(tmp_path, f"step-{step:08d}", model, _state(step), keep_last=2)
    assert find_checkpoint(tmp_path).name == "step-00000003"
    assert sorted(p.name for p in tmp_path.glob("step-*")) == ["step-00000002", "step-00000003"]


def test_weights_of_another_model_are_refused_with_the_keys(tmp_path: Path) -> None:
    save_checkpoint(tmp_path, "step-00000001", nn.Linear(4, 3), _state(1))
    with pytest.raises(CheckpointError, match=r"does not fit the model: .*weight \(3, 4\) vs"):
        load_weights(nn.Linear(5, 3), find_checkpoint(tmp_path) / WEIGHTS_FILE)


def test_truncated_weights_give_one_line_error(tmp_path: Path) -> None:
    folder = save_checkpoint(tmp_path, "step-00000001", nn.Linear(40, 30), _state(1))
    weights = folder / WEIGHTS_FILE
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(CheckpointError, match="corrupted") as info:
        load_weights(nn.Linear(40, 30), weights)
    assert "\n" not in str(info.value)


def test_missing_checkpoint_is_named(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="does not exist"):
        find_checkpoint(tmp_path / "nope")
    with pytest.raises(CheckpointError, match="no checkpoint in"):
        find_checkpoint(tmp_path)


class _Payload:
    """Pickles to a call that would create the sentinel file if it were ever executed."""

    def __init__(self, sentinel: Path) -> None:
        self.sentinel = sentinel

    def __reduce__(self):
        return (os.system, (f"touch {self.sentinel}",))


def test_pickle_with_reduce_payload_is_refused_without_running_it(tmp_path: Path) -> None:
    sentinel = tmp_path / "pwned"
    path = tmp_path / STATE_FILE
    torch.save({"format_version": 1, "step": 1, "payload": _Payload(sentinel)}, path)
    with pytest.raises(CheckpointError, match="refusing to load") as info:
        load_trainer_state(path)
    assert not sentinel.exists()
    assert "\n" not in str(info.value)


_KILLED_WRITER = textwrap.dedent(
    """
    import sys, time, torch
    from torch import nn
    import pyautoencoder.training._checkpoint as ckpt

    root = sys.argv[1]
    torch.manual_seed(0)
    small = nn.Linear(4, 4)
    ckpt.save_checkpoint(root, "step-00000001", small, {"format_version": 1, "step": 1})
    big = nn.Linear(2048, 2048)  # 16 MiB of weights, then a state file that never finishes

    def stalled_save(obj, handle):
        handle.write(b"PK" + b"\\0" * 1_000_000)  # half a zip archive
        handle.flush()
        print("writing", flush=True)
        time.sleep(60)

    ckpt.torch.save = stalled_save
    ckpt.save_checkpoint(root, "step-00000002", big, {"format_version": 1, "step": 2})
    """
)


def test_checkpoint_killed_mid_write_leaves_previous_one_loadable(tmp_path: Path) -> None:
    script = tmp_path / "writer.py"
    script.write_text(_KILLED_WRITER)
    root = tmp_path / "checkpoints"
    process = subprocess.Popen(
        [sys.executable, str(script), str(root)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "writing"
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL
    folder = find_checkpoint(root)
    assert folder.name == "step-00000001"
    model = nn.Linear(4, 4)
    load_weights(model, folder / WEIGHTS_FILE)
    assert load_trainer_state(folder / STATE_FILE)["step"] == 1
    torch.manual_seed(0)
    assert torch.equal(model.weight, nn.Linear(4, 4).weight)
    assert not (root / "step-00000002").exists()
    # A later save still works next to the debris of the killed one.
    save_checkpoint(root, "step-00000003", model, {"format_version": 1, "step": 3})
    assert find_checkpoint(root).name == "step-00000003"
    assert not list(root.glob(".*partial*"))
