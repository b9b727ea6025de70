"""The machine's limit for a training step: its matrix-multiply work timed on its own.

:func:`capture_flop_ops` records every FLOP-counted ATen call of one step (``mm``, ``addmm``,
``convolution``, ``convolution_backward`` ... : the ops ``torch.utils.flop_counter`` counts)
with the shapes, strides and dtypes of its tensor arguments. :class:`FlopOpReplay` calls the
same ops on fresh tensors of the same layout, nothing else, so its time per pass is what the
step would take if everything but its matrix multiplies were free: the step's FLOPs over the
matmul throughput this machine reaches for exactly those shapes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_map
from torch.utils.flop_counter import FlopCounterMode, flop_registry


@dataclass(frozen=True)
class _TensorMeta:
    shape: tuple[int, ...]
    stride: tuple[int, ...]
    dtype: torch.dtype


class _Recorder(TorchDispatchMode):
    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[Any, Any, Any]] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        kwargs = kwargs or {}
        if func.overloadpacket in flop_registry:

            def meta(value: Any) -> Any:
                if isinstance(value, torch.Tensor):
                    return _TensorMeta(tuple(value.shape), tuple(value.stride()), value.dtype)
                return value

            self.calls.append((func, tree_map(meta, args), tree_map(meta, kwargs)))
        return func(*args, **kwargs)


def capture_flop_ops(step: Callable[[], None]) -> list[tuple[Any, Any, Any]]:
    """The FLOP-counted ATen calls of one ``step()`` with their arguments' metadata."""
    recorder = _Recorder()
    with recorder:
        step()
    return recorder.calls


def count_flops(step: Callable[[], None]) -> int:
    """Total FLOPs of one ``step()`` as counted by ``FlopCounterMode``."""
    counter = FlopCounterMode(display=False)
    with counter:
        step()
    return int(counter.get_total_flops())


class FlopOpReplay:
    """The recorded matmul/conv calls on fresh random tensors with the same layout."""

    def __init__(self, calls: list[tuple[Any, Any, Any]]) -> None:
        def build(value: Any) -> Any:
            if isinstance(value, _TensorMeta):
                base = torch.empty_strided(value.shape, value.stride, dtype=value.dtype)
                return base.normal_() if value.dtype.is_floating_point else base.zero_()
            return value

        self.calls = [(func, tree_map(build, a), tree_map(build, k)) for func, a, k in calls]

    def run(self) -> None:
        """One pass: every recorded call once."""
        for func, args, kwargs in self.calls:
            func(*args, **kwargs)

    def seconds_per_pass(self, passes: int) -> float:
        with torch.no_grad():
            self.run()
            start = time.perf_counter()
            for _ in range(passes):
                self.run()
            return (time.perf_counter() - start) / passes

    def flops(self) -> int:
        counter = FlopCounterMode(display=False)
        with counter, torch.no_grad():
            self.run()
        return int(counter.get_total_flops())
