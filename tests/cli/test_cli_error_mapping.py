"""The one place that turns errors into a line and an exit code (cli._errors.user_error)."""

from __future__ import annotations

import errno

import pytest

from pyautoencoder.cli._errors import CLIError, user_error
from pyautoencoder.pretrained import PretrainedError
from pyautoencoder.training import CheckpointError, NonFiniteLossError, RunLockedError


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (CLIError("bad --name"), 2),
        (CheckpointError("corrupted"), 2),
        (RunLockedError("in use (PID 1)"), 2),
        (PretrainedError("bad config"), 2),
        (NonFiniteLossError("diverged"), 1),
        (ImportError('needs x: pip install "pyautoencoder[train]"'), 2),
    ],
)
def test_user_errors_become_one_line(error: Exception, code: int) -> None:
    assert user_error(error) == (code, str(error))


def test_multi_line_messages_are_folded_into_one() -> None:
    code, line = user_error(CLIError("first\n  second\n\nthird"))  # type: ignore[misc]
    assert (code, line) == (2, "first second third")


@pytest.mark.parametrize(
    ("number", "fragment"),
    [
        (errno.ENOSPC, "No space left on device (free some space"),
        (errno.EACCES, "Permission denied (pick a folder you can write to (--out))"),
        (errno.EROFS, "Read-only file system (pick another folder"),
        (errno.ENOTDIR, "a file is in the way"),
    ],
)
def test_file_system_errors_name_the_path_and_the_fix(number: int, fragment: str) -> None:
    import os

    code, line = user_error(OSError(number, os.strerror(number), "runs/a/x"))  # type: ignore[misc]
    assert code == 2 and line.startswith("cannot access runs/a/x: ") and fragment in line


@pytest.mark.parametrize(
    "error", [ValueError("a bug"), TypeError("a bug"), ImportError("no module named x")]
)
def test_anything_else_keeps_its_traceback(error: Exception) -> None:
    assert user_error(error) is None
