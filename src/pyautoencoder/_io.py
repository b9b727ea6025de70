"""Atomic file writes: a temp file in the target's folder, fsync, then ``os.replace``.

A reader never sees a half-written file: either the old content or the new one. Used for
checkpoints (safetensors + JSON), configs and reports.

Permissions are those a plain ``open(path, "w")`` gives: a new file gets ``0o666 & ~umask``
(``tempfile.mkstemp`` would make it ``0o600``, private to the owner), and a file that is
replaced keeps its mode.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import re
import secrets
import stat
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, Any

_NEW_FILE_MODE = 0o666  # the kernel applies the process umask, as for open()
_TOKEN = re.compile(r"[0-9a-f]{12}")  # secrets.token_hex(6) in temp file names


def _temp_name(target: Path, token: str) -> Path:
    return target.parent / f".{target.name}.{token}.tmp"


def remove_temp_files(folder: str | os.PathLike[str], names: Iterable[str]) -> list[Path]:
    """Delete the temp files that interrupted atomic writes of ``folder/<name>`` left behind.

    Only call this while no other process writes those files (the run's writer lock, see
    :mod:`pyautoencoder.training._lock`): another writer's temp file would vanish under it.
    Returns the removed paths.
    """
    removed = []
    for name in names:
        for path in Path(folder).glob(f".{glob.escape(name)}.*.tmp"):
            token = path.name[len(name) + 2 : -len(".tmp")]
            if _TOKEN.fullmatch(token) and path.is_file():
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
                    removed.append(path)
    return removed


def _create_temp(target: Path) -> Path:
    """Create an empty, uniquely named temp file next to ``target`` (``O_EXCL``)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        tmp = _temp_name(target, secrets.token_hex(6))
        try:
            fd = os.open(tmp, flags, _NEW_FILE_MODE)
        except FileExistsError:
            continue
        os.close(fd)
        with contextlib.suppress(OSError):  # a replaced file keeps its permissions
            mode = os.stat(target).st_mode
            if stat.S_ISREG(mode):
                os.chmod(tmp, stat.S_IMODE(mode))
        return tmp
    raise FileExistsError(f"could not create a temp file next to {target}")


@contextlib.contextmanager
def _atomic_target(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temp path next to ``path``; on success fsync it and rename it over ``path``."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = _create_temp(target)
    try:
        yield tmp
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, target)
        _fsync_dir(target.parent)
    finally:
        if tmp.exists():
            tmp.unlink()


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # some platforms cannot open folders
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(path: str | os.PathLike[str], write: Callable[[IO[bytes]], Any]) -> None:
    """Call ``write(handle)`` on a binary temp file, then atomically move it to ``path``."""
    with _atomic_target(path) as tmp, open(tmp, "wb") as handle:
        write(handle)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    atomic_write(path, lambda handle: handle.write(data))


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike[str], obj: Any) -> None:
    """Write ``obj`` as indented JSON to ``path`` atomically."""
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def atomic_save_file(path: str | os.PathLike[str], save: Callable[[str], Any]) -> None:
    """For writers that take a file name (``safetensors.torch.save_file``): write atomically."""
    with _atomic_target(path) as tmp:
        save(str(tmp))
