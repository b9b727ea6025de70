"""Where training batches come from: in-memory tensors (fast path) or a ``DataLoader``.

Every source yields batches as tuples of tensors on the training device and can start an
epoch at any batch, so that a resumed run sees exactly the batches an uninterrupted run would
have seen. The order of epoch ``e`` depends only on ``(seed, e)``.

* :class:`InMemoryBatches`: the tensors are moved to the device once; each epoch applies one
  permutation (a single gather per tensor) and then yields contiguous slices (views), so a
  step costs no copy, no worker process and no collation. With several processes each rank
  takes every ``world_size``-th example of the same permutation, trimmed so that all ranks
  run the same number of steps.
* :class:`LoaderBatches`: any other data goes through a ``DataLoader`` (one is built for a
  ``Dataset``, with a generator reseeded at every epoch); batches are moved by Fabric.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol

import torch
from torch.utils.data import DataLoader, Dataset, TensorDataset

Batch = tuple[torch.Tensor, ...]

_EPOCH_SEED_STRIDE = 1_000_003


def epoch_seed(seed: int, epoch: int) -> int:
    """Seed of the shuffling generator of ``epoch`` (independent of every other RNG)."""
    return (seed * _EPOCH_SEED_STRIDE + epoch) % (2**63 - 1)


def as_batch(value: object) -> Batch:
    """A tensor or a sequence of tensors as a tuple of tensors."""
    if isinstance(value, torch.Tensor):
        return (value,)
    if isinstance(value, (tuple, list)) and all(isinstance(v, torch.Tensor) for v in value):
        return tuple(value)
    raise TypeError(
        "a batch must be a tensor or a tuple/list of tensors (x first), got "
        f"{type(value).__name__}; pass batch_fn= to unpack other structures"
    )


class BatchSource(Protocol):
    """What the trainer needs from its data."""

    num_examples: int | None

    def batches_per_epoch(self) -> int | None:
        """Batches this process runs per epoch (``None`` when unknown)."""

    def epoch(self, epoch: int, start_batch: int = 0) -> Iterator[Batch]:
        """The batches of ``epoch``, skipping the first ``start_batch``."""


class InMemoryBatches:
    """Index-sliced batches of tensors that live on the training device.

    Parameters
    ----------
    tensors : sequence of torch.Tensor
        Each ``[N, ...]`` with the same ``N`` (e.g. images and labels).
    batch_size : int
        Examples per batch and process.
    shuffle : bool
        A new permutation every epoch (from ``seed`` and the epoch number).
    seed : int
        Seed of the permutations.
    drop_last : bool
        Drop the last incomplete batch (keeps shapes static for ``torch.compile``).
    rank, world_size : int
        This process and the number of processes; each takes its shard of every epoch.
    even_shards : bool
        Trim the epoch so that every rank gets the same number of examples (needed for
        training, where each step synchronises gradients); validation keeps every example.
    """

    def __init__(
        self,
        tensors: Sequence[torch.Tensor],
        batch_size: int,
        *,
        shuffle: bool = True,
        seed: int = 0,
        drop_last: bool = False,
        rank: int = 0,
        world_size: int = 1,
        even_shards: bool = True,
    ) -> None:
        if not tensors:
            raise ValueError("tensors must hold at least one tensor")
        sizes = {int(t.shape[0]) if t.dim() else -1 for t in tensors}
        if len(sizes) != 1 or -1 in sizes:
            shapes = [tuple(t.shape) for t in tensors]
            raise ValueError(f"all tensors must share their first dimension N, got {shapes}")
        self.tensors = tuple(tensors)
        self._n = sizes.pop()
        self.num_examples: int | None = self._n
        if self._n == 0:
            raise ValueError("the training data is empty (N = 0)")
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.drop_last = drop_last
        self.rank = rank
        self.world_size = world_size
        self._usable = self._n // world_size * world_size if even_shards else self._n
        self._shard_size = len(range(rank, self._usable, world_size))
        if self._shard_size == 0 and even_shards:
            raise ValueError(f"{self._n} example(s) cannot be split over {world_size} processes")

    def batches_per_epoch(self) -> int | None:
        if self.drop_last:
            return self._shard_size // self.batch_size
        return math.ceil(self._shard_size / self.batch_size)

    def _epoch_indices(self, epoch: int) -> torch.Tensor | None:
        """Indices of this rank's examples for ``epoch`` (``None``: all, in order)."""
        if not self.shuffle and self.world_size == 1:
            return None
        if self.shuffle:
            generator = torch.Generator().manual_seed(epoch_seed(self.seed, epoch))
            order = torch.randperm(self._n, generator=generator)
        else:
            order = torch.arange(self._n)
        return order[: self._usable][self.rank :: self.world_size]

    def epoch(self, epoch: int, start_batch: int = 0) -> Iterator[Batch]:
        indices = self._epoch_indices(epoch)
        if indices is None:
            data = self.tensors
        else:
            device_indices = indices.to(self.tensors[0].device)
            data = tuple(t.index_select(0, device_indices.to(t.device)) for t in self.tensors)
        total = self.batches_per_epoch() or 0
        for index in range(start_batch, total):
            start = index * self.batch_size
            yield tuple(t[start : start + self.batch_size] for t in data)


