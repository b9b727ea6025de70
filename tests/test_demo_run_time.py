"""The demo's run time is stated once, the same way, wherever a user reads it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pyautoencoder.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
DEMO_TIME = "under a minute on a 2-core CPU"
"""The one figure (measured: 45 s for the whole command on a shared 2-core machine)."""
DEMO_MEASURED = "45 s for the whole command"
"""The measurement behind the figure, which the command-line page also gives."""
NOT_ABOUT_THE_DEMO = ("Five minutes to a trained model", "minutes instead of seconds")
"""Other durations on these pages: the Getting-started heading (install included) and the
thread-oversubscription note of the command-line page."""
DURATION = re.compile(
    r"\bminutes?\b|\bseconds\b|\b\d+(?:[.,]\d+)?\s*(?:s|secs?|seconds?)\b", re.IGNORECASE
)
"""A duration: minutes, seconds, or a number of seconds ("45 s", "1 second"); the ordinal
"second" ("the second checkpoint", "a second writer") is not one."""


def _flat(text: str) -> str:
    return " ".join(text.split())


@pytest.mark.parametrize("page", ["README.md", "docs/index.md", "docs/cli.md"])
def test_pages_give_the_demo_time_one_way(page: str) -> None:
    text = _flat((ROOT / page).read_text(encoding="utf-8"))
    assert DEMO_TIME in text
    for phrase in (DEMO_TIME, DEMO_MEASURED, *NOT_ABOUT_THE_DEMO):
        text = text.replace(phrase, "")
    assert DURATION.findall(text) == []


def test_duration_pattern_skips_the_ordinal_second() -> None:
    text = "45 s, 1.5 seconds, 3s, a few seconds, one minute, 2 minutes"
    assert len(DURATION.findall(text)) == 6
    assert DURATION.findall("the second checkpoint; A second writer; 2nd; seconds") == ["seconds"]


def test_demo_help_gives_the_same_time() -> None:
    commands = next(a for a in build_parser()._actions if a.dest == "command")
    demo_help = commands.choices["demo"].format_help()  # type: ignore[attr-defined]
    assert DEMO_TIME in _flat(demo_help)
