"""``LossResult``: what every ``compute_loss`` returns."""

from __future__ import annotations

import dataclasses

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
