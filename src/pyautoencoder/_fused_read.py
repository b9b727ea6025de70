"""The fast test behind fused value checks: every recorded check of a call in one host read.

A value check recorded in a :class:`~pyautoencoder._validation.ValueCheckScope` is an *item*
``(kind, tensor, low, high)``:

* ``"finite"``: every element of ``tensor`` is finite. Tested on ``tensor.sum()`` (a 0-dim
  tensor is its own witness): a finite sum proves every element finite; an overflowing sum is
  inconclusive. Integer tensors are finite and are skipped.
* ``"range"``: every element lies in ``[low, high]`` (NaN is left to ``"finite"``). Tested on the
  minimum and maximum, one ``aminmax`` pass. (An ``aminmax`` over the bit patterns read as
  integers is ~2.5x faster in a loop of its own for ``low >= 0``, but inside a training step its
  three extra views cost more than it saves: ~97 against ~109 us for the whole test, AMD EPYC,
  2026-12-04.)
* ``"scalar"``: a 0-dim tensor is finite and lies in ``[low, high]``.

Each test turns into one or two 0-dim numbers with their bounds. The numbers are stacked (per
device: one tensor, cast to float64 only when dtypes differ) and read with one ``tolist()``;
the bounds are compared on the host, where a number passes when it is finite and within its
bounds (so an infinite bound stands for the largest finite value and NaN fails). A failure
means "inconclusive": the caller then runs the exact per-argument tests, which name the
argument. The fast test may fail where the exact tests pass (an overflowing sum), never the
other way round.

**Why so few operations.** In a training step the test runs right after large matrix
products, when every small operation is several times slower than in a loop of its own (on
CPU, one thread, a ``stack`` + ``tolist`` of two numbers takes ~6 us in a loop and ~30 us after a
``[100, 784] x [784, 500]`` product): its cost is the number of operations, not their size.
The checked step of a Bernoulli VAE is three: ``aminmax`` over ``x``, ``stack`` of three numbers
(the objective, which is non-finite wherever a term is, ``min x``, ``max x``) and ``tolist``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

Item = tuple[str, torch.Tensor, float, float]  # (kind, tensor, low, high)


def fast_test_fails(items: Sequence[Item], vouched: Sequence[torch.Tensor]) -> bool:
    """One fused test of every recorded item (one host read per device); ``True`` if inconclusive.

    ``vouched`` are tensors another item vouches for (see
    :func:`~pyautoencoder._validation.vouch_finite`): their own ``"finite"`` items are skipped,
    as are those of tensors tested against an interval with finite ends (the interval test
    proves them finite). Plain loops, no generator per item: this runs inside every checked
    training step.
    """
    proven = set(map(id, vouched))
    for kind, tensor, low, high in items:
        if kind == "range" and math.isfinite(low + high):
            proven.add(id(tensor))
    numbers: list[torch.Tensor] = []  # 0-dim, detached
    lows: list[float] = []
    highs: list[float] = []
    for kind, tensor, low, high in items:
        if kind == "finite" and (
            id(tensor) in proven or tensor.numel() == 0 or not tensor.is_floating_point()
        ):
            continue
        if tensor.requires_grad:  # the test records no graph
            tensor = tensor.detach()
        if kind == "finite":
            numbers.append(tensor if tensor.dim() == 0 else distinct_elements(tensor).sum())
            lows.append(-math.inf)
            highs.append(math.inf)
        elif kind == "range":
            if tensor.numel() == 0:
                continue
            smallest, largest = torch.aminmax(distinct_elements(tensor))
            numbers += (smallest, largest)
            lows += (low, -math.inf)
            highs += (math.inf, high)
        else:  # "scalar"
            numbers.append(tensor.reshape(()))
            lows.append(low)
            highs.append(high)
    if not numbers:
        return False
    for value, low, high in zip(_read(numbers), lows, highs, strict=True):
        if not (math.isfinite(value) and low <= value <= high):
            return True
    return False


def _read(numbers: list[torch.Tensor]) -> list[float]:
    """The values of 0-dim tensors, in order: one ``tolist`` per device."""
    first = numbers[0]
    dtype, device = first.dtype, first.device
    uniform = True
    for number in numbers:
        if number.dtype != dtype or number.device != device:
            uniform = False
            break
    if uniform:
        values: list[float] = torch.stack(numbers).tolist()
        return values
    by_device: dict[torch.device, list[int]] = {}
    for index, number in enumerate(numbers):
        by_device.setdefault(number.device, []).append(index)
    values = [0.0] * len(numbers)
    for indices in by_device.values():
        # float64 holds every float dtype exactly and integers up to 2**53
        stacked = torch.stack([numbers[i].to(torch.float64) for i in indices])
        for index, value in zip(indices, stacked.tolist(), strict=True):
            values[index] = float(value)
    return values


def distinct_elements(tensor: torch.Tensor) -> torch.Tensor:
    """``tensor`` without the repeats of an expanded view (stride 0): the same values once.

    ``x.unsqueeze(1).expand(B, K, ...)`` (``x`` against ``K`` samples) is tested on ``[B, 1,
    ...]``: ``K`` times fewer elements, the same finiteness, minimum and maximum.
    """
    strides = tensor.stride()
    if 0 not in strides:
        return tensor
    index = tuple(slice(0, 1) if stride == 0 else slice(None) for stride in strides)
    return tensor[index]
