"""Errors the command reports as one line on stderr with exit code 2 (no traceback)."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class CLIError(Exception):
    """A user error: bad name, missing file, incompatible run. Printed as one line."""


def unknown_name(kind: str, name: str, valid: Iterable[str]) -> CLIError:
    """``unknown <kind> 'x'. Did you mean 'y'? Valid: a, b, c``."""
    choices = sorted(valid)
    close = difflib.get_close_matches(name.lower(), choices, n=3)
    hint = f" Did you mean {' or '.join(map(repr, close))}?" if close else ""
    return CLIError(f"unknown {kind} {name!r}.{hint} Valid {kind}s: {', '.join(choices)}")
