"""The 2.x variants are presets of one VAE with an objective: same values as before (issue 12).

``data/preset_reference.json`` was recorded from the 2.x implementations (subclasses overriding
``compute_loss``) at commit bfb96b0 by ``_preset_cases.record()``; each case is rebuilt with the
same seeds and must give the same objective, gradient fingerprint and diagnostics to 1e-6.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from _preset_cases import CASES, run_case

REFERENCE = json.loads((Path(__file__).parent / "data" / "preset_reference.json").read_text())


def test_every_case_has_a_recorded_reference() -> None:
    assert sorted(REFERENCE) == sorted(CASES)


@pytest.mark.parametrize("case", sorted(CASES))
def test_preset_matches_the_2x_values(case: str) -> None:
    expected = REFERENCE[case]
    got = run_case(case)
    assert sorted(got) == sorted(expected), "the diagnostics keys changed"
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, rel=1e-6, abs=1e-6), key
