r"""``array_shards``: ``.npy`` shards larger than memory, streamed in shuffled blocks.

The shards are opened memory-mapped (``numpy.load(mmap_mode="r")``): only their headers are
read up front. An epoch is planned from ``(seed, epoch)`` alone:

1. every shard is cut into *blocks* of at most ``block_size`` consecutive rows;
2. the blocks are shuffled and grouped, in that order, into *buffers* of at most
   ``memory_budget`` bytes (rows as float32);
3. each buffer is read (one contiguous read per block), its rows are shuffled, and batches are
   gathered from it; rows left over at the end of a buffer (fewer than a batch) open the next
   buffer's first batch, so every batch but the last of the epoch is full.

So at most one buffer (plus one batch) is in memory at a time, whatever the size of the
shards, and the reads are large contiguous slices rather than random rows. The order is
*block-shuffled*: rows of one block stay in the same buffer, which decorrelates batches well
when ``memory_budget`` holds many blocks.
"""

from __future__ import annotations

import glob
import math
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from .._validation import check_positive_int
from ._idx import DataFormatError

_EPOCH_SEED_STRIDE = 1_000_003
#: Default shuffle-buffer size: 256 MiB of float32 rows.
DEFAULT_MEMORY_BUDGET = 256 * 2**20
#: Default rows per contiguous read.
DEFAULT_BLOCK_SIZE = 4096


@dataclass(frozen=True)
class _Shard:
    path: Path
    num_rows: int
    offset: int  # index of the shard's first row in the concatenation
    row_start: int = 0  # first row of the file that belongs to the set (see ArrayShards.head)


def _numpy() -> Any:
    import numpy as np

    return np


def _resolve_paths(paths: str | os.PathLike[str] | Sequence[str | os.PathLike[str]]) -> list[Path]:
    if isinstance(paths, (str, os.PathLike)):
        pattern = os.fspath(paths)
        found = sorted(glob.glob(os.path.expanduser(pattern)))
        if not found:
            raise FileNotFoundError(f"no .npy shard matches {pattern!r}")
        return [Path(p) for p in found]
    resolved = [Path(os.fspath(p)).expanduser() for p in paths]
    if not resolved:
        raise ValueError("paths must name at least one .npy shard, got an empty sequence")
    return resolved


def _open_shard(path: Path) -> Any:
    """The shard as a read-only memory map; any reading problem names the shard."""
    np = _numpy()
    if not path.is_file():
        raise FileNotFoundError(f"shard not found: {path}")
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as error:
        raise DataFormatError(
            f"shard {path} is not a readable .npy array of numbers ({' '.join(str(error).split())})"
        ) from error
    if not isinstance(array, np.ndarray):
        raise DataFormatError(f"shard {path} holds an archive, not one .npy array")
    return array


