"""One line per epoch on stdout: the train and held-out loss and ELBO of the epoch.

Printed whether or not stdout is a terminal (pipes, CI logs and notebooks see the same lines);
the tqdm bar, on a terminal only, stays below them (lines go through ``tqdm.write``).
"""

from __future__ import annotations

import sys
from typing import Any


def _write(line: str) -> None:
    try:
        from tqdm import tqdm
    except ImportError:  # pragma: no cover - tqdm ships with the train and demo extras
        print(line, flush=True)
        return
    tqdm.write(line, file=sys.stdout)
    sys.stdout.flush()


def _describe(metrics: dict[str, float]) -> str:
    parts = [f"loss {metrics['loss']:.3f}"] if "loss" in metrics else []
    if "elbo" in metrics:
        parts.append(f"ELBO {metrics['elbo']:.3f}")
    return ", ".join(parts) or "no loss logged"


class EpochLines:
    """Trainer callback: ``epoch 3/20: train loss 25.103, ELBO -25.103 | held-out ...``.

    The train numbers are the step-weighted mean of the train events logged since the last
    held-out evaluation (the whole epoch, not only its last log interval); the held-out
    numbers are the evaluation the trainer runs at the end of each epoch. Only the process of
    global rank 0 prints.

    Parameters
    ----------
    epochs : int
        The run's total number of epochs (for ``epoch i/N``).
    """

    def __init__(self, epochs: int) -> None:
        self.epochs = epochs
        self._sums: dict[str, float] = {}
        self._steps = 0  # steps covered by the sums
        self._unlogged_steps = 0  # steps since the last train event

    def on_step_end(self, trainer: Any, step: int) -> None:
        self._unlogged_steps += 1

    def on_log(self, trainer: Any, event: str, metrics: dict[str, float]) -> None:
        if event == "train":
            weight = max(self._unlogged_steps, 1)
            self._unlogged_steps = 0
            for name in ("loss", "elbo"):
                if name in metrics:
                    self._sums[name] = self._sums.get(name, 0.0) + weight * metrics[name]
            self._steps += weight
        elif event == "val":
            train = {k: v / self._steps for k, v in self._sums.items()} if self._steps else {}
            self._sums, self._steps = {}, 0
            fabric = getattr(trainer, "fabric", None)
            if fabric is None or fabric.is_global_zero:
                _write(
                    f"epoch {trainer.epoch}/{self.epochs}: train {_describe(train)} | "
                    f"held-out {_describe(metrics)}"
                )
