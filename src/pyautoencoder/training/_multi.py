"""The trainer's path for models with several optimizers (:class:`~pyautoencoder.training.
UpdateStep`).

Taken only for a model that declares ``training_steps()``; the one-optimizer path of
:class:`~pyautoencoder.training.Trainer` is untouched. Every update runs through one wrapped
module (:class:`UpdateStepsModule`), so Fabric's strategy and precision plugin see each
forward and backward; each update has its own optimizer (through ``fabric.setup_optimizers``)
and scheduler, and all of their states go into the checkpoint.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import nn

from .._base._steps import UpdateStep, check_training_steps
from ._batches import Batch
from ._logging import RunningMeans, to_floats
from ._optim import make_optimizer, make_scheduler
from ._step import BatchFn


class UpdateStepsModule(nn.Module):
    """``forward(batch, index, beta) -> (objective, diagnostics)`` of update ``index``."""

    def __init__(
        self,
        model: nn.Module,
        steps: tuple[UpdateStep, ...],
        batch_fn: BatchFn,
        loss_kwargs: Mapping[str, Any],
    ) -> None:
        super().__init__()
        self.model = model
        self.steps = steps
        self.batch_fn = batch_fn
        self.loss_kwargs = dict(loss_kwargs)

    def forward(
        self, batch: Batch, index: int, beta: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        x, extra = self.batch_fn(batch)
        step = self.steps[index]
        kwargs: dict[str, Any] = {}
        if step.uses_loss_kwargs:
            kwargs = self.loss_kwargs if beta is None else {**self.loss_kwargs, "beta": beta}
        result = step.loss(x, *extra, **kwargs)
        return result.objective, result.diagnostics


def declared_steps(model: nn.Module) -> tuple[UpdateStep, ...] | None:
    """The model's checked ``training_steps()``, or ``None`` for a one-optimizer model."""
    declare = getattr(model, "training_steps", None)
    if not callable(declare):
        return None
    return check_training_steps(declare(), type(model).__name__)


class MultiOptimizerUpdates:
    """One optimizer and scheduler per :class:`UpdateStep`, and the per-batch update loop.

    Parameters
    ----------
    steps : tuple of UpdateStep
    fabric : Fabric or LocalRun
    module : nn.Module
        The (Fabric-wrapped) :class:`UpdateStepsModule`.
    config : TrainerConfig
    total_steps : int
        Trainer steps of the run (for the built-in LR schedules of every optimizer).
    """

    def __init__(
        self,
        steps: tuple[UpdateStep, ...],
        fabric: Any,
        module: nn.Module,
        model: nn.Module,
        config: Any,
        total_steps: int,
    ) -> None:
        self.steps = steps
        self.fabric = fabric
        self.module = module
        self.model = model
        self.config = config
        optimizers = [
            make_optimizer(
                config.optimizer,
                step.parameters,
                lr=config.lr if step.lr is None else float(step.lr),
                weight_decay=config.weight_decay,
                extra={**config.optimizer_kwargs, **step.optimizer_kwargs},
            )
            for step in steps
        ]
        self.optimizers = [fabric.setup_optimizers(optimizer) for optimizer in optimizers]
        self.schedulers = [
            make_scheduler(config.scheduler, optimizer, total_steps, config.warmup_steps)
            for optimizer in optimizers
        ]
        # The first step's metrics go to the trainer's means (``loss`` ...); the others here.
        self.means = [RunningMeans() for _ in steps[1:]]
        self._idle = torch.zeros((), device=fabric.device)

    def run(
        self,
        batch: Batch,
        step: int,
        beta: torch.Tensor | None,
        main_means: RunningMeans,
        on_non_finite: Callable[[], None],
    ) -> torch.Tensor:
        """Run every update due at trainer step ``step``; returns the summed detached losses."""
        cfg = self.config
        total = self._idle
        for index, update in enumerate(self.steps):
            if not update.runs_at(step):
                continue
            optimizer = self.optimizers[index]
            self.model.zero_grad(set_to_none=True)  # drops what earlier updates left in others
            objective, diagnostics = self.module(batch, index, beta)
            loss = objective.detach()
            if cfg.check_finite == "step" and not bool(torch.isfinite(loss)):
                on_non_finite()
            self.fabric.backward(objective)
            if cfg.gradient_clip_val is not None:
                by_norm = cfg.gradient_clip_algorithm == "norm"
                self.fabric.clip_gradients(
                    self.module,
                    optimizer,
                    max_norm=cfg.gradient_clip_val if by_norm else None,
                    clip_val=None if by_norm else cfg.gradient_clip_val,
                    error_if_nonfinite=False,
                )
            optimizer.step()
            scheduler = self.schedulers[index]
            if scheduler is not None:
                scheduler.step()
            means = main_means if index == 0 else self.means[index - 1]
            means.add({"loss": loss, **diagnostics})
            total = total + loss
        return total

    def metrics(self, reduce: Callable[[torch.Tensor], torch.Tensor]) -> dict[str, float]:
        """Means of the later steps' metrics since the last call (``<name>_<key>``) and every
        optimizer's current learning rate (``<name>_lr`` for the later steps)."""
        metrics: dict[str, float] = {}
        for index, update in enumerate(self.steps[1:], start=1):
            means = self.means[index - 1]
            if not means.empty:
                names, stacked = means.stacked()
                values = to_floats(names, None if stacked is None else reduce(stacked))
                metrics.update({f"{update.name}_{key}": value for key, value in values.items()})
                means.reset()
            metrics[f"{update.name}_lr"] = float(self.optimizers[index].param_groups[0]["lr"])
        return metrics

    def state_dict(self) -> dict[str, Any]:
        """Every optimizer's and scheduler's state, keyed by step name."""
        return {
            update.name: {
                "optimizer": optimizer.state_dict(),
                "scheduler": None if scheduler is None else scheduler.state_dict(),
            }
            for update, optimizer, scheduler in zip(self.steps, self.optimizers, self.schedulers)
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`; ``KeyError``/``ValueError`` when the steps differ."""
        names = [update.name for update in self.steps]
        if sorted(state) != sorted(names):
            raise ValueError(f"the checkpoint has optimizers {sorted(state)}, the model {names}")
        for update, optimizer, scheduler in zip(self.steps, self.optimizers, self.schedulers):
            optimizer.load_state_dict(state[update.name]["optimizer"])
            if scheduler is not None and state[update.name]["scheduler"] is not None:
                scheduler.load_state_dict(state[update.name]["scheduler"])
