"""Sparse-code metrics against direct computations on small tensors."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from pyautoencoder.data import array_shards
from pyautoencoder.dictionary import TopKSAE
from pyautoencoder.evaluation import (
    feature_density,
    feature_density_histogram,
    fraction_of_variance_unexplained,
    l0_norm,
    mean_max_cosine_similarity,
    sparse_code_metrics,
)


def test_l0_counts_non_zeros_per_example() -> None:
    z = torch.tensor([[0.0, 1.0, -2.0], [0.0, 0.0, 0.0], [3.0, 1e-30, 0.0]])
    assert float(l0_norm(z)) == pytest.approx((2 + 0 + 2) / 3)


def test_fvu_is_one_minus_r_squared() -> None:
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(50, 4, generator=generator, dtype=torch.float64)
    x_hat = x + 0.3 * torch.randn(50, 4, generator=generator, dtype=torch.float64)
    numerator = sum(float(((x[n] - x_hat[n]) ** 2).sum()) for n in range(50))
    mean = x.mean(0)
    denominator = sum(float(((x[n] - mean) ** 2).sum()) for n in range(50))
    assert float(fraction_of_variance_unexplained(x, x_hat)) == pytest.approx(
        numerator / denominator, rel=1e-12
    )
    assert float(fraction_of_variance_unexplained(x, x.mean(0).expand_as(x))) == pytest.approx(1)


def test_feature_density_is_the_share_of_examples_per_latent() -> None:
    z = torch.tensor([[1.0, 0.0, 0.0], [2.0, 0.0, 5.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]])
    torch.testing.assert_close(feature_density(z), torch.tensor([0.75, 0.0, 0.5]).double())


def test_density_histogram_bins_log10_densities_and_counts_dead_apart() -> None:
    density = torch.tensor([0.0, 10**-2.9, 10**-1.5, 10**-1.2, 10**-0.5, 1.0, 0.0])
    histogram = feature_density_histogram(density, bins=3, low=-3.0)
    torch.testing.assert_close(histogram.edges, torch.tensor([-3.0, -2.0, -1.0, 0.0]).double())
    assert histogram.counts.tolist() == [1, 2, 2]  # [-3,-2), [-2,-1), [-1,0]
    assert histogram.num_dead == 2
    assert int(histogram.counts.sum()) + histogram.num_dead == density.numel()
    default = feature_density_histogram(density, bins=3)
    assert float(default.edges[0]) == pytest.approx(-2.9)


def test_mmcs_is_one_for_a_permuted_scaled_copy_and_matches_a_loop() -> None:
    generator = torch.Generator().manual_seed(1)
    true = torch.randn(6, 5, generator=generator)
    learned = torch.cat([true[:, [3, 0, 4, 1, 2]] * 2.5, torch.randn(6, 3, generator=generator)], 1)
    assert float(mean_max_cosine_similarity(learned, true)) == pytest.approx(1.0, abs=1e-12)
    other = torch.randn(6, 4, generator=generator)
    expected = 0.0
    for j in range(5):
        g = true[:, j].double()
        best = max(
            float(torch.dot(g, other[:, i].double()) / (g.norm() * other[:, i].double().norm()))
            for i in range(4)
        )
        expected += best / 5
    assert float(mean_max_cosine_similarity(other, true)) == pytest.approx(expected, rel=1e-12)


def test_mmcs_needs_the_same_number_of_rows() -> None:
    with pytest.raises(ValueError, match="same number of rows D, got 3 and 4"):
        mean_max_cosine_similarity(torch.randn(3, 5), torch.randn(4, 5))


def test_sparse_code_metrics_agree_with_one_batch_computations(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = TopKSAE(5, 12, k=2)
    x = torch.randn(70, 5)
    with torch.no_grad():
        output = model.eval()(x)
    metrics = sparse_code_metrics(model, x, batch_size=16)
    assert metrics.num_examples == 70
    assert metrics.l0 == pytest.approx(float(l0_norm(output.z)))
    assert metrics.fvu == pytest.approx(float(fraction_of_variance_unexplained(x, output.x_hat)))
    assert metrics.mse == pytest.approx(float(((x - output.x_hat) ** 2).sum(1).mean()), rel=1e-6)
    torch.testing.assert_close(metrics.feature_density, feature_density(output.z))
    dead = feature_density(output.z) == 0
    assert metrics.dead_fraction == pytest.approx(float(dead.double().mean()))
    # the same through .npy shards
    np.save(tmp_path / "a.npy", x[:30].numpy())
    np.save(tmp_path / "b.npy", x[30:].numpy())
    from_shards = sparse_code_metrics(model, array_shards(str(tmp_path / "*.npy")), batch_size=16)
    assert from_shards.fvu == pytest.approx(metrics.fvu, rel=1e-9)
    assert not math.isnan(from_shards.l0)


def test_dead_latents_are_counted_over_a_window_of_examples() -> None:
    model = TopKSAE(2, 4, k=1)
    with torch.no_grad():
        model.W_enc.copy_(torch.eye(4, 2) * 10)  # type: ignore[union-attr]
        model.W_dec.copy_(torch.eye(2, 4))
    # the first 10 examples only use latent 0; the next 10 latent 1
    x = torch.cat(
        [torch.tensor([[1.0, 0.0]]).repeat(10, 1), torch.tensor([[0.0, 1.0]]).repeat(10, 1)]
    )
    in_window = sparse_code_metrics(model, x, window=10, batch_size=4)
    assert in_window.num_examples == 10
    assert in_window.dead_latents.tolist() == [False, True, True, True]
    everything = sparse_code_metrics(model, x, batch_size=4)
    assert everything.dead_latents.tolist() == [False, False, True, True]
    assert everything.dead_fraction == 0.5


def test_metrics_leave_the_model_in_its_mode() -> None:
    model = TopKSAE(3, 6, k=2)
    model.train()
    sparse_code_metrics(model, torch.randn(8, 3))
    assert model.training
    assert int(model.dead_latents.examples_since_active.sum()) == 0  # eval: no state update
