"""Post-step hooks a model may declare: what the training loop calls after ``optimizer.step()``.

A model that keeps a constraint on its parameters after each update (the unit-norm dictionary
columns of :mod:`pyautoencoder.dictionary`) defines ``after_optimizer_step(self) -> None``.
:func:`~pyautoencoder.training.fit` and :class:`~pyautoencoder.lightning.AutoencoderModule`
resolve it once, before training, and call it after every optimizer step (outside any
compiled graph, under ``torch.no_grad``). A hand-written loop calls it itself::

    optimizer.step()
    model.after_optimizer_step()
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

from torch import nn


@runtime_checkable
class AfterOptimizerStep(Protocol):
    """A model with a hook to run after every optimizer step (e.g. renormalise weights)."""

    def after_optimizer_step(self) -> None:
        """Restore the model's parameter constraints after ``optimizer.step()``."""


def after_optimizer_step_hook(model: nn.Module) -> Callable[[], None] | None:
    """The model's ``after_optimizer_step`` when it declares one, else ``None``."""
    if isinstance(model, AfterOptimizerStep):
        return model.after_optimizer_step
    return None
