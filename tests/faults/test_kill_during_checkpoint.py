"""Processes killed while writing checkpoints: ``latest`` stays readable, the next save cleans.

A subprocess forks writers that save checkpoints in a loop and kills them: at random moments
(``SIGKILL``), and at chosen points (inside the staging folder, between the two renames of a
replaced folder, after the ``latest`` temp file was written but before it was renamed), where
the writer calls ``os._exit`` exactly as a kill would leave it. After every kill the latest
checkpoint must load; after the last one a single save must leave no temp file or folder.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from faults_helpers import run_script

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="kills forked writers (POSIX)")

_SCRIPT = r"""
import json, os, random, signal, sys, time
from pathlib import Path

import torch
from torch import nn
from pyautoencoder.training import _checkpoint as ck

torch.set_num_threads(1)
root = Path(sys.argv[1])
model = nn.Sequential(nn.Linear(300, 300), nn.Linear(300, 10))
state = {"format_version": 1, "step": 0, "blob": torch.zeros(50_000)}
ck.save_checkpoint(root, "step-00000000", model, state)


def writer(kill_point):
    if kill_point == "staging":  # weights are in the staging folder, the state is not
        ck.save_trainer_state = lambda path, state: os._exit(0)
    replace = os.replace

    def replace_then_die(src, dst):
        if kill_point == "latest" and Path(dst).name == "latest":
            os._exit(0)  # the temp file of the pointer is written and fsynced
        replace(src, dst)
        if kill_point == "old" and ".old-" in Path(dst).name:  # step-* or best/ re-saved
            os._exit(0)  # the old folder was moved aside, the new one is not in place yet
    os.replace = replace_then_die
    step = 1
    while True:
        ck.save_checkpoint(root, ck.checkpoint_name(step), model, {**state, "step": step})
        ck.save_checkpoint(root, "best", model, {**state, "step": step}, update_latest=False)
        step += 1


def check_latest():
    checkpoint = ck.find_checkpoint(root)
    ck.load_weights(model, checkpoint / ck.WEIGHTS_FILE)
    return ck.load_trainer_state(checkpoint / ck.STATE_FILE)["step"]


def debris():
    return sorted(p.name for p in root.iterdir() if p.name.startswith("."))


random.seed(0)
kill_points = [None] * 12 + ["staging", "old", "latest"]
steps, left = [], {}
for kill_point in kill_points:
    pid = os.fork()
    if pid == 0:
        writer(kill_point)
    if kill_point is None:
        time.sleep(random.uniform(0.0, 0.05))
        os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    steps.append(check_latest())
    left[str(kill_point)] = debris()  # the next writer's first save removes it

ck.save_checkpoint(root, ck.checkpoint_name(10_000), model, {**state, "step": 10_000})
print(json.dumps({"steps": steps, "debris_before": left, "debris_after": debris(),
                  "latest": check_latest()}))
"""


def test_kill_loop_leaves_latest_readable_and_next_save_cleans(tmp_path: Path) -> None:
    result = run_script(_SCRIPT, str(tmp_path / "checkpoints"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert len(report["steps"]) == 15  # the latest checkpoint loaded after every kill
    left = report["debris_before"]  # what each chosen kill point left behind
    assert any(".partial-" in name for name in left["staging"]), left
    assert any(".old-" in name for name in left["old"]), left
    assert any(name.startswith(".latest.") and name.endswith(".tmp") for name in left["latest"])
    assert report["debris_after"] == []
    assert report["latest"] == 10_000
