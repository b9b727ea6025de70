"""Shared pieces of the fault-injection tests (a uniquely named module: conftest names clash).

Every test here drives the real command (``python -m pyautoencoder``) or a small script in a
subprocess, because what is tested is what a process leaves behind: its exit code, its
stderr, and the files of the run folder.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

TINY = [
    "--hidden",
    "8",
    "--latent-dim",
    "2",
    "--batch-size",
    "16",
    "--quiet",
    "--no-report",
    "--num-samples",
    "2",
    "--logger",
    "none",
    "--threads",
    "1",
]
"""Training options that keep a run to a few milliseconds per step."""


def tiny_data(folder: Path, n: int = 40, features: int = 6) -> Path:
    """``folder/tiny.npy``: ``n`` examples of ``features`` values in [0, 1] (seeded)."""
    path = folder / "tiny.npy"
    if not path.exists():
        rng = np.random.default_rng(0)
        np.save(path, rng.random((n, features), dtype=np.float32))
    return path


def environment() -> dict[str, str]:
    """The test's environment (PYTHONPATH included) with one thread per process."""
    env = dict(os.environ)
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    for name in ("LOCAL_RANK", "NODE_RANK", "GROUP_RANK", "SLURM_PROCID"):
        env.pop(name, None)
    return env


def cli_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "pyautoencoder", *args]


def run_cli(*args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run the command to completion and capture its output."""
    return subprocess.run(
        cli_command(*args),
        cwd=cwd,
        env=environment(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def start_cli(*args: str, cwd: Path) -> subprocess.Popen[str]:
    """Start the command in the background (stdout and stderr captured)."""
    return subprocess.Popen(
        cli_command(*args),
        cwd=cwd,
        env=environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def run_script(
    source: str, *args: str, cwd: Path, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run a Python script (given as text) in a fresh interpreter."""
    return subprocess.run(
        [sys.executable, "-c", source, *args],
        cwd=cwd,
        env=environment(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def assert_one_line_error(code: int, stderr: str, *fragments: str) -> str:
    """Exit code 2, exactly one line on stderr, no traceback, each fragment in the line."""
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert code == 2, (code, stderr)
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    assert lines[0].startswith("pyautoencoder"), lines[0]
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


def debris(folder: Path) -> list[str]:
    """Temp files and staging folders left anywhere under ``folder``."""
    return sorted(
        str(p.relative_to(folder))
        for p in folder.rglob(".*")
        if p.name.endswith(".tmp") or ".partial-" in p.name or ".old-" in p.name
    )


# ---------------------------------------------------------------------- many cases, one process
DRIVER = Path(__file__).with_name("cli_driver.py")
DOCS_CLI = Path(__file__).resolve().parents[2] / "docs" / "cli.md"


def documented_mistakes() -> list[dict[str, Any]]:
    """The rows of the mistakes table in docs/cli.md: ``id``, ``argv`` and ``fragment``."""
    import torch

    text = DOCS_CLI.read_text(encoding="utf-8")
    table = text.split("<!-- mistakes:start -->")[1].split("<!-- mistakes:end -->")[0]
    cases = []
    for line in table.strip().splitlines()[2:]:
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        mistake, command, fragment = cells[0], cells[1].strip("`"), cells[2].strip("`")
        argv = shlex.split(command)
        assert argv[0] == "pyautoencoder", command
        argv = argv[1:]
        if "cuda" in argv and torch.cuda.is_available():  # a machine with a GPU: ask for mps
            argv[argv.index("cuda")] = "mps"
        cases.append({"id": mistake, "argv": argv, "fragment": fragment})
    return cases


def run_driver(work: Path, cases: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Run ``cases`` through ``cli_driver.py`` in one fresh interpreter; results by case id."""
    cases_file = work / "cases.json"
    cases_file.write_text(json.dumps(cases))
    result = subprocess.run(
        [sys.executable, str(DRIVER), str(work), str(cases_file)],
        cwd=work,
        env=environment(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads((work / "results.json").read_text())
