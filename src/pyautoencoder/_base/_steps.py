"""Models trained with several optimizers: :class:`UpdateStep` and the :class:`TrainingSteps`
protocol.

A model whose training alternates between parameter groups (a VAE and a discriminator on its
codes, a generator and a critic) declares ``training_steps(self) -> Sequence[UpdateStep]``.
:func:`~pyautoencoder.training.fit` then builds one optimizer per step and, for every batch,
runs each step that is due, in the declared order::

    for step in model.training_steps():          # resolved once, before training
        if step.runs_at(trainer_step):
            zero every gradient of the model
            result = step.loss(x, *extra)        # (+ loss_kwargs/beta if uses_loss_kwargs)
            result.objective.backward()
            clip, then step this step's optimizer only

A step updates only its own parameters: gradients its loss sends into other groups (a
generator loss reaches the discriminator's weights) are dropped before the next step.
``model.compute_loss`` stays the model's objective for validation and for hand-written loops.

The protocol lives here, below the model families, so that models can declare steps without
importing the training package.
"""

from __future__ import annotations

import dataclasses
import numbers
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from torch import nn


@dataclasses.dataclass(frozen=True)
class UpdateStep:
    """One update of a multi-optimizer schedule: which parameters, which loss, when.

    Attributes
    ----------
    name : str
        Names the step's optimizer in checkpoints and its metrics in logs: the first step's
        objective and diagnostics are logged as ``loss`` and under their own names, those of
        later steps as ``<name>_loss`` and ``<name>_<diagnostic>``.
    parameters : tuple of nn.Parameter
        The parameters this step's optimizer updates (disjoint from every other step's).
    loss : callable
        ``loss(x, *extra_inputs) -> LossResult``: runs whatever forward pass it needs.
    start_step : int
        First trainer step (0-based count of batches) at which the step runs; e.g. a
        discriminator that starts after warm-up of the autoencoder.
    every : int
        The step runs at ``start_step, start_step + every, ...``.
    lr : float, optional
        The step's learning rate; ``None`` takes the run's ``lr``.
    optimizer_kwargs : mapping
        Extra optimizer arguments for this step only (e.g. ``{"betas": (0.5, 0.9)}``); they
        override the run's ``optimizer_kwargs``.
    uses_loss_kwargs : bool
        Whether ``loss`` also receives the run's ``loss_kwargs`` and ``beta`` (the model's own
        objective does; a discriminator's loss does not).
    """

    name: str
    parameters: tuple[nn.Parameter, ...]
    loss: Callable[..., Any]
    start_step: int = 0
    every: int = 1
    lr: float | None = None
    optimizer_kwargs: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    uses_loss_kwargs: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.isidentifier():
            raise ValueError(f"UpdateStep name must be an identifier string, got {self.name!r}")
        object.__setattr__(self, "parameters", tuple(self.parameters))
        if not self.parameters or not all(isinstance(p, nn.Parameter) for p in self.parameters):
            raise ValueError(
                f"UpdateStep {self.name!r}: parameters must be a non-empty sequence of "
                f"nn.Parameter, got {len(self.parameters)} item(s)"
            )
        if not callable(self.loss):
            raise TypeError(f"UpdateStep {self.name!r}: loss must be callable")
        for field, low in (("start_step", 0), ("every", 1)):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
                raise ValueError(
                    f"UpdateStep {self.name!r}: {field} must be an int >= {low}, got {value!r}"
                )
        if self.lr is not None and not (isinstance(self.lr, numbers.Real) and self.lr > 0):
            raise ValueError(f"UpdateStep {self.name!r}: lr must be > 0 or None, got {self.lr!r}")

    def runs_at(self, step: int) -> bool:
        """Whether this update runs at trainer step ``step`` (0-based; Python ints, no sync)."""
        return step >= self.start_step and (step - self.start_step) % self.every == 0


@runtime_checkable
class TrainingSteps(Protocol):
    """A model trained with several optimizers (see the module docstring)."""

    def training_steps(self) -> Sequence[UpdateStep]:
        """The updates of one training step, in the order they run."""


def check_training_steps(steps: Sequence[UpdateStep], owner: str) -> tuple[UpdateStep, ...]:
    """Validate a model's declared steps: at least one, unique names, disjoint parameters."""
    steps = tuple(steps)
    if not steps or not all(isinstance(step, UpdateStep) for step in steps):
        raise TypeError(f"{owner}.training_steps() must return a non-empty sequence of UpdateStep")
    names = [step.name for step in steps]
    if len(set(names)) != len(names):
        raise ValueError(f"{owner}.training_steps() has repeated step names: {names}")
    owners: dict[int, str] = {}
    for step in steps:
        for parameter in step.parameters:
            previous = owners.setdefault(id(parameter), step.name)
            if previous != step.name:
                raise ValueError(
                    f"{owner}.training_steps(): a parameter is in both {previous!r} and "
                    f"{step.name!r}; each parameter belongs to one step's optimizer"
                )
    return steps


def parameters_except(model: nn.Module, *excluded: nn.Module) -> tuple[nn.Parameter, ...]:
    """The trainable parameters of ``model``, in its order, that none of ``excluded`` holds.

    The parameter group of a generator-side step: ``parameters_except(model,
    model.discriminator)`` is every trainable parameter but the discriminator's.
    """
    held = {id(p) for module in excluded for p in module.parameters()}
    return tuple(p for p in model.parameters() if p.requires_grad and id(p) not in held)


def discriminator_update(
    discriminator: nn.Module,
    loss: Callable[..., Any],
    start_step: int = 0,
    lr: float | None = None,
) -> UpdateStep:
    """The ``"discriminator"`` step of an adversarial model: the discriminator's trainable
    parameters, trained on ``loss`` from ``start_step`` on with its own ``lr`` (validated)."""
    parameters = tuple(p for p in discriminator.parameters() if p.requires_grad)
    return UpdateStep("discriminator", parameters, loss, start_step=start_step, lr=lr)
