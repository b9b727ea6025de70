"""One driver process for every command-line case of the fault tests (see cli_driver.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from faults_cases import DAMAGED_RUNS, EXTRA_CASES
from faults_helpers import documented_mistakes, run_driver


@pytest.fixture(scope="session")
def driver_results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """Exit code and stderr of every documented mistake and every damaged-run case."""
    work: Path = tmp_path_factory.mktemp("cli-cases")
    return run_driver(work, [*documented_mistakes(), *DAMAGED_RUNS, *EXTRA_CASES])
