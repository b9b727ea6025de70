"""Optimizer and learning-rate scheduler factories used by the trainer."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR, LRScheduler

OptimizerSpec = str | Callable[[Iterable[torch.nn.Parameter]], Optimizer]
SchedulerSpec = str | Callable[[Optimizer, int], LRScheduler] | None

_OPTIMIZERS: dict[str, type[Optimizer]] = {
    "adam": torch.optim.Adam,
    "adamw": torch.optim.AdamW,
    "sgd": torch.optim.SGD,
    "rmsprop": torch.optim.RMSprop,
}
SCHEDULERS = ("constant", "cosine", "linear")


def _fast_kernel_option(params: list[torch.nn.Parameter], cls: type[Optimizer]) -> dict[str, Any]:
    """``fused=True`` where supported for the parameters' device, else ``foreach=True``."""
    devices = {p.device.type for p in params}
    fused_devices = getattr(
        torch.utils._foreach_utils, "_get_fused_kernels_supported_devices", None
    )
    supported = set(fused_devices()) if fused_devices is not None else {"cuda"}
    fusable = cls in (torch.optim.Adam, torch.optim.AdamW, torch.optim.SGD)
    if fusable and devices <= supported and all(p.dtype.is_floating_point for p in params):
        return {"fused": True}
    return {"foreach": True}


def make_optimizer(
    spec: OptimizerSpec,
    parameters: Iterable[torch.nn.Parameter],
    *,
    lr: float,
    weight_decay: float,
    extra: dict[str, Any],
) -> Optimizer:
    """Build the optimizer named by ``spec`` (``"adam"`` ...) or call ``spec(parameters)``.

    Built-in optimizers use a fused kernel where PyTorch has one for the device (``fused=True``)
    and the multi-tensor ``foreach`` path otherwise; ``extra`` overrides anything.
    """
    params = [p for p in parameters if p.requires_grad]
    if not params:
        raise ValueError("the model has no trainable parameters (requires_grad=True)")
    if callable(spec) and not isinstance(spec, str):
        return spec(params)
    cls = _OPTIMIZERS.get(str(spec).lower())
    if cls is None:
        raise ValueError(
            f"unknown optimizer {spec!r}; expected one of {sorted(_OPTIMIZERS)} or a callable "
            "params -> torch.optim.Optimizer"
        )
    options: dict[str, Any] = {"lr": lr, "weight_decay": weight_decay}
    options.update(_fast_kernel_option(params, cls))
    options.update(extra)
    return cls(params, **options)


def _warmup_then(
    shape: Callable[[float], float], warmup_steps: int, total_steps: int
) -> Callable[[int], float]:
    def factor(step: int) -> float:
        if warmup_steps > 0 and step < warmup_steps:
            return (step + 1) / warmup_steps
        span = max(total_steps - warmup_steps, 1)
        return shape(min(max(step - warmup_steps, 0) / span, 1.0))

    return factor


def make_scheduler(
    spec: SchedulerSpec, optimizer: Optimizer, total_steps: int, warmup_steps: int
) -> LRScheduler | None:
    """Per-step LR schedule: ``"constant"``, ``"cosine"`` (to 0) or ``"linear"`` (to 0).

    Each built-in starts with ``warmup_steps`` steps of linear warm-up; a callable gets
    ``(optimizer, total_steps)``. ``None`` (and ``"constant"`` without warm-up) means no
    scheduler.
    """
    if spec is None or (spec == "constant" and warmup_steps == 0):
        return None
    if callable(spec) and not isinstance(spec, str):
        return spec(optimizer, total_steps)
    shapes: dict[str, Callable[[float], float]] = {
        "constant": lambda progress: 1.0,
        "cosine": lambda progress: 0.5 * (1.0 + math.cos(math.pi * progress)),
        "linear": lambda progress: 1.0 - progress,
    }
    shape = shapes.get(str(spec))
    if shape is None:
        raise ValueError(
            f"unknown scheduler {spec!r}; expected one of {list(SCHEDULERS)}, None, or a "
            "callable (optimizer, total_steps) -> LRScheduler"
        )
    return LambdaLR(optimizer, _warmup_then(shape, warmup_steps, total_steps))
