"""TensorBatches: index-sliced in-memory batches."""

from __future__ import annotations

import pytest
import torch

from pyautoencoder.data import TensorBatches


def test_batches_in_order_are_views_of_the_tensors() -> None:
    x, y = torch.arange(20.0).reshape(10, 2), torch.arange(10)
    batches = TensorBatches(x, y, batch_size=4)
    got = list(batches)
    assert len(batches) == 3 and [b[0].shape[0] for b in got] == [4, 4, 2]
    torch.testing.assert_close(torch.cat([b[1] for b in got]), y)
    assert got[1][0].data_ptr() == x[4].data_ptr()  # a slice, not a copy


def test_drop_last_drops_the_short_batch() -> None:
    batches = TensorBatches(torch.zeros(10, 3), batch_size=4, drop_last=True)
    assert len(batches) == 2 and all(b[0].shape == (4, 3) for b in batches)


def test_shuffle_is_a_permutation_that_keeps_tensors_aligned() -> None:
    x = torch.arange(30.0).reshape(15, 2)
    y = torch.arange(15)
    batches = TensorBatches(x, y, batch_size=4, shuffle=True, generator=torch.Generator())
    xs, ys = zip(*batches)
    order = torch.cat(ys)
    assert sorted(order.tolist()) == list(range(15)) and not torch.equal(order, y)
    torch.testing.assert_close(torch.cat(xs), x[order])


def test_same_generator_seed_gives_the_same_epochs() -> None:
    def epochs(seed: int) -> list[torch.Tensor]:
        generator = torch.Generator().manual_seed(seed)
        batches = TensorBatches(torch.arange(12), batch_size=5, shuffle=True, generator=generator)
        return [torch.cat([b[0] for b in batches]) for _ in range(3)]

    first, again = epochs(0), epochs(0)
    assert all(torch.equal(a, b) for a, b in zip(first, again))
    assert not torch.equal(first[0], first[1])  # a new order every epoch


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "message"),
    [
        ((), {"batch_size": 2}, ValueError, "needs at least one tensor"),
        ((torch.zeros(3), torch.zeros(4)), {"batch_size": 2}, ValueError, r"\[3, 4\]"),
        ((torch.zeros(3),), {"batch_size": 0}, ValueError, "batch_size must be a positive int"),
        ((torch.tensor(1.0),), {"batch_size": 1}, ValueError, r"tensors\[0\] must be a tensor"),
        ((torch.zeros(3),), {"batch_size": 1, "generator": 0}, TypeError, "torch.Generator"),
    ],
)
def test_bad_arguments_are_explained(
    args: tuple[torch.Tensor, ...], kwargs: dict[str, object], error: type, message: str
) -> None:
    with pytest.raises(error, match=message):
        TensorBatches(*args, **kwargs)  # type: ignore[arg-type]


def test_training_recognises_tensor_batches_as_in_memory_data() -> None:
    from pyautoencoder.training._batches import in_memory_tensors

    x = torch.zeros(4, 2)
    assert in_memory_tensors(TensorBatches(x, batch_size=2)) == (x,)
