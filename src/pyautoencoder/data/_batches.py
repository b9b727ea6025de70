"""``TensorBatches``: in-memory mini-batches by index slicing, without a ``DataLoader``."""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch


class TensorBatches:
    """Mini-batches of in-memory tensors, sliced on the tensors' own device.

    Each epoch (each ``iter()``) draws one permutation (with ``shuffle=True``), gathers every
    tensor once with it, and yields contiguous slices of the gathered tensors: no collation,
    no worker processes, no per-example indexing. Without shuffling the slices are views of
    the tensors themselves.

    Parameters
    ----------
    *tensors : torch.Tensor
        Each ``[N, ...]`` with the same ``N`` and on the same device (images, labels, ...).
    batch_size : int
        Examples per batch.
    shuffle : bool
        A new permutation every epoch.
    generator : torch.Generator, optional
        CPU generator of the permutations; the same seed gives the same sequence of epochs.
        ``None`` uses the global RNG.
    drop_last : bool
        Drop the last, smaller batch (keeps shapes static for ``torch.compile``).

    Yields
    ------
    tuple of torch.Tensor
        One slice ``[b, ...]`` per tensor (``b = batch_size`` except maybe the last batch).

    Examples
    --------
    >>> x, y = torch.rand(10, 3), torch.arange(10)
    >>> batches = TensorBatches(x, y, batch_size=4)
    >>> len(batches), [tuple(b[0].shape) for b in batches]
    (3, [(4, 3), (4, 3), (2, 3)])
    """

    def __init__(
        self,
        *tensors: torch.Tensor,
        batch_size: int,
        shuffle: bool = False,
        generator: torch.Generator | None = None,
        drop_last: bool = False,
    ) -> None:
        if not tensors:
            raise ValueError("TensorBatches needs at least one tensor")
        for index, tensor in enumerate(tensors):
            if not isinstance(tensor, torch.Tensor) or tensor.dim() == 0:
                got = tuple(tensor.shape) if isinstance(tensor, torch.Tensor) else type(tensor)
                raise ValueError(f"tensors[{index}] must be a tensor [N, ...], got {got}")
        sizes = [int(tensor.shape[0]) for tensor in tensors]
        if len(set(sizes)) != 1:
            raise ValueError(f"all tensors must share their first dimension N, got {sizes}")
        devices = {tensor.device for tensor in tensors}
        if len(devices) != 1:
            raise ValueError(f"all tensors must be on one device, got {sorted(map(str, devices))}")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        if generator is not None and not isinstance(generator, torch.Generator):
            raise TypeError(f"generator must be a torch.Generator, got {type(generator).__name__}")
        self.tensors = tuple(tensors)
        self.num_examples = sizes[0]
        self.batch_size = batch_size
        self.shuffle = bool(shuffle)
        self.generator = generator
        self.drop_last = bool(drop_last)

    def __len__(self) -> int:
        """Batches per epoch."""
        if self.drop_last:
            return self.num_examples // self.batch_size
        return math.ceil(self.num_examples / self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, ...]]:
        data = self.tensors
        if self.shuffle:
            order = torch.randperm(self.num_examples, generator=self.generator)
            order = order.to(data[0].device)
            data = tuple(tensor.index_select(0, order) for tensor in data)
        for index in range(len(self)):
            start = index * self.batch_size
            yield tuple(tensor[start : start + self.batch_size] for tensor in data)
