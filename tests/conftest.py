"""Fixtures shared by the whole test suite.

* ``_restore_value_checks`` (autouse, every test): a test that switches value checks off with
  :func:`pyautoencoder.set_value_checks` cannot leak that global state into the next test.
* ``seeded``: seeds torch's global RNG (seed 0) so a test's random inputs and samples are the
  same in every run; the core tests request it through ``pytestmark``.

The core tests keep tensors tiny (a few examples and features, ``D_z`` of 2 to 5) except where
a test is about large sizes, so that they run fast single-threaded (``OMP_NUM_THREADS=1``) on a
shared two-core machine.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch

import pyautoencoder
from pyautoencoder import _validation


@pytest.fixture(autouse=True)
def _restore_value_checks() -> Iterator[None]:
    """Put the global value-check switch back to what it was before the test."""
    previous = _validation._VALUE_CHECKS_ENABLED
    yield
    pyautoencoder.set_value_checks(previous)


@pytest.fixture
def seeded() -> int:
    """Seed torch's global RNG with 0 and return the seed."""
    torch.manual_seed(0)
    return 0
