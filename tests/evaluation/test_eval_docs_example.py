"""The worked example of docs/evaluation.md runs as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "evaluation.md"


@pytest.mark.slow
def test_worked_example_runs(capsys: pytest.CaptureFixture[str]) -> None:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)
    assert len(blocks) == 2
    namespace: dict[str, object] = {"__name__": "docs_example"}
    for block in blocks:
        exec(compile(block, str(DOC), "exec"), namespace)
    printed = capsys.readouterr().out
    for label in ("log p(x) ~", "active units:", "MIG:", "DCI:", "MIG from codes:"):
        assert label in printed
    ll, bound = namespace["ll"], namespace["bound"]
    assert ll.mean > bound.mean  # type: ignore[attr-defined]
