"""Atomic writes: content replaced whole, permissions as a plain ``open()`` would give them."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pyautoencoder._io import (
    atomic_save_file,
    atomic_write,
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
)

posix_only = pytest.mark.skipif(os.name != "posix", reason="POSIX file modes and umask")

_WRITERS: dict[str, Callable[[Path], None]] = {
    "bytes": lambda path: atomic_write_bytes(path, b"\x00\x01"),
    "text": lambda path: atomic_write_text(path, "hello"),
    "json": lambda path: atomic_write_json(path, {"a": 1}),
    "save_file": lambda path: atomic_save_file(path, lambda name: Path(name).write_bytes(b"x")),
}


@pytest.fixture
def umask() -> Iterator[Callable[[int], int]]:
    """``os.umask`` for the test; the process's umask is restored afterwards."""
    previous = os.umask(0o022)
    yield os.umask
    os.umask(previous)


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@posix_only
@pytest.mark.parametrize("writer", sorted(_WRITERS))
@pytest.mark.parametrize("mask", [0o022, 0o002, 0o077, 0o027])
def test_new_files_get_0666_minus_umask(
    tmp_path: Path, umask: Callable[[int], int], writer: str, mask: int
) -> None:
    umask(mask)
    target = tmp_path / "sub" / f"{writer}.out"
    _WRITERS[writer](target)
    reference = tmp_path / "plain.out"
    with open(reference, "w"):  # what a plain open() gives under the same umask
        pass
    assert _mode(target) == 0o666 & ~mask == _mode(reference)


@posix_only
def test_a_replaced_file_keeps_its_mode(tmp_path: Path, umask: Callable[[int], int]) -> None:
    umask(0o022)
    target = tmp_path / "run.json"
    atomic_write_json(target, {"v": 1})
    os.chmod(target, 0o640)
    atomic_write_json(target, {"v": 2})
    assert _mode(target) == 0o640
    assert target.read_text() == '{\n  "v": 2\n}\n'


def test_no_temp_file_is_left_behind(tmp_path: Path) -> None:
    atomic_write_text(tmp_path / "a.txt", "one")

    def fail(handle: object) -> None:
        raise RuntimeError("writer failed")

    with pytest.raises(RuntimeError, match="writer failed"):
        atomic_write(tmp_path / "a.txt", fail)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]
    assert (tmp_path / "a.txt").read_text() == "one"
