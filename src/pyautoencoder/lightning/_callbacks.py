"""Beta / KL-weight schedules for :class:`AutoencoderModule` as a Lightning callback."""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from typing import Any

import lightning as L
import torch

from ..training._schedules import BetaSchedule, ConstantBeta
from ..training._step import check_keywords
from ._module import AutoencoderModule

ScheduleLike = BetaSchedule | Callable[[int], float] | float


class BetaScheduleCallback(L.Callback):
    """Set ``module.loss_kwargs[key]`` from a schedule before every training step.

    The weight is held in one 0-dim tensor on the module's device, updated in place
    (``fill_``) from ``schedule(trainer.global_step)``, so a compiled step sees the same tensor
    input every time and nothing is synchronised with the host. It is also logged as
    ``train/<key>``. Validation and testing use the value of the last training step.

    Parameters
    ----------
    schedule : BetaSchedule, callable or float
        A schedule of :mod:`pyautoencoder.training` (:class:`~pyautoencoder.training.
        LinearWarmup`: KL annealing of Bowman et al. 2016; :class:`~pyautoencoder.training.
        CyclicalBeta`: Fu et al. 2019, eq. 6), any ``step -> float`` callable, or a number.
        Schedules that need the run length (``CyclicalBeta()`` without ``total_steps``) are
        bound to ``trainer.estimated_stepping_batches`` when the fit starts.
    key : str
        The ``compute_loss`` keyword to drive (default ``"beta"``).

    Examples
    --------
    >>> from pyautoencoder.training import CyclicalBeta
    >>> trainer = L.Trainer(callbacks=[BetaScheduleCallback(CyclicalBeta(num_cycles=4))])
    """

    def __init__(self, schedule: ScheduleLike, key: str = "beta") -> None:
        super().__init__()
        if isinstance(schedule, numbers.Real) and not isinstance(schedule, bool):
            schedule = ConstantBeta(float(schedule))
        if not callable(schedule):
            raise TypeError(
                "schedule must be a pyautoencoder.training.BetaSchedule, a callable "
                f"step -> float or a number, got {type(schedule).__name__}"
            )
        if not isinstance(key, str) or not key:
            raise TypeError(f"key must be a non-empty str, got {key!r}")
        self.schedule: Callable[[int], float] = schedule
        self.key = key
        self._bound: Callable[[int], float] = schedule
        self._value: torch.Tensor | None = None

    def _weight(self, step: int) -> float:
        value = self._bound(step)
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError(f"the {self.key} schedule must return a float, got {value!r}")
        if not math.isfinite(float(value)) or value < 0:
            raise ValueError(
                f"the {self.key} schedule returned {value!r} at step {step}; expected a finite "
                "value >= 0"
            )
        return float(value)

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not isinstance(pl_module, AutoencoderModule):
            raise TypeError(
                f"BetaScheduleCallback drives an AutoencoderModule, got {type(pl_module).__name__}"
            )
        model = pl_module.model
        check_keywords(
            model.compute_loss,  # type: ignore[arg-type]
            {self.key: None},
            f"{type(model).__name__}.compute_loss (driven by BetaScheduleCallback)",
        )
        self._bound = self.schedule
        total = trainer.estimated_stepping_batches
        if isinstance(self.schedule, BetaSchedule) and math.isfinite(total):
            self._bound = self.schedule.bind(int(max(total, 1)))
        self._value = torch.tensor(
            self._weight(trainer.global_step), dtype=torch.float32, device=pl_module.device
        )
        pl_module.loss_kwargs[self.key] = self._value

    def on_train_batch_start(
        self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        if self._value is None:  # pragma: no cover - on_fit_start always runs first
            raise RuntimeError("BetaScheduleCallback.on_fit_start did not run")
        self._value.fill_(self._weight(trainer.global_step))
        pl_module.log(f"train/{self.key}", self._value, on_step=True, on_epoch=False)