class ArrayShards:
    """Examples stored as ``.npy`` shards ``[N_i, ...]``, streamed without loading them whole.

    Build it with :func:`array_shards`. Every shard must hold examples of the same shape and
    dtype (a numeric dtype: float, signed or unsigned int; batches come out as float32);
    :func:`array_shards` checks each shard's header and names the first one that differs.

    ``fit(model, shards)`` trains on it directly (it provides :meth:`batch_source`); the command
    line reads it with ``--data shards:<glob>``.

    Attributes
    ----------
    paths : list of Path
        The shards, in order.
    num_examples : int
        ``N = sum_i N_i``.
    example_shape : tuple of int
        The shape of one example.
    block_size : int
        Rows per contiguous read.
    memory_budget : int
        Bytes of float32 rows held at once (the shuffle buffer).
    """

    def __init__(
        self,
        shards: Sequence[_Shard],
        example_shape: tuple[int, ...],
        dtype: Any,
        *,
        block_size: int,
        memory_budget: int,
    ) -> None:
        self._shards = tuple(shards)
        self.paths = [shard.path for shard in self._shards]
        self.example_shape = example_shape
        self.dtype = dtype
        self.num_examples = sum(shard.num_rows for shard in self._shards)
        self.block_size = block_size
        self.memory_budget = memory_budget
        self._row_bytes = 4 * max(1, math.prod(example_shape))
        self._buffer_rows = memory_budget // self._row_bytes
        if self._buffer_rows < 1:
            raise ValueError(
                f"memory_budget={memory_budget} bytes cannot hold one example of shape "
                f"{example_shape} ({self._row_bytes} bytes as float32)"
            )

    # ------------------------------------------------------------------ sizes
    @property
    def shape(self) -> tuple[int, ...]:
        """``(N, *example_shape)``, as for a tensor holding every example."""
        return (self.num_examples, *self.example_shape)

    def __len__(self) -> int:
        return self.num_examples

    def __repr__(self) -> str:
        return (
            f"ArrayShards({len(self.paths)} shards, shape={self.shape}, dtype={self.dtype}, "
            f"block_size={self.block_size}, memory_budget={self.memory_budget})"
        )

    def batches_per_epoch(self, batch_size: int, *, drop_last: bool = False) -> int:
        """Batches of :meth:`batches` per epoch (one process)."""
        batch_size = check_positive_int(batch_size, "batch_size")
        if drop_last:
            return self.num_examples // batch_size
        return math.ceil(self.num_examples / batch_size)

    # ------------------------------------------------------------------ reading
    def read(self, start: int, stop: int) -> torch.Tensor:
        """Rows ``start:stop`` of the concatenated shards as float32 ``[stop - start, ...]``."""
        np = _numpy()
        if not 0 <= start <= stop <= self.num_examples:
            raise ValueError(
                f"read(start, stop) needs 0 <= start <= stop <= {self.num_examples}, got "
                f"({start}, {stop})"
            )
        pieces = []
        for shard in self._shards:
            low, high = max(start, shard.offset), min(stop, shard.offset + shard.num_rows)
            if low < high:
                pieces.append(self._read_rows(shard, low - shard.offset, high - shard.offset))
        if not pieces:
            return torch.empty(0, *self.example_shape)
        return torch.from_numpy(np.concatenate(pieces) if len(pieces) > 1 else pieces[0])

    def head(self, num_examples: int) -> ArrayShards:
        """The first ``num_examples`` examples as shards of their own (nothing is read)."""
        num_examples = check_positive_int(num_examples, "num_examples")
        if num_examples > self.num_examples:
            raise ValueError(
                f"num_examples must be <= {self.num_examples} (the examples in the shards), "
                f"got {num_examples}"
            )
        kept = []
        for shard in self._shards:
            rows = min(shard.num_rows, num_examples - shard.offset)
            if rows <= 0:
                break
            kept.append(_Shard(shard.path, rows, shard.offset, shard.row_start))
        return ArrayShards(
            kept,
            self.example_shape,
            self.dtype,
            block_size=self.block_size,
            memory_budget=self.memory_budget,
        )

    def holdout(self, num_examples: int) -> tuple[ArrayShards, torch.Tensor]:
        """Split off the last ``num_examples`` examples, read into memory as float32.

        Returns ``(training shards, held-out tensor [num_examples, ...])``; the training part
        is :meth:`head` of the rest and is still streamed.
        """
        num_examples = check_positive_int(num_examples, "num_examples")
        if num_examples >= self.num_examples:
            raise ValueError(
                f"cannot hold out {num_examples} of {self.num_examples} examples: nothing "
                "would be left to train on"
            )
        rest = self.num_examples - num_examples
        return self.head(rest), self.read(rest, self.num_examples)

    def _read_rows(self, shard: _Shard, start: int, stop: int) -> Any:
        """One contiguous read of a shard as a float32 numpy array (a copy, never the map)."""
        np = _numpy()
        array = _open_shard(shard.path)
        first = shard.row_start + start
        return np.array(array[first : first + stop - start], dtype=np.float32, copy=True)

    def _plan(self, seed: int, epoch: int, shuffle: bool) -> list[list[tuple[_Shard, int, int]]]:
        """The buffers of an epoch, each a list of blocks ``(shard, start, stop)``."""
        block_rows = min(self.block_size, self._buffer_rows)
        blocks = [
            (shard, start, min(start + block_rows, shard.num_rows))
            for shard in self._shards
            for start in range(0, shard.num_rows, block_rows)
        ]
        if shuffle:
            generator = torch.Generator().manual_seed(_epoch_seed(seed, epoch))
            order = torch.randperm(len(blocks), generator=generator).tolist()
            blocks = [blocks[i] for i in order]
        buffers: list[list[tuple[_Shard, int, int]]] = [[]]
        rows = 0
        for block in blocks:
            size = block[2] - block[1]
            if rows + size > self._buffer_rows and buffers[-1]:
                buffers.append([])
                rows = 0
            buffers[-1].append(block)
            rows += size
        return buffers

    def batches(
        self,
        batch_size: int,
        *,
        shuffle: bool = True,
        seed: int = 0,
        epoch: int = 0,
        drop_last: bool = False,
        start_batch: int = 0,
    ) -> Iterator[torch.Tensor]:
        """The float32 batches ``[b, ...]`` of one epoch (order from ``(seed, epoch)``).

        Every example appears exactly once per epoch; batches hold ``batch_size`` examples
        except maybe the last (dropped with ``drop_last``). ``start_batch`` skips the first
        batches (a resumed run); the skipped buffers are still read.
        """
        batch_size = check_positive_int(batch_size, "batch_size")
        generator = torch.Generator().manual_seed(_epoch_seed(seed, epoch) + 1)
        carry = torch.empty(0, *self.example_shape)
        index = 0
        maps: dict[Path, Any] = {}  # each shard opened once per epoch (memory maps, no copy)
        for buffer in self._plan(seed, epoch, shuffle):
            loaded = self._load_buffer(buffer, maps)  # [R, ...], the only large allocation
            size = carry.shape[0] + loaded.shape[0]
            # Row r < len(carry) is carry[r]; the others are loaded[r - len(carry)].
            order = (
                torch.randperm(loaded.shape[0], generator=generator)
                if shuffle
                else torch.arange(loaded.shape[0])
            )
            full = size // batch_size * batch_size
            for begin in range(0, full, batch_size):
                if index >= start_batch:
                    yield self._gather(carry, loaded, order, begin, begin + batch_size)
                index += 1
            carry = self._gather(carry, loaded, order, full, size)
            del loaded
        if carry.shape[0] and not drop_last and index >= start_batch:
            yield carry

    def _load_buffer(
        self, buffer: list[tuple[_Shard, int, int]], maps: dict[Path, Any]
    ) -> torch.Tensor:
        """The blocks of a buffer read into one float32 array (no intermediate copies)."""
        np = _numpy()
        total = sum(stop - start for _, start, stop in buffer)
        out = np.empty((total, *self.example_shape), dtype=np.float32)
        position = 0
        for shard, start, stop in buffer:
            if shard.path not in maps:
                maps[shard.path] = _open_shard(shard.path)
            first = shard.row_start + start
            out[position : position + stop - start] = maps[shard.path][first : first + stop - start]
            position += stop - start
        return torch.from_numpy(out)

    @staticmethod
    def _gather(
        carry: torch.Tensor, loaded: torch.Tensor, order: torch.Tensor, begin: int, end: int
    ) -> torch.Tensor:
        """Rows ``begin:end`` of ``carry`` followed by ``loaded[order]`` (a new tensor)."""
        num_carry = carry.shape[0]
        parts = []
        if begin < num_carry:
            parts.append(carry[begin : min(end, num_carry)])
        if end > num_carry:
            indices = order[max(begin - num_carry, 0) : end - num_carry]
            parts.append(loaded.index_select(0, indices))
        return torch.cat(parts) if len(parts) > 1 else parts[0].clone()

    def batch_source(
        self,
        batch_size: int,
        *,
        shuffle: bool,
        seed: int,
        drop_last: bool,
        rank: int = 0,
        world_size: int = 1,
        device: torch.device | str = "cpu",
    ) -> ShardBatches:
        """What :func:`pyautoencoder.training.fit` trains on: batches moved to ``device``."""
        return ShardBatches(
            self,
            batch_size,
            shuffle=shuffle,
            seed=seed,
            drop_last=drop_last,
            rank=rank,
            world_size=world_size,
            device=torch.device(device),
        )


