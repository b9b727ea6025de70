"""Optimizer and learning-rate scheduler factories used by the trainer."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR, LRScheduler

from .._registry import Registry

OptimizerSpec = str | Callable[[Iterable[torch.nn.Parameter]], Optimizer]
SchedulerSpec = str | Callable[[Optimizer, int], LRScheduler] | None

OPTIMIZERS: Registry[type[Optimizer]] = Registry("optimizer")
for _name, _cls in (
    ("adam", torch.optim.Adam),
    ("adamw", torch.optim.AdamW),
    ("sgd", torch.optim.SGD),
    ("rmsprop", torch.optim.RMSprop),
):
    OPTIMIZERS.register(_name, _cls)
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
    if str(spec) not in OPTIMIZERS:
        raise ValueError(
            f"unknown optimizer {spec!r}; expected one of {OPTIMIZERS.names()} or a callable "
            f"params -> torch.optim.Optimizer{OPTIMIZERS.did_you_mean(spec, inline=True)}"
        )
    cls = OPTIMIZERS.get(str(spec))
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


class FusedAdamStep:
    r"""``optimizer.step()`` of a fused ``torch.optim.Adam``/``AdamW``, minus its Python layers.

    ``Optimizer.step`` wraps the fused kernel in a profiler range, hook loops, per-group state
    gathering (:meth:`~torch.optim.Adam._init_group`) and device/dtype grouping: about 0.2 ms per
    step on a CPU, a twentieth of the whole step of the Kingma & Welling MLP at batch 100. Once
    the optimizer state exists, :meth:`step` makes the two calls that remain, on lists gathered
    once: ``_foreach_add_(steps, 1)`` and ``_fused_adam_`` (``_fused_adamw_`` for decoupled
    weight decay), with each group's current hyper-parameters (a scheduler's ``lr`` is read at
    every step). The update is the same kernel with the same arguments, so the parameters and
    the optimizer state are bit-identical to ``optimizer.step()`` (Kingma & Ba 2015, Alg. 1;
    Loshchilov & Hutter 2019 for AdamW).

    Anything this path does not reproduce falls back to ``optimizer.step()`` for that step:
    another optimizer class, ``fused`` off, step hooks (global or the optimizer's), gradient
    scaling (``grad_scale``/``found_inf``), tensor ``betas`` or ``lr``, a parameter without a
    gradient, parameters of several devices or dtypes in a group, or state not yet created
    (the first step). The gathered lists are rebuilt when the state or the groups are replaced
    (``load_state_dict``, ``add_param_group``).

    Parameters
    ----------
    optimizer : torch.optim.Optimizer
        The optimizer to step (any class; only fused Adam/AdamW take the direct path).
    """

    def __init__(self, optimizer: Optimizer) -> None:
        self.optimizer = optimizer
        self._eligible = (
            type(optimizer) in (torch.optim.Adam, torch.optim.AdamW)
            and hasattr(torch, "_fused_adam_")
            and hasattr(torch, "_fused_adamw_")
        )
        self._groups: list[tuple[Any, ...]] | None = None
        self._state_ref: object = None
        self.direct_steps = 0  # steps that took the direct path (for tests and benchmarks)

    def _hooks_or_scaling(self) -> bool:
        opt = self.optimizer
        from torch.optim import optimizer as optimizer_module

        return bool(
            opt._optimizer_step_pre_hooks
            or opt._optimizer_step_post_hooks
            or optimizer_module._global_optimizer_pre_hooks
            or optimizer_module._global_optimizer_post_hooks
            or getattr(opt, "grad_scale", None) is not None
            or getattr(opt, "found_inf", None) is not None
        )

    def _gather(self) -> list[tuple[Any, ...]] | None:
        """Per group: ``(group, params, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, steps, fn)``."""
        opt = self.optimizer
        groups = []
        for group in opt.param_groups:
            params = group["params"]
            if not group.get("fused") or group.get("differentiable") or not params:
                return None
            if not all(isinstance(b, float) for b in group["betas"]):
                return None
            if len({(p.device, p.dtype) for p in params}) != 1:
                return None
            if any("exp_avg" not in opt.state.get(p, ()) for p in params):
                return None  # not initialised yet: the first step builds the state
            states = [opt.state[p] for p in params]
            amsgrad = bool(group["amsgrad"])
            decoupled = group.get("decoupled_weight_decay", type(opt) is torch.optim.AdamW)
            groups.append(
                (
                    group,
                    params,
                    [s["exp_avg"] for s in states],
                    [s["exp_avg_sq"] for s in states],
                    [s["max_exp_avg_sq"] for s in states] if amsgrad else [],
                    [s["step"] for s in states],
                    torch._fused_adamw_ if decoupled else torch._fused_adam_,
                )
            )
        return groups

    def _current_groups(self) -> list[tuple[Any, ...]] | None:
        opt = self.optimizer
        cached = self._groups
        if (
            cached is None
            or self._state_ref is not opt.state
            or len(cached) != len(opt.param_groups)
            or any(
                c[0] is not g or c[1] is not g["params"] for c, g in zip(cached, opt.param_groups)
            )
        ):
            cached = self._groups = self._gather()
            self._state_ref = opt.state
        return cached

    def step(self) -> None:
        """One optimizer step (direct fused call when possible, else ``optimizer.step()``)."""
        groups = self._current_groups() if self._eligible and not self._hooks_or_scaling() else None
        if groups is None:
            self.optimizer.step()
            return
        grads_per_group = []
        for group, params, *_rest in groups:
            grads = [p.grad for p in params]
            if any(g is None for g in grads) or isinstance(group["lr"], torch.Tensor):
                # Adam skips parameters without a gradient and places a tensor lr: let it.
                self.optimizer.step()
                return
            grads_per_group.append(grads)
        with torch.no_grad():
            for (group, params, avgs, sqs, max_sqs, steps, kernel), grads in zip(
                groups, grads_per_group
            ):
                beta1, beta2 = group["betas"]
                torch._foreach_add_(steps, 1)
                kernel(
                    params,
                    grads,
                    avgs,
                    sqs,
                    max_sqs,
                    steps,
                    amsgrad=group["amsgrad"],
                    lr=group["lr"],
                    beta1=beta1,
                    beta2=beta2,
                    weight_decay=group["weight_decay"],
                    eps=group["eps"],
                    maximize=group["maximize"],
                    grad_scale=None,
                    found_inf=None,
                )
        self.direct_steps += 1

    def zero_grad(self) -> None:
        """``optimizer.zero_grad(set_to_none=True)`` without its profiler range."""
        for group in self.optimizer.param_groups:
            for p in group["params"]:
                p.grad = None
