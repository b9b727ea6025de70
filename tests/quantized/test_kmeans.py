"""k-means initialisation: Lloyd on the device equals a plain reference Lloyd in float64."""

from __future__ import annotations

import copy

import pytest
import torch

from pyautoencoder.quantized import VectorQuantizer
from pyautoencoder.quantized._kmeans import initial_centers, lloyd


def _reference_lloyd(
    points: list[list[float]], centers: list[list[float]], iters: int
) -> list[list[float]]:
    """Textbook Lloyd in Python floats (float64): assign to the nearest centre, move to means."""
    centers = [list(c) for c in centers]
    for _ in range(iters):
        clusters: list[list[list[float]]] = [[] for _ in centers]
        for p in points:
            distances = [sum((a - b) ** 2 for a, b in zip(p, c)) for c in centers]
            clusters[distances.index(min(distances))].append(p)
        for k, members in enumerate(clusters):
            if members:  # an empty cluster keeps its centre
                centers[k] = [sum(col) / len(members) for col in zip(*members)]
    return centers


def _toy_set() -> torch.Tensor:
    generator = torch.Generator().manual_seed(0)
    means = torch.tensor([[0.0, 0.0], [4.0, 0.0], [0.0, 4.0], [4.0, 4.0], [8.0, 2.0]])
    return (means[torch.arange(60) % 5] + torch.randn(60, 2, generator=generator)).double()


@pytest.mark.parametrize("iters", [1, 3, 10])
def test_lloyd_equals_the_reference(iters: int) -> None:
    x = _toy_set()
    start = x[[0, 1, 2, 3, 7, 11]]  # six centres (one cluster gets two)
    centers, counts = lloyd(x, start, iters)
    expected = torch.tensor(
        _reference_lloyd(x.tolist(), start.tolist(), iters), dtype=torch.float64
    )
    torch.testing.assert_close(centers, expected, rtol=1e-12, atol=1e-12)
    assert float(counts.sum()) == 60


def test_codebook_initialisation_equals_the_reference_from_the_same_start() -> None:
    x = _toy_set()
    vq = VectorQuantizer(6, 2, kmeans_init=True, kmeans_iters=5).double().train()
    torch.manual_seed(3)
    start = initial_centers(x, 6)  # the draw the quantizer makes with the same RNG state
    torch.manual_seed(3)
    vq._initialise_by_kmeans(x)
    expected = torch.tensor(_reference_lloyd(x.tolist(), start.tolist(), 5), dtype=torch.float64)
    torch.testing.assert_close(vq.codebook, expected, rtol=1e-12, atol=1e-12)
    assert bool(vq.initialized)
    # the EMA statistics start from the clusters: codebook = code sums / cluster sizes
    torch.testing.assert_close(vq.ema_code_sum / vq.ema_cluster_size.unsqueeze(1), expected)


def test_first_training_forward_runs_the_initialisation() -> None:
    x = _toy_set()
    vq = VectorQuantizer(6, 2, kmeans_init=True, kmeans_iters=5).double().train()
    reference = copy.deepcopy(vq)
    torch.manual_seed(3)
    vq(x)
    torch.manual_seed(3)
    reference._initialise_by_kmeans(x)
    reference(x, update=True)  # the EMA step that follows in the same forward
    torch.testing.assert_close(vq.codebook, reference.codebook)


def test_kmeans_runs_once_and_a_loaded_quantizer_is_not_reinitialised() -> None:
    x = _toy_set()
    vq = VectorQuantizer(6, 2, kmeans_init=True).double().train()
    vq(x)
    after_first = vq.codebook.clone()
    vq(x + 100.0, update=False)  # eval-like call: nothing happens
    assert torch.equal(vq.codebook, after_first)
    loaded = VectorQuantizer(6, 2, kmeans_init=True).double().train()
    loaded.load_state_dict(copy.deepcopy(vq.state_dict()))
    before = loaded.codebook.clone()
    loaded(x[:6], update=True)  # an EMA step, not a second k-means
    assert "initialized" in vq.state_dict()
    assert float((loaded.codebook - before).abs().max()) < 0.2
    fresh = VectorQuantizer(6, 2, kmeans_init=True).double().train()
    fresh(x[:6])
    assert not torch.allclose(fresh.codebook, before, atol=0.2)


def test_kmeans_fills_every_code_on_clustered_data() -> None:
    x = _toy_set()
    torch.manual_seed(0)
    vq = VectorQuantizer(5, 2, kmeans_init=True).double().train()
    out = vq(x)
    assert float(out.codes_used) == 1.0
