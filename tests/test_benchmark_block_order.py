"""The step-time benchmark's block order treats the two rows of one model instance alike.

``benchmarks/_step_worker.py`` times ``ours (checks on)`` and ``ours (checks off)`` on one
model instance. A block that follows a block of the same instance starts with warm caches, so
each of the two must follow the other equally often over a full rotation.
"""

from __future__ import annotations

import itertools
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import _step_worker  # benchmarks/ is a folder of scripts, not a package

OURS = ["hand-written", "hand-written (control)", "ours (checks on)", "ours (checks off)"]


def _predecessors(names: list[str], rotations: int) -> Counter[tuple[str, str]]:
    order = _step_worker.block_order(names)
    sequence: list[str] = []
    for rep in range(rotations):
        shift = rep % len(order)
        sequence += order[shift:] + order[:shift]
    return Counter(itertools.pairwise(sequence))


def test_two_rows_of_one_instance_are_never_adjacent_in_the_order() -> None:
    order = _step_worker.block_order(OURS)
    assert sorted(order) == sorted(OURS)
    on, off = order.index("ours (checks on)"), order.index("ours (checks off)")
    assert abs(on - off) == 2


def test_each_row_of_one_instance_follows_the_other_equally_often() -> None:
    pairs = _predecessors(OURS, rotations=40)
    assert (
        pairs["ours (checks on)", "ours (checks off)"]
        == pairs["ours (checks off)", "ours (checks on)"]
    )
    follows_warm = pairs["ours (checks on)", "ours (checks off)"]
    follows_cold = sum(n for (a, b), n in pairs.items() if b == "ours (checks off)") - follows_warm
    assert follows_warm < follows_cold  # mostly after another model's block


def test_a_single_foreign_variant_always_follows_a_hand_written_block() -> None:
    names = ["hand-written", "hand-written (control)", "reference 2.1.0"]
    pairs = _predecessors(names, rotations=12)
    assert all(a.startswith("hand-written") for (a, b) in pairs if b == "reference 2.1.0")
