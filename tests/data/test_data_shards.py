"""array_shards: streamed shuffled blocks, every example once per epoch, bounded memory."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import torch

from pyautoencoder.data import ArrayShards, DataFormatError, array_shards


def write_shards(folder: Path, sizes: list[int], dim: int = 3, dtype: str = "float32") -> None:
    """Shards whose rows hold their global index in column 0 (so order can be checked)."""
    start = 0
    for number, size in enumerate(sizes):
        rows = np.zeros((size, dim), dtype=dtype)
        rows[:, 0] = np.arange(start, start + size)
        rows[:, 1:] = 0.5
        np.save(folder / f"shard-{number:03d}.npy", rows)
        start += size


def ids(batches: list[torch.Tensor]) -> list[int]:
    return [int(v) for batch in batches for v in batch[:, 0].tolist()]


def test_an_epoch_yields_every_example_once_in_full_batches(tmp_path: Path) -> None:
    write_shards(tmp_path, [37, 50, 13])
    shards = array_shards(str(tmp_path / "*.npy"), block_size=8, memory_budget=40 * 12)
    assert shards.shape == (100, 3) and len(shards) == 100
    batches = list(shards.batches(16, seed=3, epoch=0))
    assert [b.shape[0] for b in batches] == [16] * 6 + [4]
    assert all(b.dtype == torch.float32 for b in batches)
    assert sorted(ids(batches)) == list(range(100))
    assert ids(batches) != list(range(100))  # shuffled
    assert shards.batches_per_epoch(16) == 7
    dropped = list(shards.batches(16, seed=3, epoch=0, drop_last=True))
    assert len(dropped) == shards.batches_per_epoch(16, drop_last=True) == 6


def test_order_depends_only_on_seed_and_epoch(tmp_path: Path) -> None:
    write_shards(tmp_path, [30, 30])
    shards = array_shards(str(tmp_path / "*.npy"), block_size=4, memory_budget=20 * 12)
    first = ids(list(shards.batches(8, seed=1, epoch=2)))
    assert first == ids(list(shards.batches(8, seed=1, epoch=2)))
    assert first != ids(list(shards.batches(8, seed=1, epoch=3)))
    skipped = ids(list(shards.batches(8, seed=1, epoch=2, start_batch=3)))
    assert skipped == first[24:]


def test_without_shuffle_the_rows_come_in_file_order(tmp_path: Path) -> None:
    write_shards(tmp_path, [5, 7])
    shards = array_shards([tmp_path / "shard-000.npy", tmp_path / "shard-001.npy"])
    assert ids(list(shards.batches(4, shuffle=False))) == list(range(12))
    torch.testing.assert_close(shards.read(3, 9)[:, 0], torch.arange(3.0, 9.0))


def test_a_shard_larger_than_the_memory_budget_streams_within_the_budget(tmp_path: Path) -> None:
    dim = 64
    budget = 128 * 1024  # bytes: 512 float32 rows of 64 features
    sizes = [8000, 300]  # the first shard is ~2 MB, 15x the budget
    write_shards(tmp_path, sizes, dim=dim)
    assert (tmp_path / "shard-000.npy").stat().st_size > 10 * budget
    shards = array_shards(str(tmp_path / "*.npy"), block_size=64, memory_budget=budget)
    tracemalloc.start()
    try:
        seen = 0
        for batch in shards.batches(32, seed=0):
            seen += batch.shape[0]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert seen == sum(sizes)
    # The buffer itself plus a fixed overhead (numpy parsing .npy headers, Python objects):
    # independent of the shard, which is 15x larger than the budget.
    overhead = 64 * 1024
    assert peak < budget + overhead, f"peak allocation {peak} bytes for a budget of {budget}"


def test_integer_shards_come_out_as_float32(tmp_path: Path) -> None:
    np.save(tmp_path / "a.npy", np.arange(12, dtype=np.uint8).reshape(6, 2))
    batch = next(array_shards(str(tmp_path / "a.npy")).batches(6, shuffle=False))
    assert batch.dtype == torch.float32
    torch.testing.assert_close(batch, torch.arange(12.0).reshape(6, 2))


def test_a_shard_of_another_shape_is_named(tmp_path: Path) -> None:
    write_shards(tmp_path, [5, 5])
    np.save(tmp_path / "shard-002.npy", np.zeros((4, 2), dtype=np.float32))
    with pytest.raises(DataFormatError, match=r"shard-002\.npy holds examples of shape \(2,\)"):
        array_shards(str(tmp_path / "*.npy"))


def test_a_shard_of_another_dtype_is_named(tmp_path: Path) -> None:
    write_shards(tmp_path, [5])
    np.save(tmp_path / "shard-001.npy", np.zeros((4, 3), dtype=np.float64))
    with pytest.raises(DataFormatError, match=r"shard-001\.npy .*dtype float64"):
        array_shards(str(tmp_path / "*.npy"))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"this is not an array", "not a readable .npy array"),
        (None, r"must hold examples \[N, \.\.\.\]"),
    ],
)
def test_a_bad_shard_file_is_named(tmp_path: Path, content: bytes | None, message: str) -> None:
    write_shards(tmp_path, [5])
    bad = tmp_path / "shard-001.npy"
    if content is None:
        np.save(bad, np.zeros(5, dtype=np.float32))  # 1-D: no example dimension
    else:
        bad.write_bytes(content)
    with pytest.raises(DataFormatError, match=f"shard-001.npy.*{message}|{message}.*"):
        array_shards(str(tmp_path / "*.npy"))


def test_object_and_string_shards_are_refused(tmp_path: Path) -> None:
    np.save(tmp_path / "s.npy", np.array([["a", "b"]]))
    with pytest.raises(DataFormatError, match=r"s\.npy holds dtype <U1"):
        array_shards(str(tmp_path / "s.npy"))


def test_a_pattern_without_matches_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"no \.npy shard matches"):
        array_shards(str(tmp_path / "*.npy"))
    with pytest.raises(FileNotFoundError, match="shard not found"):
        array_shards([tmp_path / "missing.npy"])


def test_a_budget_below_one_example_is_refused(tmp_path: Path) -> None:
    write_shards(tmp_path, [5], dim=100)
    with pytest.raises(ValueError, match="memory_budget=100 bytes cannot hold one example"):
        array_shards(str(tmp_path / "*.npy"), memory_budget=100)


def test_ranks_split_the_batches_of_one_epoch(tmp_path: Path) -> None:
    write_shards(tmp_path, [45])
    shards = array_shards(str(tmp_path / "*.npy"), block_size=8)
    assert isinstance(shards, ArrayShards)
    per_rank = []
    for rank in range(2):
        source = shards.batch_source(
            10, shuffle=True, seed=0, drop_last=False, rank=rank, world_size=2
        )
        batches = [b[0] for b in source.epoch(0)]
        assert len(batches) == source.batches_per_epoch() == 2
        per_rank.append(ids(batches))
    assert not set(per_rank[0]) & set(per_rank[1])
    everything = ids(list(shards.batches(10, seed=0)))
    assert per_rank[0] == everything[0:10] + everything[20:30]  # batches 0 and 2
    assert per_rank[1] == everything[10:20] + everything[30:40]  # batches 1 and 3


@pytest.mark.slow
def test_fit_trains_on_shards(tmp_path: Path) -> None:
    pytest.importorskip("lightning")
    from pyautoencoder.dictionary import TopKSAE
    from pyautoencoder.training import fit

    write_shards(tmp_path, [40, 24], dim=6)
    shards = array_shards(str(tmp_path / "*.npy"), block_size=8, memory_budget=16 * 24)
    torch.manual_seed(0)
    result = fit(TopKSAE(6, 8, k=2), shards, epochs=2, batch_size=16, out_dir=None)
    assert result.steps == 8
    assert np.isfinite(result.train_metrics["loss"])


def test_holdout_splits_off_the_last_examples_without_overlap(tmp_path: Path) -> None:
    write_shards(tmp_path, [10, 10, 5])
    shards = array_shards(str(tmp_path / "*.npy"), block_size=3)
    train, held_out = shards.holdout(8)
    assert len(train) == 17 and held_out.shape == (8, 3)
    torch.testing.assert_close(held_out[:, 0], torch.arange(17.0, 25.0))
    assert sorted(ids(list(train.batches(4, seed=2)))) == list(range(17))
    torch.testing.assert_close(train.read(12, 17)[:, 0], torch.arange(12.0, 17.0))
    with pytest.raises(ValueError, match="nothing would be left"):
        shards.holdout(25)