class ShardBatches:
    """The batches of :class:`ArrayShards` for one training process (a trainer batch source).

    With several processes, rank ``r`` takes the batches ``i`` with ``i % world_size == r`` of
    the common epoch order, trimmed so that all ranks run the same number of steps (every rank
    reads every buffer; the shards are read ``world_size`` times in all).
    """

    def __init__(
        self,
        shards: ArrayShards,
        batch_size: int,
        *,
        shuffle: bool,
        seed: int,
        drop_last: bool,
        rank: int,
        world_size: int,
        device: torch.device,
    ) -> None:
        self.shards = shards
        self.batch_size = check_positive_int(batch_size, "batch_size")
        self.shuffle, self.seed, self.drop_last = shuffle, seed, drop_last
        self.rank, self.world_size, self.device = rank, world_size, device
        self.num_examples: int | None = shards.num_examples

    def batches_per_epoch(self) -> int | None:
        """Batches this process runs per epoch."""
        total = self.shards.batches_per_epoch(self.batch_size, drop_last=self.drop_last)
        return total // self.world_size

    def epoch(self, epoch: int, start_batch: int = 0) -> Iterator[tuple[torch.Tensor, ...]]:
        """This rank's batches of ``epoch`` as 1-tuples on the device, from ``start_batch``."""
        per_rank = self.batches_per_epoch() or 0
        stream = self.shards.batches(
            self.batch_size,
            shuffle=self.shuffle,
            seed=self.seed,
            epoch=epoch,
            drop_last=self.drop_last,
            start_batch=start_batch * self.world_size,
        )
        for offset, batch in enumerate(stream):
            step = start_batch + offset // self.world_size
            if step >= per_rank:
                return
            if offset % self.world_size == self.rank:
                yield (batch.to(self.device, non_blocking=True),)


