"""One process of ``instructions.py``: one variant's training steps, for callgrind to count.

Run by ``instructions.py`` under ``valgrind --tool=callgrind --instr-atstart=no`` with the
Python of the venv that holds the library (as ``_step_worker.py``). It builds the hand-written
step or one library variant of :mod:`_step_worker` (``--variant``, a row name of
``step_time.py``: ``hand-written``, ``ours (checks on)``, ``ours (checks off)``,
``reference 2.1.0``, ``pythae``), runs three warm-up steps, then hands over through files in
``--signal`` (a folder):

1. writes ``ready`` and waits for ``go`` (the driver switches callgrind's instrumentation on);
2. runs ``--steps`` steps, writes ``done`` and waits for ``stop`` (instrumentation off).

So the counts cover exactly the measured steps (and a few polling instructions), not the
imports, the model building or the warm-up.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from _common import set_threads, warm_allocator
from _step_worker import _IMPLS, Step, SwitchedStep
from _steps import image_batches, make_hand


def _wait_for(path: Path) -> None:
    while not path.exists():
        time.sleep(0.05)


def build(impl: str, model: str, variant: str, first: torch.Tensor) -> Step:
    """The step of ``variant`` (its value-check switch set, for ours)."""
    if variant == "hand-written":
        return make_hand(model, first)[0]
    steps = _IMPLS[impl](model, first)
    if variant not in steps:
        raise SystemExit(f"{impl} has no variant {variant!r}; it has {sorted(steps)}")
    step = steps[variant]
    if isinstance(step, SwitchedStep):
        step.prepare()
        return step.step
    return step


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--impl", choices=sorted(_IMPLS), required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--variant", required=True)
    parser.add_argument("--batches", required=True, help="a .pt file with a list of batches")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--signal", type=Path, required=True)
    args = parser.parse_args()
    set_threads(args.threads)
    warm_allocator()
    batches = image_batches(args.model, torch.load(args.batches, weights_only=True))
    step = build(args.impl, args.model, args.variant, batches[0])
    for i in range(3):
        step(batches[i % len(batches)])
    (args.signal / "ready").touch()
    _wait_for(args.signal / "go")
    for i in range(args.steps):
        step(batches[i % len(batches)])
    (args.signal / "done").touch()
    _wait_for(args.signal / "stop")


if __name__ == "__main__":
    main()
