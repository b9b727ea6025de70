"""Every mistake documented in docs/cli.md: exit code 2, one line on stderr, no traceback.

The cases are the rows of the table between ``<!-- mistakes:start -->`` and
``<!-- mistakes:end -->`` in docs/cli.md, so a documented mistake is a tested one. They run in
one driver process (``cli_driver.py``, fd-level stderr capture); a few also run as real
``python -m pyautoencoder`` processes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from faults_helpers import assert_one_line_error, documented_mistakes, run_cli, tiny_data

MISTAKES = documented_mistakes()


def test_the_table_covers_the_reported_mistakes() -> None:
    argv = [" ".join(case["argv"]) for case in MISTAKES]
    for needle in (
        "--epochs 0",
        "--epochs -1",
        "--batch-size 0",
        "--lr -1",
        "--accelerator",
        "strings.npy",
        "text.npy",
        "flat.npy",
        "pixels.npy",
        "nan.npy",
        "huge.npy",
        "mnist:bad-idx",
        "--out a-file",
        "--precision 123",
        "--label",
    ):
        assert any(needle in command for command in argv), needle


@pytest.mark.parametrize("case", MISTAKES, ids=[case["id"] for case in MISTAKES])
def test_documented_mistake_is_one_line_and_exit_2(
    case: dict[str, Any], driver_results: dict[str, dict[str, Any]]
) -> None:
    result = driver_results[case["id"]]
    line = assert_one_line_error(result["code"], result["stderr"], case["fragment"])
    assert "allow_pickle" not in line  # never advise loading pickles


def test_refused_new_runs_leave_no_folder(driver_results: dict[str, dict[str, Any]]) -> None:
    # Several mistakes above are found after the run folder was created (by Fabric, by the
    # data checks); the folders of the trained runs are the only ones left.
    assert driver_results["__runs__"]["folders"] == ["cvae", "p16", "tiny"]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["--epochs", "0"], "argument --epochs: must be >= 1, got 0"),
        (["--data", "strings.npy"], "strings.npy is not a numeric array"),
        (["--data", "pixels.npy"], "use --likelihood gaussian"),
    ],
)
def test_real_command_line(tmp_path: Path, argv: list[str], fragment: str) -> None:
    """The same through ``python -m pyautoencoder``: nothing else reaches stderr."""
    tiny_data(tmp_path)
    np.save(tmp_path / "strings.npy", np.array(["a", "b"]))
    np.save(tmp_path / "pixels.npy", np.full((10, 6), 200.0, dtype=np.float32))
    base = ["train", "--model", "vae", "--data", "tiny.npy", "--name", "r", "--quiet"]
    result = run_cli(*base, *argv, cwd=tmp_path)
    assert_one_line_error(result.returncode, result.stderr, fragment)
    assert not (tmp_path / "runs" / "r").exists()
