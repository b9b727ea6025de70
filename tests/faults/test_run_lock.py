"""The writer lock of a run folder: one writer, named when refused, stale locks taken over."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from faults_helpers import environment

from pyautoencoder.training import RunLockedError, _lock

_HOLD = """
import sys, time
from pyautoencoder.training import _lock
_lock.acquire(sys.argv[1])
print("locked", flush=True)
time.sleep(60)
"""


def _holder(folder: Path) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, "-c", _HOLD, str(folder)],
        env=environment(),
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None and process.stdout.readline().strip() == "locked"
    return process


def test_lock_is_reentrant_and_removed_on_last_release(tmp_path: Path) -> None:
    run = tmp_path / "run"
    _lock.acquire(run)
    _lock.acquire(run)
    assert _lock.is_held(run)
    assert (run / _lock.LOCK_FILE).read_text().split()[0] == str(os.getpid())
    _lock.release(run)
    assert (run / _lock.LOCK_FILE).exists() and _lock.is_held(run)
    _lock.release(run)
    assert not (run / _lock.LOCK_FILE).exists() and not _lock.is_held(run)


def test_second_process_is_refused_with_the_holders_pid(tmp_path: Path) -> None:
    run = tmp_path / "run"
    holder = _holder(run)
    try:
        with pytest.raises(
            RunLockedError, match=f"in use by another writer \\(PID {holder.pid}\\)"
        ):
            _lock.acquire(run)
        assert not _lock.is_held(run)
    finally:
        holder.kill()
        holder.wait()


def test_lock_of_a_killed_process_is_taken_over(tmp_path: Path) -> None:
    run = tmp_path / "run"
    holder = _holder(run)
    holder.kill()  # SIGKILL: no clean-up ran, the lock file (with its PID) stays
    holder.wait()
    assert (run / _lock.LOCK_FILE).read_text().split()[0] == str(holder.pid)
    with _lock.run_lock(run):
        assert (run / _lock.LOCK_FILE).read_text().split()[0] == str(os.getpid())
    assert not (run / _lock.LOCK_FILE).exists()


def test_a_plain_leftover_lock_file_does_not_block(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / _lock.LOCK_FILE).write_text("999999999 elsewhere\n")  # no process holds it
    with _lock.run_lock(run):
        assert (run / _lock.LOCK_FILE).read_text().split()[0] == str(os.getpid())


def test_fit_into_a_folder_in_use_is_refused_before_writing(tmp_path: Path) -> None:
    import torch

    from pyautoencoder.nets import create_model
    from pyautoencoder.training import fit

    run = tmp_path / "run"
    holder = _holder(run)
    try:
        model = create_model("vae", (4,), 2, hidden=(8,))
        with pytest.raises(RunLockedError, match=f"PID {holder.pid}"):
            fit(model, torch.rand(8, 4), epochs=1, out_dir=run, progress=False, loggers=False)
        assert sorted(p.name for p in run.iterdir()) == [_lock.LOCK_FILE]  # nothing written
    finally:
        holder.kill()
        holder.wait()
