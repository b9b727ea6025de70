"""One writer per run folder: an exclusive lock held for the life of a training run.

A writer (:func:`~pyautoencoder.training.fit` with ``out_dir``, ``pyautoencoder train``) takes
``<run>/.lock`` before it writes anything and keeps it until it returns. The lock is an
advisory ``flock`` (POSIX) or ``msvcrt.locking`` (Windows) on that file, so the operating system
drops it when the process dies, however it dies: a lock file left by a killed process is
simply taken over by the next writer (nothing to clean by hand, no PID guessing). The file holds
the holder's PID and host, which a refused writer names in its one-line error.

Readers (``evaluate``, ``report``, ``sample``, :func:`find_checkpoint`) never take the lock:
checkpoints are replaced atomically, so a reader sees either the old or the new one.

Protocol (safe with the file removed on release): open or create the file, lock it without
blocking, then check that the path still names the locked file (a releasing writer unlinks it
before unlocking; a writer that locked the unlinked file retries on a fresh one). The lock is
re-entrant within a process (the command line holds it and :func:`fit` takes it again).
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from ._checkpoint import CheckpointError

LOCK_FILE = ".lock"

try:  # POSIX
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)

except ImportError:  # pragma: no cover - Windows
    import msvcrt

    def _try_lock(fd: int) -> bool:
        os.lseek(fd, 0, os.SEEK_SET)
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)  # type: ignore[attr-defined]
        except OSError:
            return False
        return True

    def _unlock(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)  # type: ignore[attr-defined]


class RunLockedError(CheckpointError):
    """Another process is writing to this run folder (the message names its PID)."""


_held: dict[str, list[int]] = {}  # resolved lock path -> [fd, depth]
_held_guard = threading.Lock()


def _holder(path: Path) -> str:
    """``PID 1234 on host`` as written by the holder, or a neutral phrase when unreadable."""
    for _ in range(20):  # the holder writes its PID right after locking
        try:
            text = path.read_text(encoding="utf-8", errors="replace").split()
        except OSError:
            text = []
        if text:
            pid, host = text[0], text[1] if len(text) > 1 else "?"
            return f"PID {pid}" + ("" if host == socket.gethostname() else f" on {host}")
        time.sleep(0.01)
    return "another process"


def _acquire_fd(path: Path, run_dir: Path) -> int:
    for _ in range(100):
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        if not _try_lock(fd):
            os.close(fd)
            raise RunLockedError(
                f"run folder {run_dir} is in use by another writer ({_holder(path)}); wait for "
                "it to finish, or pick another --name / out_dir"
            )
        try:
            same = os.path.samestat(os.fstat(fd), os.stat(path))
        except FileNotFoundError:
            same = False
        if same:
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()} {socket.gethostname()}\n".encode())
            return fd
        os.close(fd)  # locked a file its holder had just removed: start over
    raise RunLockedError(f"could not lock run folder {run_dir}: the lock file keeps changing")


def acquire(run_dir: str | os.PathLike[str]) -> Path:
    """Lock ``run_dir`` for writing (created if needed); re-entrant within a process.

    Raises
    ------
    RunLockedError
        Another live process holds the lock (one line naming its PID).
    OSError
        The folder cannot be created or written (read-only, a file in the way ...).
    """
    folder = Path(run_dir)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK_FILE
    key = os.path.realpath(path)
    with _held_guard:
        entry = _held.get(key)
        if entry is not None:
            entry[1] += 1
            return path
        _held[key] = [_acquire_fd(path, folder), 1]
    return path


def release(run_dir: str | os.PathLike[str]) -> None:
    """Undo one :func:`acquire`; the last one removes the lock file and unlocks it."""
    path = Path(run_dir) / LOCK_FILE
    key = os.path.realpath(path)
    with _held_guard:
        entry = _held.get(key)
        if entry is None:
            return
        entry[1] -= 1
        if entry[1] > 0:
            return
        del _held[key]
        fd = entry[0]
        with contextlib.suppress(OSError):  # the folder may have been removed with the run
            os.unlink(path)
        try:
            _unlock(fd)
        finally:
            os.close(fd)


def is_held(run_dir: str | os.PathLike[str]) -> bool:
    """Whether this process holds the lock of ``run_dir``."""
    return os.path.realpath(Path(run_dir) / LOCK_FILE) in _held


@contextlib.contextmanager
def run_lock(run_dir: str | os.PathLike[str]) -> Iterator[Path]:
    """``with run_lock(folder):`` hold the writer lock of ``folder`` for the block."""
    path = acquire(run_dir)
    try:
        yield path
    finally:
        release(run_dir)
