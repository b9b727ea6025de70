"""Time the training steps *inside* :func:`pyautoencoder.training.fit` with a step callback."""

from __future__ import annotations

import time
from typing import Any

import torch
from _common import Runner, median
from torch import nn

FIT_DEFAULTS: dict[str, Any] = {
    "batch_size": 100,
    "lr": 1e-3,
    "log_every_n_steps": 10**9,
    "progress": False,
    "accelerator": "cpu",
    "epochs": None,
}


class StepClock:
    """A ``fit`` callback that stamps the end of every optimizer step."""

    def __init__(self) -> None:
        self.stamps: list[float] = []

    def on_step_end(self, trainer: object, step: int) -> None:
        self.stamps.append(time.perf_counter())

    def intervals(self) -> list[float]:
        """Seconds between consecutive step ends (the first step, with its checks, excluded)."""
        return [b - a for a, b in zip(self.stamps, self.stamps[1:])]


class FitSteps(Runner):
    """``fit(model, data, max_steps=n + 1)``; :meth:`run` returns the time of steps 2 .. n + 1.

    The sum of the ``n`` step-to-step intervals after the first step leaves out ``fit``'s
    setup and its first (value-checked) step, and is timed like the other runners (a total
    over ``n`` steps, so a slow step counts as it does for them). ``n`` steps from the start
    of an epoch never reach the once-per-epoch reshuffle for ``n < 80`` on MNIST-10k. Every
    call continues training the same model (a fresh optimizer each call).
    """

    def __init__(self, name: str, model: nn.Module, data: torch.Tensor, **options: Any) -> None:
        self.name = name
        self.model = model
        self.data = data
        self.options = {**FIT_DEFAULTS, **options}
        self.threads = torch.get_num_threads()

    def run(self, n: int) -> float:
        from pyautoencoder.training import fit

        clock = StepClock()
        fit(self.model, self.data, max_steps=max(n, 2) + 1, callbacks=[clock], **self.options)
        torch.set_num_threads(self.threads)  # in case the launcher changed it
        intervals = clock.intervals()
        return sum(intervals[:n]) if len(intervals) >= n else n * median(intervals)
