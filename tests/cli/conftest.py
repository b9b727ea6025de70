"""A small demo run shared by the command-line tests (trained once per session)."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_helpers import FAST

from pyautoencoder.cli import main


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("runs")
    code = main(["demo", "--epochs", "3", "--out", str(out), "--name", "demo", *FAST])
    assert code == 0
    return out / "demo"
