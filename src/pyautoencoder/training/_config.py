"""Options of a training run (:class:`TrainerConfig`) and its outcome (:class:`FitResult`)."""

from __future__ import annotations

import dataclasses
import numbers
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from torch import nn

from ._optim import OptimizerSpec, SchedulerSpec
from ._schedules import BetaSchedule
from ._step import BatchFn


class NonFiniteLossError(FloatingPointError):
    """The training loss became NaN or infinite (see the message for the step and the fix)."""


def _check_count(value: object, name: str, *, allow_none: bool = False, minimum: int = 1) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        none = " or None" if allow_none else ""
        raise ValueError(f"{name} must be an int >= {minimum}{none}, got {value!r}")


@dataclass
class TrainerConfig:
    """Every option of :func:`~pyautoencoder.training.fit` (see ``docs/training.md``).

    Data and length: ``epochs``, ``max_steps`` (stop after that many optimizer steps, also
    mid-epoch), ``batch_size`` (per process), ``shuffle``, ``drop_last``, ``num_workers``
    (``DataLoader`` path only), ``batch_fn`` (``batch -> (x, extra_inputs)``).

    Optimisation: ``optimizer`` (``"adam"``, ``"adamw"``, ``"sgd"``, ``"rmsprop"`` or a callable
    ``params -> Optimizer``), ``lr``, ``weight_decay``, ``optimizer_kwargs``, ``scheduler``
    (``"constant"``, ``"cosine"``, ``"linear"``, ``None`` or a callable ``(optimizer,
    total_steps) -> LRScheduler``, stepped every optimizer step), ``warmup_steps`` (LR warm-up),
    ``gradient_clip_val`` with ``gradient_clip_algorithm`` (``"norm"`` or ``"value"``).

    The model: ``beta`` (a number or a :class:`BetaSchedule`, passed as a 0-dim tensor to
    ``compute_loss``), ``forward_kwargs``, ``loss_kwargs``.

    Validation and stopping: ``val_every_n_steps`` (``None``: at the end of each epoch),
    ``monitor`` (``"val/loss"`` or ``"val/<diagnostic>"``), ``mode``,
    ``early_stopping_patience`` (evaluations without improvement), ``min_delta``,
    ``restore_best`` (load the best weights at the end).

    Output: ``out_dir`` (``metrics.jsonl`` and ``checkpoints/``), ``checkpoint_every_n_steps``
    (``None``: at the end of each epoch), ``keep_checkpoints``, ``log_every_n_steps``,
    ``loggers`` (Fabric loggers besides ``metrics.jsonl``: ``None`` adds TensorBoard under
    ``out_dir`` when ``tensorboard`` or ``tensorboardX`` is installed; ``"tensorboard"`` asks for
    it (an ``ImportError`` names the packages when neither is installed), ``"csv"`` for Fabric's
    ``CSVLogger``; logger objects, a list, or ``False`` for none), ``progress``, ``resume`` (a
    run or checkpoint folder).

    Execution: ``seed``, ``compile`` (``True`` or ``torch.compile`` keyword arguments),
    ``accelerator``, ``devices``, ``num_nodes``, ``strategy``, ``precision`` (passed to
    ``lightning.fabric.Fabric``), ``check_finite`` (``"interval"``: the NaN guard reads an
    accumulated flag at log intervals and before every checkpoint; ``"step"``: one host sync per
    step, stops before the bad update), ``value_check_batches`` (steps run with
    ``pyautoencoder`` value checks before they are switched off), ``callbacks``.
    """

    epochs: int | None = 10
    max_steps: int | None = None
    batch_size: int = 128
    shuffle: bool = True
    drop_last: bool = False
    num_workers: int = 0
    batch_fn: BatchFn | None = None
    optimizer: OptimizerSpec = "adam"
    lr: float = 1e-3
    weight_decay: float = 0.0
    optimizer_kwargs: dict[str, Any] = field(default_factory=dict)
    scheduler: SchedulerSpec = None
    warmup_steps: int = 0
    gradient_clip_val: float | None = None
    gradient_clip_algorithm: Literal["norm", "value"] = "norm"
    beta: float | BetaSchedule | None = None
    forward_kwargs: dict[str, Any] = field(default_factory=dict)
    loss_kwargs: dict[str, Any] = field(default_factory=dict)
    val_every_n_steps: int | None = None
    monitor: str = "val/loss"
    mode: Literal["min", "max"] = "min"
    early_stopping_patience: int | None = None
    min_delta: float = 0.0
    restore_best: bool = False
    out_dir: str | os.PathLike[str] | None = None
    checkpoint_every_n_steps: int | None = None
    keep_checkpoints: int = 2
    log_every_n_steps: int = 50
    loggers: Any = None
    progress: bool | None = None
    resume: str | os.PathLike[str] | None = None
    seed: int = 0
    compile: bool | dict[str, Any] = False
    accelerator: Any = "auto"
    devices: Any = 1
    num_nodes: int = 1
    strategy: Any = "auto"
    precision: Any = "32-true"
    check_finite: Literal["interval", "step"] = "interval"
    value_check_batches: int = 1
    callbacks: Sequence[Any] = ()

    def __post_init__(self) -> None:
        if self.epochs is None and self.max_steps is None:
            raise ValueError("give epochs or max_steps (or both), got neither")
        _check_count(self.epochs, "epochs", allow_none=True)
        _check_count(self.max_steps, "max_steps", allow_none=True)
        _check_count(self.batch_size, "batch_size")
        _check_count(self.log_every_n_steps, "log_every_n_steps")
        _check_count(self.val_every_n_steps, "val_every_n_steps", allow_none=True)
        _check_count(self.checkpoint_every_n_steps, "checkpoint_every_n_steps", allow_none=True)
        _check_count(self.early_stopping_patience, "early_stopping_patience", allow_none=True)
        _check_count(self.keep_checkpoints, "keep_checkpoints")
        _check_count(self.value_check_batches, "value_check_batches", minimum=0)
        _check_count(self.warmup_steps, "warmup_steps", minimum=0)
        _check_count(self.num_workers, "num_workers", minimum=0)
        if self.mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', got {self.mode!r}")
        if self.check_finite not in ("interval", "step"):
            raise ValueError(
                f"check_finite must be 'interval' or 'step', got {self.check_finite!r}"
            )
        if self.gradient_clip_algorithm not in ("norm", "value"):
            raise ValueError(
                "gradient_clip_algorithm must be 'norm' or 'value', got "
                f"{self.gradient_clip_algorithm!r}"
            )
        if self.gradient_clip_val is not None and not self.gradient_clip_val > 0:
            raise ValueError(f"gradient_clip_val must be > 0, got {self.gradient_clip_val!r}")
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr!r}")
        self._check_loggers()
        if not self.monitor.startswith(("val/", "train/")):
            raise ValueError(f"monitor must look like 'val/loss', got {self.monitor!r}")

    def _check_loggers(self) -> None:
        items = self.loggers if isinstance(self.loggers, (list, tuple)) else [self.loggers]
        for item in items:
            if not isinstance(item, str):
                continue
            if item not in ("tensorboard", "csv"):
                raise ValueError(
                    f"loggers: unknown logger name {item!r}; use 'tensorboard', 'csv', a "
                    "lightning.fabric.loggers.Logger, a list of these, or False"
                )
            if self.out_dir is None:
                raise ValueError(f"loggers={item!r} writes under out_dir; set out_dir")

    def to_json(self) -> dict[str, Any]:
        """The options as plain JSON values (callables and objects by name)."""
        result: dict[str, Any] = {}
        for item in dataclasses.fields(self):
            result[item.name] = _plain(getattr(self, item.name))
        return result


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (Path, os.PathLike)):
        return os.fspath(value)
    if isinstance(value, BetaSchedule):
        return value.config()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return getattr(value, "__qualname__", None) or type(value).__name__


@dataclass
class FitResult:
    """What :func:`~pyautoencoder.training.fit` returns.

    Attributes
    ----------
    model : nn.Module
        The trained model (the object passed in, unwrapped; best weights if ``restore_best``).
    steps : int
        Optimizer steps done in total (including those of a resumed run).
    epochs : int
        Completed epochs.
    history : list of dict
        Every logged event (the lines of ``metrics.jsonl``).
    train_metrics, val_metrics : dict
        The last logged training and validation metrics (empty when none).
    best_metric, best_step
        Best value of ``monitor`` and when it was reached (``None`` without validation).
    stopped_early, interrupted : bool
        Early stopping triggered; Ctrl-C (a checkpoint was saved when ``out_dir`` is set).
    checkpoint : Path or None
        The last checkpoint written.
    wall_time : float
        Seconds spent in this call.
    """

    model: nn.Module
    steps: int
    epochs: int
    history: list[dict[str, Any]]
    train_metrics: dict[str, float]
    val_metrics: dict[str, float]
    best_metric: float | None
    best_step: int | None
    stopped_early: bool
    interrupted: bool
    checkpoint: Path | None
    wall_time: float
