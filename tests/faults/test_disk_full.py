"""A disk that fills up during training: one line, exit 2, the last good checkpoint intact.

How the full disk is simulated (portably: no tmpfs, no root): the subprocess replaces the
safetensors writer by one that writes half of the file and then fails with ``ENOSPC``, as a
write on a full disk does, from the third checkpoint write on (the first epoch writes ``best/``
and ``step-00000002/`` normally). ``RLIMIT_FSIZE`` was not used: it limits every file to one
size and raises ``SIGXFSZ``/``EFBIG``, not the ``ENOSPC`` of a full disk.
"""

from __future__ import annotations

import json
from pathlib import Path

from faults_helpers import TINY, assert_one_line_error, debris, run_script, tiny_data

_SCRIPT = r"""
import errno, json, os, sys
import safetensors.torch

from pyautoencoder.cli import main

save_file = safetensors.torch.save_file
calls = []


def full_disk(tensors, filename, metadata=None):
    calls.append(filename)
    if len(calls) <= 2:
        return save_file(tensors, filename, metadata=metadata)
    save_file(tensors, filename, metadata=metadata)
    with open(filename, "r+b") as handle:  # what reached the disk before it filled up
        handle.truncate(os.path.getsize(filename) // 2)
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), filename)


safetensors.torch.save_file = full_disk
code = main(sys.argv[1:])
safetensors.torch.save_file = save_file
print(json.dumps({"code": code, "writes": len(calls)}), flush=True)
sys.exit(0)
"""


def test_disk_full_keeps_the_last_good_checkpoint(tmp_path: Path) -> None:
    data = str(tiny_data(tmp_path))
    args = ["train", "--model", "vae", "--data", data, "--epochs", "3", "--name", "full", *TINY]
    result = run_script(_SCRIPT, *args, cwd=tmp_path)
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert outcome["writes"] == 3
    line = assert_one_line_error(
        outcome["code"], result.stderr, "No space left on device", "step-00000002 is intact"
    )
    assert "cannot write checkpoint" in line
    run = tmp_path / "runs" / "full"
    assert (run / "checkpoints" / "latest").read_text().strip() == "step-00000002"
    assert debris(run) == []  # no half-written temp file or staging folder is left
    evaluated = run_script(
        "import sys; from pyautoencoder.cli import main; sys.exit(main(sys.argv[1:]))",
        "evaluate",
        str(run),
        "--num-samples",
        "2",
        cwd=tmp_path,
    )
    assert evaluated.returncode == 0, evaluated.stderr  # the kept checkpoint loads and works
