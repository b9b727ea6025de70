"""Fixtures shared by the whole test suite.

* ``_restore_value_checks`` (autouse, every test): a test that switches value checks off with
  :func:`pyautoencoder.set_value_checks` cannot leak that global state into the next test.
* ``seeded``: seeds torch's global RNG (seed 0) so a test's random inputs and samples are the
  same in every run; the core tests request it through ``pytestmark``.
* ``host_reads``: ``with host_reads() as counts:`` counts the reads of tensor values on the
  host inside the block (each one a synchronisation on a GPU).

The core tests keep tensors tiny (a few examples and features, ``D_z`` of 2 to 5) except where
a test is about large sizes, so that they run fast single-threaded (``OMP_NUM_THREADS=1``) on a
shared two-core machine.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

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


HOST_READS = ("item", "tolist", "__bool__", "__float__", "__int__", "__index__")


@pytest.fixture
def host_reads(
    monkeypatch: pytest.MonkeyPatch,
) -> Callable[[], AbstractContextManager[dict[str, int]]]:
    """``with host_reads() as counts:`` counts host reads of tensor values in the block.

    Every ``torch.Tensor`` method that hands a value to Python (:data:`HOST_READS`) is wrapped
    with a counter while the block runs; ``counts`` maps each method name to its calls.
    """

    @contextmanager
    def counting_block() -> Iterator[dict[str, int]]:
        counts = dict.fromkeys(HOST_READS, 0)

        def counting(name: str, original: Callable[..., Any]) -> Callable[..., Any]:
            def wrapper(self: torch.Tensor, *args: Any, **kwargs: Any) -> Any:
                counts[name] += 1
                return original(self, *args, **kwargs)

            return wrapper

        with monkeypatch.context() as patch:
            for name in HOST_READS:
                patch.setattr(torch.Tensor, name, counting(name, getattr(torch.Tensor, name)))
            yield counts

    return counting_block


DDP_RANK_REPORT = textwrap.dedent(
    '''
    def report_rank(out, rank, line):
        """Print and file this rank's summary line; rank 0 (the launcher) then waits for rank 1.

        Both processes share one stdout pipe, and rank 0 leaving first can cut rank 1 off, so
        tests read ``rank<r>.txt`` and rank 0 stays until ``rank1.done`` exists (60 s at most).
        """
        import os
        import time

        print(line, flush=True)
        with open(os.path.join(out, f"rank{rank}.txt"), "w") as handle:
            handle.write(line)
        open(os.path.join(out, f"rank{rank}.done"), "w").close()
        deadline = time.monotonic() + 60
        while rank == 0 and not os.path.exists(os.path.join(out, "rank1.done")):
            if time.monotonic() > deadline:
                break
            time.sleep(0.05)
    '''
)


@pytest.fixture
def ddp_rank_report() -> str:
    """Source of ``report_rank(out, rank, line)``, to prepend to a two-process DDP script."""
    return DDP_RANK_REPORT