def _epoch_seed(seed: int, epoch: int) -> int:
    return (seed * _EPOCH_SEED_STRIDE + epoch) % (2**62)


def array_shards(
    paths: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    *,
    block_size: int = DEFAULT_BLOCK_SIZE,
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
) -> ArrayShards:
    """Open ``.npy`` shards for streaming (headers only; nothing is loaded yet).

    Parameters
    ----------
    paths : str, path or sequence of them
        A glob pattern (``"acts/*.npy"``, matches sorted by name) or the shard paths in order.
        Each shard holds an array ``[N_i, ...]`` saved with ``numpy.save``.
    block_size : int
        Rows per contiguous read (default 4096).
    memory_budget : int
        Bytes of float32 examples held at once (default 256 MiB); shards may be far larger.

    Returns
    -------
    ArrayShards

    Raises
    ------
    FileNotFoundError
        When the pattern matches nothing or a shard is missing.
    DataFormatError
        Naming the first shard that is not a numeric ``.npy`` array ``[N, ...]`` with ``N >= 1``,
        or whose example shape or dtype differs from the first shard's.
    """
    np = _numpy()
    block_size = check_positive_int(block_size, "block_size")
    memory_budget = check_positive_int(memory_budget, "memory_budget")
    shards: list[_Shard] = []
    example_shape: tuple[int, ...] | None = None
    dtype: Any = None
    offset = 0
    for path in _resolve_paths(paths):
        array = _open_shard(path)
        if array.dtype.kind not in "fiu":
            raise DataFormatError(
                f"shard {path} holds dtype {array.dtype}; expected a numeric array (float or int)"
            )
        if array.ndim < 2 or array.shape[0] < 1:
            raise DataFormatError(
                f"shard {path} must hold examples [N, ...] with N >= 1, got shape {array.shape}"
            )
        if example_shape is None:
            example_shape, dtype = tuple(int(s) for s in array.shape[1:]), array.dtype
        elif tuple(array.shape[1:]) != example_shape or array.dtype != dtype:
            raise DataFormatError(
                f"shard {path} holds examples of shape {tuple(array.shape[1:])} and dtype "
                f"{array.dtype}; the first shard ({shards[0].path}) has {example_shape} and "
                f"{dtype}"
            )
        shards.append(_Shard(path=path, num_rows=int(array.shape[0]), offset=offset))
        offset += int(array.shape[0])
        del array
    if example_shape is None:  # unreachable: _resolve_paths returns at least one path
        raise ValueError("paths must name at least one .npy shard")
    return ArrayShards(
        shards, example_shape, np.dtype(dtype), block_size=block_size, memory_budget=memory_budget
    )
