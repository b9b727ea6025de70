"""The training step as one module: ``model(x, ...)`` then ``model.compute_loss(x, output)``.

Wrapping forward *and* loss in one ``nn.Module`` gives Fabric (DDP, mixed-precision autocast)
and ``torch.compile`` the whole step: parameters used only by the loss (a learned prior or
likelihood scale) are inside the wrapped forward too.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import nn

from ._batches import Batch

BatchFn = Callable[[Batch], tuple[Any, tuple[Any, ...]]]


def _parameters(function: Callable[..., Any]) -> list[inspect.Parameter]:
    try:
        return list(inspect.signature(function).parameters.values())
    except (TypeError, ValueError):  # builtins without a signature
        return []


def _accepts_var_keyword(params: list[inspect.Parameter]) -> bool:
    return any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params)


def accepts_keyword(function: Callable[..., Any], name: str) -> bool:
    """Whether ``function`` takes a keyword argument ``name`` (or ``**kwargs``)."""
    params = _parameters(function)
    return _accepts_var_keyword(params) or any(
        p.name == name and p.kind is not inspect.Parameter.POSITIONAL_ONLY for p in params
    )


def check_keywords(function: Callable[..., Any], kwargs: Mapping[str, Any], what: str) -> None:
    """Raise ``TypeError`` naming the keywords ``function`` does not accept."""
    params = _parameters(function)
    if not params or _accepts_var_keyword(params):
        return
    names = {p.name for p in params if p.kind is not inspect.Parameter.POSITIONAL_ONLY}
    unknown = sorted(set(kwargs) - names)
    if unknown:
        accepted = ", ".join(sorted(names - {"self", "x", "output"})) or "none"
        raise TypeError(f"{what} got unexpected keyword(s) {unknown}; it accepts: {accepted}")


def required_extra_inputs(model: nn.Module) -> int:
    """How many positional inputs ``model.forward`` needs after ``x`` (a CVAE's ``y``: 1)."""
    params = _parameters(model.forward)
    positional = [
        p
        for p in params
        if p.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    ]
    required = [p for p in positional if p.default is inspect.Parameter.empty]
    return max(len(required) - 1, 0)


def default_batch_fn(model: nn.Module) -> BatchFn:
    """``batch -> (x, extra_inputs)``: ``x = batch[0]``; the model's required extra inputs
    (e.g. a CVAE's condition ``y``) are the next tensors of the batch, the rest is ignored."""
    extra = required_extra_inputs(model)

    def unpack(batch: Batch) -> tuple[Any, tuple[Any, ...]]:
        if len(batch) < 1 + extra:
            raise ValueError(
                f"{type(model).__name__}.forward needs {1 + extra} input tensor(s) per batch "
                f"(x and {extra} more), but a batch holds {len(batch)}; pass e.g. (x, y) "
                "tensors or batch_fn="
            )
        return batch[0], tuple(batch[1 : 1 + extra])

    return unpack


class TrainingStep(nn.Module):
    """``forward(batch, beta) -> (objective, diagnostics)`` for any model of the library.

    Parameters
    ----------
    model : nn.Module
        Has ``forward`` and ``compute_loss(x, output, **loss_kwargs) -> LossResult``.
    batch_fn : callable
        ``batch -> (x, extra_inputs)``; ``model(x, *extra_inputs, **forward_kwargs)``.
    forward_kwargs, loss_kwargs : dict
        Fixed keyword arguments of ``forward`` and ``compute_loss``.
    """

    def __init__(
        self,
        model: nn.Module,
        batch_fn: BatchFn,
        forward_kwargs: Mapping[str, Any],
        loss_kwargs: Mapping[str, Any],
    ) -> None:
        super().__init__()
        self.model = model
        self.batch_fn = batch_fn
        self.forward_kwargs = dict(forward_kwargs)
        self.loss_kwargs = dict(loss_kwargs)

    def forward(
        self, batch: Batch, beta: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        x, extra = self.batch_fn(batch)
        output = self.model(x, *extra, **self.forward_kwargs)
        loss_kwargs = self.loss_kwargs if beta is None else {**self.loss_kwargs, "beta": beta}
        compute_loss: Callable[..., Any] = self.model.compute_loss  # type: ignore[assignment]
        result = compute_loss(x, output, **loss_kwargs)
        return result.objective, result.diagnostics
