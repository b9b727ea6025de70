"""Two writers on one run folder: one consistent run, the other refused with one line."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from faults_helpers import (
    TINY,
    assert_one_line_error,
    debris,
    environment,
    run_cli,
    start_cli,
    tiny_data,
)

from pyautoencoder.cli._runs import RunSpec
from pyautoencoder.nets import create_model
from pyautoencoder.training import find_checkpoint, load_trainer_state, load_weights

pytestmark = pytest.mark.slow


def _assert_consistent_run(run: Path, hidden: int, steps: int) -> None:
    """run.json, the checkpoint and metrics.jsonl all come from one run of ``steps`` steps."""
    spec = RunSpec.load(run)
    assert spec.hidden == [hidden]
    checkpoint = find_checkpoint(run)
    model = create_model("vae", tuple(spec.input_shape), spec.latent_dim, hidden=(hidden,))
    load_weights(model, checkpoint / "model.safetensors")  # shapes fit this run.json
    assert load_trainer_state(checkpoint / "trainer_state.pt")["step"] == steps
    events = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    train_steps = [e["step"] for e in events if e["event"] == "train"]
    assert train_steps == sorted(set(train_steps)) and train_steps[-1] == steps
    assert not (run / ".lock").exists() and debris(run) == []


def test_two_writers_started_together(tmp_path: Path) -> None:
    data = str(tiny_data(tmp_path))
    common = ["train", "--model", "vae", "--data", data, "--epochs", "4", "--name", "same"]
    first = start_cli(*common, *TINY, cwd=tmp_path)
    second = start_cli(*common, *TINY, "--hidden", "4", cwd=tmp_path)
    outcomes = {}
    for hidden, process in ((8, first), (4, second)):
        _, err = process.communicate(timeout=120)
        outcomes[hidden] = (process.returncode, err)
    winners = [hidden for hidden, (code, _) in outcomes.items() if code == 0]
    assert len(winners) == 1, outcomes
    (loser,) = set(outcomes) - set(winners)
    code, err = outcomes[loser]
    if "already holds a run" not in err:  # it lost the race for the lock
        assert_one_line_error(code, err, "is in use by another writer (PID ")
    else:  # it came after the winner had finished
        assert_one_line_error(code, err, "already holds a run")
    _assert_consistent_run(tmp_path / "runs" / "same", hidden=winners[0], steps=4 * 2)


_PAUSED_TRAINING = """
import sys, time
from pathlib import Path
from pyautoencoder.training import _trainer

go = Path(sys.argv[1])
save = _trainer.Trainer._checkpoint


def checkpoint_then_wait(self, name=None):  # holds the run (and its lock) until go exists
    save(self, name)
    while name is None and not go.exists():
        time.sleep(0.02)


_trainer.Trainer._checkpoint = checkpoint_then_wait
from pyautoencoder.cli import main

sys.exit(main(sys.argv[2:]))
"""


def test_resume_and_evaluate_while_a_run_trains(tmp_path: Path) -> None:
    data = str(tiny_data(tmp_path))
    run, go = tmp_path / "runs" / "busy", tmp_path / "go"
    args = ["train", "--model", "vae", "--data", data, "--epochs", "3", "--name", "busy", *TINY]
    trainer = subprocess.Popen(
        [sys.executable, "-c", _PAUSED_TRAINING, str(go), *args],
        cwd=tmp_path,
        env=environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not (run / "checkpoints" / "latest").is_file():
            assert trainer.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        resumed = run_cli("train", "--resume", str(run), "--epochs", "5", *TINY, cwd=tmp_path)
        evaluated = run_cli("evaluate", str(run), "--num-samples", "2", cwd=tmp_path)
        assert trainer.poll() is None  # the first run was training all along
        go.touch()
        _, err = trainer.communicate(timeout=120)
    finally:
        trainer.kill()
    assert trainer.returncode == 0, err
    assert_one_line_error(
        resumed.returncode, resumed.stderr, f"is in use by another writer (PID {trainer.pid})"
    )
    assert evaluated.returncode == 0, evaluated.stderr  # readers work during training
    assert "held-out ELBO" in evaluated.stdout
    _assert_consistent_run(run, hidden=8, steps=3 * 2)
