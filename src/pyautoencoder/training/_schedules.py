r"""Schedules of the KL weight ``beta`` over training steps.

A schedule is a callable ``step -> beta`` (a Python float); the trainer writes the value into a
0-dim tensor that it passes to ``compute_loss(..., beta=...)`` at every step, so a compiled
training step sees the same tensor input each time and never recompiles when ``beta`` changes.

* :class:`ConstantBeta`: ``beta`` fixed.
* :class:`LinearWarmup`: KL annealing (Bowman et al. 2016, *Generating sentences from a
  continuous space*, sec. 3.1): ``beta`` grows linearly from ``start`` to ``end`` over
  ``warmup_steps`` steps and then stays at ``end``.
* :class:`CyclicalBeta`: the cyclical annealing schedule of Fu et al. 2019 (*Cyclical
  annealing schedule: a simple approach to mitigating KL vanishing*, eq. 6): the run is split
  into ``num_cycles`` cycles of ``T = total_steps / num_cycles`` steps; inside each cycle
  ``beta`` rises linearly over the first ``ratio * T`` steps and is held at ``end`` for the rest.
"""

from __future__ import annotations

import math
import numbers
from abc import ABC, abstractmethod
from typing import Any


def _check_real(value: object, name: str, *, minimum: float = 0.0) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__} {value!r}")
    result = float(value)
    if not math.isfinite(result) or result < minimum:
        raise ValueError(f"{name} must be finite and >= {minimum:g}, got {value!r}")
    return result


def _check_steps(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be an int >= 1, got {value!r}")
    return int(value)


class BetaSchedule(ABC):
    """Base class: ``schedule(step)`` is the KL weight used at optimizer step ``step`` (0-based).

    Schedules that depend on the length of the run (:class:`CyclicalBeta`) are told it by the
    trainer through :meth:`bind`; the others ignore it.
    """

    @abstractmethod
    def __call__(self, step: int) -> float:
        """The weight at ``step``."""

    def bind(self, total_steps: int) -> BetaSchedule:
        """Return the schedule to use for a run of ``total_steps`` optimizer steps."""
        return self

    def config(self) -> dict[str, Any]:
        """JSON-serialisable description, stored with checkpoints and metrics."""
        return {"type": type(self).__name__, **vars(self)}


class ConstantBeta(BetaSchedule):
    """``beta(step) = value``."""

    def __init__(self, value: float = 1.0) -> None:
        self.value = _check_real(value, "beta")

    def __call__(self, step: int) -> float:
        return self.value


class LinearWarmup(BetaSchedule):
    r"""Linear KL warm-up: ``beta(t) = start + (end - start) * min(1, t / warmup_steps)``.

    Parameters
    ----------
    warmup_steps : int
        Number of steps ``>= 1`` to go from ``start`` to ``end``.
    start, end : float
        Initial and final weight (``>= 0``); defaults ``0`` and ``1``.
    """

    def __init__(self, warmup_steps: int, start: float = 0.0, end: float = 1.0) -> None:
        self.warmup_steps = _check_steps(warmup_steps, "warmup_steps")
        self.start = _check_real(start, "start")
        self.end = _check_real(end, "end")

    def __call__(self, step: int) -> float:
        progress = min(1.0, max(step, 0) / self.warmup_steps)
        return self.start + (self.end - self.start) * progress


class CyclicalBeta(BetaSchedule):
    r"""Cyclical annealing (Fu et al. 2019, eq. 6).

    With cycle length :math:`T = \lceil \text{total\_steps} / M \rceil` for ``M = num_cycles``
    and position :math:`\tau = (t \bmod T) / T \in [0, 1)`,

    .. math::

        \beta(t) = \begin{cases}
            \text{start} + (\text{end} - \text{start})\, \tau / R & \tau < R \\
            \text{end} & \tau \ge R
        \end{cases}

    with ``R = ratio`` (Fu et al. use ``M = 4``, ``R = 0.5``).

    Parameters
    ----------
    num_cycles : int
        ``M >= 1``.
    ratio : float
        ``R`` in ``(0, 1]``: the fraction of each cycle spent increasing ``beta``.
    start, end : float
        Weight at the start of each cycle and the plateau; defaults ``0`` and ``1``.
    total_steps : int, optional
        Length of the run; the trainer fills it in (:meth:`bind`) when it is ``None``.
    """

    def __init__(
        self,
        num_cycles: int = 4,
        ratio: float = 0.5,
        start: float = 0.0,
        end: float = 1.0,
        total_steps: int | None = None,
    ) -> None:
        self.num_cycles = _check_steps(num_cycles, "num_cycles")
        self.ratio = _check_real(ratio, "ratio")
        if not 0.0 < self.ratio <= 1.0:
            raise ValueError(f"ratio must lie in (0, 1], got {ratio!r}")
        self.start = _check_real(start, "start")
        self.end = _check_real(end, "end")
        self.total_steps = None if total_steps is None else _check_steps(total_steps, "total_steps")

    def bind(self, total_steps: int) -> CyclicalBeta:
        if self.total_steps is not None:
            return self
        return CyclicalBeta(self.num_cycles, self.ratio, self.start, self.end, total_steps)

    def __call__(self, step: int) -> float:
        if self.total_steps is None:
            raise RuntimeError(
                "CyclicalBeta needs total_steps; pass it or let the trainer bind the schedule"
            )
        period = math.ceil(self.total_steps / self.num_cycles)
        position = (max(step, 0) % period) / period
        if position >= self.ratio:
            return self.end
        return self.start + (self.end - self.start) * position / self.ratio


def as_beta_schedule(beta: float | BetaSchedule | None) -> BetaSchedule | None:
    """``None`` stays ``None`` (the model's default ``beta``); a number becomes constant."""
    if beta is None or isinstance(beta, BetaSchedule):
        return beta
    if callable(beta):
        raise TypeError(
            "beta must be a number or a pyautoencoder.training.BetaSchedule (subclass it to "
            f"wrap a function), got {type(beta).__name__}"
        )
    return ConstantBeta(beta)
