"""superposition: feature statistics, the embedding and argument checks."""

from __future__ import annotations

import pytest
import torch

from pyautoencoder.data import superposition


def test_examples_are_the_sparse_features_through_the_true_dictionary() -> None:
    data = superposition(40, 10, 0.9, num_examples=500, seed=1)
    assert data.train_x.shape == (400, 10) and data.test_x.shape == (100, 10)
    assert data.dictionary.shape == (10, 40)
    torch.testing.assert_close(data.dictionary.norm(dim=0), torch.ones(40))
    torch.testing.assert_close(data.train_x, data.train_features @ data.dictionary.T)
    torch.testing.assert_close(data.test_x, data.test_features @ data.dictionary.T)


def test_features_are_zero_with_probability_sparsity_else_uniform() -> None:
    data = superposition(50, 8, 0.8, num_examples=4000, seed=2)
    features = torch.cat([data.train_features, data.test_features])
    active = features > 0
    # 200,000 Bernoulli(0.2) draws: standard error 0.0009
    assert float(active.float().mean()) == pytest.approx(0.2, abs=0.005)
    values = features[active]
    assert float(values.min()) >= 0 and float(values.max()) <= 1
    assert float(values.mean()) == pytest.approx(0.5, abs=0.01)  # U[0, 1], se 0.0014


def test_the_same_seed_gives_the_same_data_and_noise_is_added() -> None:
    first = superposition(20, 5, 0.5, num_examples=50, seed=3)
    second = superposition(20, 5, 0.5, num_examples=50, seed=3)
    torch.testing.assert_close(first.train_x, second.train_x)
    noisy = superposition(20, 5, 0.5, num_examples=50, seed=3, noise_std=0.1)
    residual = noisy.train_x - noisy.train_features @ noisy.dictionary.T
    assert 0.05 < float(residual.std()) < 0.15


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"sparsity": 1.0}, r"sparsity must lie in \[0, 1\)"),
        ({"sparsity": -0.1}, "sparsity"),
        ({"num_features": 0}, "num_features"),
        ({"dim": 2.5}, "dim"),
        ({"test_fraction": 0.0}, "test_fraction"),
        ({"noise_std": -1.0}, "noise_std"),
        ({"num_examples": 1}, "leaves an empty"),
    ],
)
def test_bad_arguments_are_named(kwargs: dict[str, object], message: str) -> None:
    arguments = {"num_features": 10, "dim": 4, "sparsity": 0.5, **kwargs}
    with pytest.raises((TypeError, ValueError), match=message):
        superposition(**arguments)  # type: ignore[arg-type]
