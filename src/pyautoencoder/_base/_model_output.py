"""``ModelOutput``: the base of every model's output dataclass."""

from __future__ import annotations

import dataclasses
from typing import Any

import torch


def _describe(value: Any) -> str:
    """Show a tensor by shape and dtype only, anything else with ``repr``."""
    if isinstance(value, torch.Tensor):
        return f"Tensor(shape={tuple(value.shape)}, dtype={value.dtype})"
    return repr(value)


@dataclasses.dataclass(slots=True)
class ModelOutput:
    """Base class for the dataclasses that group a model's tensors.

    Subclass it with ``@dataclass(slots=True, repr=False)`` to inherit a short ``repr`` that
    shows tensors as ``Tensor(shape=(B, D), dtype=torch.float32)`` instead of their values::

        @dataclass(slots=True, repr=False)
        class MyOutput(ModelOutput):
            x_hat: torch.Tensor
            z: torch.Tensor

    Instances are ordinary mutable dataclasses. ``ModelOutput`` has no fields and is not an ABC.
    """

    def __repr__(self) -> str:
        parts = ", ".join(
            f"{field.name}={_describe(getattr(self, field.name))}"
            for field in dataclasses.fields(self)
        )
        return f"{type(self).__name__}({parts})"
