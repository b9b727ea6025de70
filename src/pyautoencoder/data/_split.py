"""``DatasetSplit``: the training and held-out tensors of a data set."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class DatasetSplit:
    """Training and held-out examples with their labels.

    Attributes
    ----------
    train_x, test_x : torch.Tensor
        Float32 examples in ``[0, 1]``, ``[N_train, ...]`` and ``[N_test, ...]``.
    train_y, test_y : torch.Tensor
        Int64 labels ``[N_train]`` and ``[N_test]`` (class indices), or ``[N, K]`` factor
        indices for ground-truth-factor data sets.
    """

    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor

    def __post_init__(self) -> None:
        for x_name, y_name in (("train_x", "train_y"), ("test_x", "test_y")):
            x, y = getattr(self, x_name), getattr(self, y_name)
            if x.shape[0] != y.shape[0]:
                raise ValueError(
                    f"{x_name} and {y_name} must hold the same number of examples, got "
                    f"{x.shape[0]} and {y.shape[0]}"
                )


def holdout_every_fifth(x: torch.Tensor, y: torch.Tensor) -> DatasetSplit:
    """The "MNIST-10k" convention: examples with ``index % 5 == 0`` are held out."""
    held_out = torch.arange(x.shape[0]) % 5 == 0
    return DatasetSplit(
        train_x=x[~held_out], train_y=y[~held_out], test_x=x[held_out], test_y=y[held_out]
    )
