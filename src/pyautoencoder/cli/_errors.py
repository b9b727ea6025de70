"""Errors the command reports as one line on stderr (no traceback): the one place that decides.

:func:`user_error` maps every user-facing failure to ``(exit code, line)``:

* exit 2: ``CLIError`` (bad option value, unknown name, unusable data); ``CheckpointError``,
  including ``RunLockedError`` (corrupted / incompatible / unsafe checkpoint, malformed trainer
  state, run folder in use); ``PretrainedError``; ``DataFormatError`` (malformed IDX files);
  ``FabricOptionsError`` (Fabric refused ``--accelerator`` ... ``--precision``); ``OSError``
  with an errno (read-only folder, a file in the way, disk full: the path, the system's words
  and the fix); an ``ImportError`` naming ``pip install`` (a missing optional extra);
* exit 1: ``NonFiniteLossError`` (the run diverged; documented).

Anything else is a bug and keeps its traceback. Error classes are looked up in the modules
already imported (an error of a module that was never imported cannot have been raised), so
this costs no import at start-up.
"""

from __future__ import annotations

import difflib
import errno
import sys
from collections.abc import Iterable


class CLIError(Exception):
    """A user error: bad name, missing file, incompatible run. Printed as one line."""


def unknown_name(kind: str, name: str, valid: Iterable[str]) -> CLIError:
    """``unknown <kind> 'x'. Did you mean 'y'? Valid: a, b, c``."""
    choices = sorted(valid)
    close = difflib.get_close_matches(name.lower(), choices, n=3)
    hint = f" Did you mean {' or '.join(map(repr, close))}?" if close else ""
    return CLIError(f"unknown {kind} {name!r}.{hint} Valid {kind}s: {', '.join(choices)}")


# (module, class name, exit code): the user-facing error types of the library.
_USER_ERRORS = (
    ("pyautoencoder.cli._errors", "CLIError", 2),
    ("pyautoencoder.training._checkpoint", "CheckpointError", 2),
    ("pyautoencoder.pretrained", "PretrainedError", 2),
    ("pyautoencoder.data._idx", "DataFormatError", 2),
    ("pyautoencoder.data", "DataFormatError", 2),
    ("pyautoencoder.training._setup", "FabricOptionsError", 2),
    ("pyautoencoder.training._config", "NonFiniteLossError", 1),
)

_FILE_SYSTEM_HINTS = {  # after the system's own words (strerror): what to do
    errno.ENOSPC: "free some space; a checkpoint written before is intact",
    errno.EDQUOT: "free some space; a checkpoint written before is intact",
    errno.EACCES: "pick a folder you can write to (--out)",
    errno.EPERM: "pick a folder you can write to (--out)",
    errno.EROFS: "pick another folder (--out)",
    errno.ENOTDIR: "a file is in the way where a folder is needed; check --out / the path",
    errno.EEXIST: "a file is in the way where a folder is needed; check --out / the path",
    errno.EISDIR: "a folder is in the way where a file is needed",
}


def _one_line(text: str, limit: int = 400) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _file_system_line(error: OSError) -> str:
    where = error.filename if error.filename is not None else ""
    reason = error.strerror or type(error).__name__
    hint = _FILE_SYSTEM_HINTS.get(error.errno or -1, "")
    text = f"cannot access {where}: {reason}" if where else reason
    return f"{text} ({hint})" if hint else text


def user_error(error: BaseException) -> tuple[int, str] | None:
    """``(exit code, one line)`` for a user-facing error, ``None`` for anything else (a bug)."""
    for module_name, class_name, code in _USER_ERRORS:
        module = sys.modules.get(module_name)
        cls = getattr(module, class_name, None) if module is not None else None
        if isinstance(cls, type) and isinstance(error, cls):
            return code, _one_line(str(error))
    if isinstance(error, OSError) and error.errno is not None:
        return 2, _one_line(_file_system_line(error))
    if isinstance(error, ImportError) and "pip install" in str(error):
        return 2, _one_line(str(error))  # a missing optional extra, named in the message
    return None
