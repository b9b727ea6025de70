"""``LossResult``: what every ``compute_loss`` returns."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import torch


@dataclasses.dataclass
class LossResult:
    """The objective to minimise and named diagnostics.

    Attributes
    ----------
    objective : torch.Tensor
        0-dim tensor that keeps its autograd graph; call ``objective.backward()``.
    diagnostics : dict[str, torch.Tensor]
        Detached 0-dim tensors on the objective's device (never Python floats, so reading them
        is the caller's choice of when to synchronise).
    """

    objective: torch.Tensor
    diagnostics: dict[str, torch.Tensor] = dataclasses.field(default_factory=dict)


class DeferredLossResult(LossResult):
    """A :class:`LossResult` whose diagnostics are computed when first read.

    A training loop that reads only ``objective`` then runs none of the diagnostics' tensor
    operations. Inside a training step on CPU a small operation whose code the step's matrix
    products have evicted from the caches costs 10-20 us instead of 1-2 us in a loop
    (``docs/benchmarks.md``), so the four diagnostics of an ELBO cost a VAE step on a small
    network about half a percent. The
    first read of ``diagnostics`` calls ``compute()`` once and keeps the plain ``dict`` it
    returns; every later read returns that same ``dict``. ``compute`` must only read tensors
    that stay unchanged after the step (detached activations, not parameters), so the values do
    not depend on when they are read. Copies and pickles are plain :class:`LossResult` objects.
    """

    def __init__(
        self,
        objective: torch.Tensor,
        diagnostics: dict[str, torch.Tensor] | None = None,
        *,
        compute: Callable[[], dict[str, torch.Tensor]] | None = None,
    ) -> None:
        if (diagnostics is None) == (compute is None):
            raise TypeError("DeferredLossResult takes exactly one of diagnostics and compute")
        self.objective = objective
        self._diagnostics = diagnostics
        self._compute = compute

    @property
    def diagnostics(self) -> dict[str, torch.Tensor]:
        """The diagnostics, computed on the first read."""
        if self._diagnostics is None:
            compute, self._compute = self._compute, None
            assert compute is not None  # set whenever the dict is not
            self._diagnostics = compute()
        return self._diagnostics

    @diagnostics.setter
    def diagnostics(self, value: dict[str, torch.Tensor]) -> None:
        self._diagnostics, self._compute = value, None

    def __reduce__(self) -> tuple[Any, ...]:
        return (LossResult, (self.objective, self.diagnostics))