class LoaderBatches:
    """Batches from a ``DataLoader`` (built here for a ``Dataset``), moved to the device.

    For a ``Dataset`` the loader's shuffling generator is reseeded at every epoch, so the order
    of an epoch is reproducible and a resumed run skips exactly the batches already seen. A
    user's own ``DataLoader`` is used as given (its sampler's ``set_epoch`` is called when it
    has one); its order is reproducible only if the loader's is.
    """

    def __init__(
        self,
        loader: DataLoader[Any],
        setup: Callable[[DataLoader[Any]], Any],
        generator: torch.Generator | None,
        seed: int,
    ) -> None:
        self._generator = generator
        self._seed = seed
        self._loader = setup(loader)
        self._sampler = getattr(loader, "sampler", None)
        try:
            self.num_examples: int | None = len(loader.dataset)  # type: ignore[arg-type]
        except TypeError:
            self.num_examples = None

    def batches_per_epoch(self) -> int | None:
        try:
            return len(self._loader)
        except TypeError:
            return None

    def epoch(self, epoch: int, start_batch: int = 0) -> Iterator[Batch]:
        if self._generator is not None:
            self._generator.manual_seed(epoch_seed(self._seed, epoch))
        sampler = getattr(self._loader, "sampler", self._sampler)
        set_epoch = getattr(sampler, "set_epoch", None)
        if callable(set_epoch):
            set_epoch(epoch)
        for index, batch in enumerate(self._loader):
            if index >= start_batch:
                yield as_batch(batch)


def in_memory_tensors(data: object) -> tuple[torch.Tensor, ...] | None:
    """The tensors of in-memory data, or ``None`` when the data needs a ``DataLoader``.

    In memory: a tensor, a tuple/list of tensors with a common first dimension, a
    ``TensorDataset``, or an object with a ``tensors`` attribute (``pyautoencoder.data``'s
    ``TensorBatches``).
    """
    if isinstance(data, torch.Tensor):
        return (data,)
    if isinstance(data, (tuple, list)) and data and all(isinstance(t, torch.Tensor) for t in data):
        return tuple(data)
    if isinstance(data, TensorDataset):
        return tuple(data.tensors)
    tensors = getattr(data, "tensors", None)
    if (
        not isinstance(data, (DataLoader, Dataset))
        and isinstance(tensors, (tuple, list))
        and tensors
        and all(isinstance(t, torch.Tensor) for t in tensors)
    ):
        return tuple(tensors)
    return None


def make_loader(
    data: object, batch_size: int, *, shuffle: bool, drop_last: bool, num_workers: int
) -> tuple[DataLoader[Any], torch.Generator | None]:
    """Wrap ``data`` in a ``DataLoader`` unless it is one; return it and its generator."""
    if isinstance(data, DataLoader):
        return data, None
    if not isinstance(data, Dataset) and not hasattr(data, "__getitem__"):
        raise TypeError(
            "data must be a tensor, a tuple of tensors, a TensorDataset, a Dataset or a "
            f"DataLoader, got {type(data).__name__}"
        )
    generator = torch.Generator() if shuffle else None
    loader: DataLoader[Any] = DataLoader(
        data,  # type: ignore[arg-type]
        batch_size=batch_size,
        shuffle=shuffle,
        drop_last=drop_last,
        num_workers=num_workers,
        generator=generator,
    )
    return loader, generator
