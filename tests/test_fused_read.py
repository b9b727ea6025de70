"""The fused fast test passes only what the exact tests pass, in one host read.

``fast_test_fails(items, vouched)`` turns every recorded value check into one or two 0-dim
numbers and reads them together. Its promise: when it passes, every exact test would pass
(NaN/inf absent, every value inside its interval); when the values are clean and no sum
overflows, it passes (it is not always inconclusive); and it reads the host once per device.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from contextlib import AbstractContextManager

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from pyautoencoder._fused_read import fast_test_fails

_SPECIAL = [0.0, -0.0, 1.0, 0.5, 1e-45, 1e-40, 3e38, -1.0, 2.0, math.nan, math.inf, -math.inf]


HostReads = Callable[[], AbstractContextManager[dict[str, int]]]  # the conftest fixture


def _exact(tensor: torch.Tensor, low: float, high: float) -> bool:
    """Every element finite and in ``[low, high]``, element by element in float64."""
    values = tensor.double()
    return bool(torch.isfinite(values).all() and ((values >= low) & (values <= high)).all())


_values = st.lists(st.sampled_from(_SPECIAL) | st.floats(-4.0, 4.0), min_size=1, max_size=12)
_dtypes = st.sampled_from([torch.float16, torch.bfloat16, torch.float32, torch.float64])
_intervals = st.sampled_from([(0.0, 1.0), (-1.0, 1.0), (0.1, 0.3), (0.0, math.inf), (-3.5, 2.0)])


@settings(max_examples=400, deadline=None)
@given(values=_values, dtype=_dtypes, interval=_intervals, with_finite=st.booleans())
def test_a_pass_means_every_value_is_finite_and_inside(
    values: list[float], dtype: torch.dtype, interval: tuple[float, float], with_finite: bool
) -> None:
    """With a finiteness item, or the range test alone (NaN is then left to the finite test)."""
    low, high = interval
    tensor = torch.tensor(values, dtype=torch.float64).to(dtype)
    items = [("finite", tensor, 0.0, 0.0)] if with_finite else []
    if fast_test_fails([*items, ("range", tensor, low, high)], []):
        return
    if with_finite:
        assert _exact(tensor, low, high)
    else:
        finite = tensor.double()[~torch.isnan(tensor.double())]
        assert bool(((finite >= low) & (finite <= high)).all())


@pytest.mark.parametrize(
    ("values", "fails"),
    [
        ([-0.0, 0.5], False),  # -0.0 lies in [0, 1]
        ([-0.0, -1.0, 0.5], True),
        ([-1e-45, 0.5], True),  # the negative denormal
        ([0.0, 1e-45, 1.0], False),
        ([0.0, 1.0000001], True),
        ([0.5, math.nan], True),
    ],
)
def test_the_interval_is_tested_on_the_extremes(values: list[float], fails: bool) -> None:
    tensor = torch.tensor(values)
    assert fast_test_fails([("range", tensor, 0.0, 1.0)], []) is fails


@settings(max_examples=200, deadline=None)
@given(values=st.lists(st.floats(0.0, 1.0), min_size=1, max_size=64), dtype=_dtypes)
def test_clean_values_pass(values: list[float], dtype: torch.dtype) -> None:
    tensor = torch.tensor(values, dtype=torch.float64).to(dtype)
    items = [("finite", tensor, 0.0, 0.0), ("range", tensor, 0.0, 1.0)]
    assert not fast_test_fails(items, [])


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_a_non_finite_witness_fails(bad: float) -> None:
    witness = torch.tensor(bad)
    assert fast_test_fails([("finite", witness, 0.0, 0.0)], [])


@pytest.mark.parametrize(
    ("value", "fails"),
    [(0.0, False), (2.5, False), (-1.0, True), (math.nan, True), (math.inf, True)],
)
def test_a_scalar_is_tested_against_its_bounds(value: float, fails: bool) -> None:
    assert fast_test_fails([("scalar", torch.tensor(value), 0.0, math.inf)], []) is fails


def test_a_vouched_tensor_is_not_summed_but_its_witness_is_read() -> None:
    bad = torch.tensor([1.0, math.nan])
    assert not fast_test_fails([("finite", bad, 0.0, 0.0)], [bad])  # vouched: skipped
    witness = bad.mean()
    assert fast_test_fails([("finite", bad, 0.0, 0.0), ("finite", witness, 0.0, 0.0)], [bad])


def test_integer_tensors_are_tested_against_intervals() -> None:
    indices = torch.tensor([0, 3, 7])
    assert not fast_test_fails([("finite", indices, 0, 0), ("range", indices, 0.0, 7.0)], [])
    assert fast_test_fails([("range", indices, 0.0, 6.0)], [])


def test_mixed_dtypes_are_read_once(host_reads: HostReads) -> None:
    items = [
        ("finite", torch.tensor(0.5, dtype=torch.float32), 0.0, 0.0),
        ("range", torch.rand(5, dtype=torch.float64), 0.0, 1.0),
        ("range", torch.tensor([1, 2]), 0.0, 3.0),
        ("scalar", torch.tensor(0.25, dtype=torch.bfloat16), 0.0, 1.0),
    ]
    with host_reads() as counts:
        assert not fast_test_fails(items, [])
    assert counts["tolist"] == 1 and sum(counts.values()) == 1
    items.append(("finite", torch.tensor(math.nan, dtype=torch.float16), 0.0, 0.0))
    assert fast_test_fails(items, [])


def test_one_dtype_is_read_once_without_casts(host_reads: HostReads) -> None:
    x = torch.rand(4, 6)
    items = [("range", x, 0.0, 1.0), ("finite", x.mean(), 0.0, 0.0)]
    with host_reads() as counts:
        assert not fast_test_fails(items, [])
    assert counts["tolist"] == 1 and sum(counts.values()) == 1


def test_tensors_that_require_grad_record_no_graph() -> None:
    mu = torch.randn(3, 2, requires_grad=True)
    loss = mu.square().mean()
    assert not fast_test_fails([("finite", mu, 0.0, 0.0), ("finite", loss, 0.0, 0.0)], [])
    loss.backward()  # the graph is intact and was not extended by the test
    assert mu.grad is not None


def test_nothing_to_test_reads_nothing(host_reads: HostReads) -> None:
    empty = torch.empty(0)
    with host_reads() as counts:
        assert not fast_test_fails([("finite", empty, 0.0, 0.0), ("range", empty, 0.0, 1.0)], [])
    assert sum(counts.values()) == 0
