"""Validation passes and early stopping on a validation metric."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import torch

from ._batches import Batch
from ._logging import RunningMeans, to_floats
from ._setup import forked_rng


def validation_metrics(
    module: Any, batches: Iterator[Batch], fabric: Any, beta: torch.Tensor | None, seed: int
) -> dict[str, float]:
    """Example-weighted means of the loss and diagnostics over ``batches``.

    ``module`` is the unwrapped training step (not the strategy's wrapper, so ranks with
    different numbers of batches run no collectives); Fabric's autocast applies the run's
    precision. Runs under ``no_grad`` in eval mode with the global RNG seeded to ``seed`` (so
    every validation of a run draws the same posterior noise) and restored afterwards, leaving
    the training RNG untouched. With several processes the sums are all-reduced: every rank
    gets the same numbers, read with one host sync.
    """
    means = RunningMeans()
    module.eval()
    try:
        with torch.no_grad(), forked_rng(fabric.device, seed), fabric.autocast():
            for batch in batches:
                objective, diagnostics = module(batch, beta)
                means.add({"loss": objective, **diagnostics}, weight=float(batch[0].shape[0]))
    finally:
        module.train()
    names, stacked = means.stacked()
    if stacked is not None and fabric.world_size > 1:
        weight = torch.tensor([means.weight], device=stacked.device)
        total = fabric.all_reduce(torch.cat([stacked * weight, weight]), reduce_op="sum")
        stacked = total[:-1] / total[-1]
    return to_floats(names, stacked)


class EarlyStopping:
    """Tracks the best value of a metric and counts evaluations without improvement.

    An evaluation improves when the value beats the best by more than ``min_delta`` (lower for
    ``mode="min"``, higher for ``"max"``); NaN never improves. ``should_stop`` turns true after
    ``patience`` evaluations in a row without improvement (never when ``patience`` is None).
    """

    def __init__(self, monitor: str, mode: str, patience: int | None, min_delta: float) -> None:
        self.key = monitor.split("/", 1)[1]
        self.monitor = monitor
        self.sign = 1.0 if mode == "min" else -1.0
        self.patience = patience
        self.min_delta = min_delta
        self.best: float | None = None
        self.best_step: int | None = None
        self.bad_evals = 0

    def update(self, metrics: dict[str, float], step: int) -> bool:
        """Record one evaluation; return whether it is a new best."""
        if self.key not in metrics:
            available = ", ".join("val/" + name for name in metrics)
            raise ValueError(
                f"monitor={self.monitor!r} is not a validation metric; available: {available}"
            )
        value = metrics[self.key]
        if math.isfinite(value) and (
            self.best is None or self.sign * (self.best - value) > self.min_delta
        ):
            self.best, self.best_step, self.bad_evals = value, step, 0
            return True
        self.bad_evals += 1
        return False

    @property
    def should_stop(self) -> bool:
        return self.patience is not None and self.bad_evals >= self.patience

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "best_step": self.best_step, "bad_evals": self.bad_evals}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best = state.get("best")
        self.best_step = state.get("best_step")
        self.bad_evals = int(state.get("bad_evals", 0))


class NonFiniteGuard:
    """Remembers, on the device, the first step whose loss was NaN or inf.

    :meth:`record` only keeps a reference to the step's detached loss (no device op, no host
    sync); every ``fold_every`` records, and before a read, the pending losses are stacked and
    the first non-finite one among them is merged into a device flag (a handful of ops per
    ``fold_every`` steps). :meth:`first_bad_step` reads the flag (one sync) and is called at
    log intervals and before every checkpoint, so a checkpoint is never written from weights
    updated by a non-finite loss.
    """

    def __init__(self, device: torch.device, fold_every: int = 64) -> None:
        self.fold_every = fold_every
        self._first_bad = torch.full((), -1, dtype=torch.long, device=device)
        self._counter = 0  # 0-based number of the next recorded step
        self._pending: list[torch.Tensor] = []

    def start_at(self, step: int) -> None:
        """Number the next recorded step ``step`` (0-based), e.g. after a resume."""
        self._fold()
        self._counter = step

    def record(self, loss: torch.Tensor) -> None:
        """Note the detached scalar ``loss`` of the current step (no device op, no sync)."""
        self._pending.append(loss)
        self._counter += 1
        if len(self._pending) >= self.fold_every:
            self._fold()

    def _fold(self) -> None:
        pending = self._pending
        if not pending:
            return
        first_step = self._counter - len(pending)
        bad = ~torch.isfinite(torch.stack(pending))
        # argmax returns the first maximal index: the first non-finite loss of the chunk.
        candidate = torch.where(bad.any(), torch.argmax(bad.to(torch.uint8)) + first_step, -1)
        self._first_bad = torch.where(self._first_bad < 0, candidate, self._first_bad)
        self._pending = []

    def mark(self, step: int) -> None:
        """Record step ``step`` (0-based) as non-finite (the per-step check found it)."""
        self._fold()
        self._first_bad.fill_(step)

    def first_bad_step(self, fabric: Any) -> int | None:
        """The 1-based number of the first non-finite step on any rank, or ``None``."""
        self._fold()
        first_bad = self._first_bad
        if fabric.world_size > 1:
            first_bad = fabric.all_reduce(first_bad, reduce_op="max")  # the same on all ranks
        value = int(first_bad)
        return None if value < 0 else value + 1
