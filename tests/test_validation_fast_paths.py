"""The one-pass value checks decide exactly like the element-wise tests they replace.

``check_all_finite`` first sums each tensor (a finite sum proves every element finite) and
``check_in_closed_interval`` first takes ``aminmax``; the element-wise tests run only when that
pass is inconclusive. These tests cover the inconclusive cases: a sum that overflows although
every value is finite, and NaN next to a value outside the interval.
"""

from __future__ import annotations

import pytest
import torch

from pyautoencoder._validation import check_all_finite, check_in_closed_interval


def test_finite_values_whose_sum_overflows_pass() -> None:
    values = torch.full((8,), 3e38)  # float32 max is about 3.4e38
    assert not torch.isfinite(values.sum())
    check_all_finite(values=values)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_a_single_non_finite_value_is_named(bad: float) -> None:
    values = torch.zeros(5)
    values[3] = bad
    with pytest.raises(ValueError, match=r"^values must be finite"):
        check_all_finite(clean=torch.ones(2), values=values)


def test_opposite_infinities_are_reported() -> None:
    with pytest.raises(ValueError, match="0 NaN and 2 inf"):
        check_all_finite(values=torch.tensor([float("inf"), -float("inf")]))


def test_nan_alone_is_not_an_interval_violation() -> None:
    check_in_closed_interval("x", torch.tensor([0.0, float("nan"), 1.0]), 0.0, 1.0)


def test_nan_does_not_hide_a_value_outside_the_interval() -> None:
    with pytest.raises(ValueError, match=r"got 1 value\(s\) outside"):
        check_in_closed_interval("x", torch.tensor([float("nan"), 1.5, 0.5]), 0.0, 1.0)


def test_empty_tensors_and_interval_ends_pass() -> None:
    check_in_closed_interval("x", torch.empty(0), 0.0, 1.0)
    check_in_closed_interval("x", torch.tensor([0.0, 1.0]), 0.0, 1.0)
    check_in_closed_interval("x", torch.tensor([0, 1]), 0.0, 1.0)
