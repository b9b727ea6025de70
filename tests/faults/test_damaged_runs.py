"""Damaged run folders: one line naming the file and the field, exit code 2, nothing runs."""

from __future__ import annotations

from typing import Any

import pytest
from faults_cases import DAMAGED_RUNS
from faults_helpers import assert_one_line_error


@pytest.mark.parametrize("case", DAMAGED_RUNS, ids=[case["id"] for case in DAMAGED_RUNS])
def test_damaged_run_is_one_line_and_exit_2(
    case: dict[str, Any], driver_results: dict[str, dict[str, Any]]
) -> None:
    result = driver_results[case["id"]]
    assert_one_line_error(result["code"], result["stderr"], case["fragment"])
    assert "run.json" in result["files"]  # a refused resume or read leaves the run in place


def test_pickle_payload_never_ran(driver_results: dict[str, dict[str, Any]]) -> None:
    result = driver_results["trainer state with a pickle payload"]
    assert result["code"] == 2
    assert "pwned" not in result["files"]  # the payload would have created damaged/pwned
    assert not result["payload_ran"]


def test_non_finite_weights_draw_no_samples(driver_results: dict[str, dict[str, Any]]) -> None:
    assert "samples.png" not in driver_results["NaN weights, sample"]["files"]


def test_conditional_model_samples_per_label(driver_results: dict[str, dict[str, Any]]) -> None:
    result = driver_results["cvae samples per label"]
    assert result["code"] == 0 and result["stderr"] == ""


def test_16_mixed_on_cpu_is_said_in_one_line(driver_results: dict[str, dict[str, Any]]) -> None:
    result = driver_results["16-mixed on CPU"]
    assert result["code"] == 0, result["stderr"]
    notes = [line for line in result["stderr"].splitlines() if "16-mixed" in line]
    assert notes == [
        "pyautoencoder: note: --precision 16-mixed needs a GPU; on CPU it runs as bf16-mixed "
        "(bfloat16 autocast)"
    ]
    assert "Traceback" not in result["stderr"]


def test_read_only_folder_is_one_line(driver_results: dict[str, dict[str, Any]]) -> None:
    result = driver_results["read-only --out folder"]
    assert_one_line_error(
        result["code"],
        result["stderr"],
        "read-only",
        "Permission denied",
        "pick a folder you can write to (--out)",
    )
