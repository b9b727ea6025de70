"""Beta schedules: linear warm-up (Bowman et al. 2016) and cyclical (Fu et al. 2019, eq. 6)."""

from __future__ import annotations

import pytest

from pyautoencoder.training import ConstantBeta, CyclicalBeta, LinearWarmup
from pyautoencoder.training._schedules import as_beta_schedule


def test_linear_warmup_rises_linearly_then_holds() -> None:
    schedule = LinearWarmup(10, start=0.0, end=2.0)
    assert [schedule(t) for t in (0, 5, 10, 50)] == [0.0, 1.0, 2.0, 2.0]


def test_cyclical_matches_fu_et_al_definition() -> None:
    # M = 4 cycles over T = 100 steps, R = 0.5: each cycle of 25 steps rises over 12.5 steps.
    schedule = CyclicalBeta(num_cycles=4, ratio=0.5).bind(100)
    for step in range(100):
        tau = (step % 25) / 25
        expected = tau / 0.5 if tau < 0.5 else 1.0
        assert schedule(step) == pytest.approx(expected)
    assert schedule(25) == 0.0 and schedule(24) == 1.0


def test_cyclical_without_length_says_how_to_bind() -> None:
    with pytest.raises(RuntimeError, match="total_steps"):
        CyclicalBeta()(3)


def test_numbers_become_constant_schedules() -> None:
    schedule = as_beta_schedule(0.25)
    assert isinstance(schedule, ConstantBeta) and schedule(1000) == 0.25
    assert as_beta_schedule(None) is None


@pytest.mark.parametrize(
    ("factory", "message"),
    [
        (lambda: LinearWarmup(0), "warmup_steps"),
        (lambda: CyclicalBeta(ratio=0.0), "ratio"),
        (lambda: ConstantBeta(-1.0), "beta"),
        (lambda: as_beta_schedule(lambda step: 1.0), "BetaSchedule"),
    ],
)
def test_bad_schedule_arguments_are_named(factory, message: str) -> None:
    with pytest.raises((ValueError, TypeError), match=message):
        factory()
