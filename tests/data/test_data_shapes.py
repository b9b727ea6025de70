"""The procedural Shapes data set: factor indexing, rendering, pairs, protocol."""

from __future__ import annotations

import math

import pytest
import torch

from pyautoencoder.data import Shapes, shapes
from pyautoencoder.evaluation._ground_truth import check_ground_truth_data


@pytest.fixture(scope="module")
def data() -> Shapes:
    return shapes(num_scales=2, num_orientations=4, num_x=3, num_y=3, image_size=32)


def _reference_pixel(
    shape: int, scale: float, angle: float, cx: float, cy: float, px: float, py: float
) -> bool:
    """Pixel test written independently with scalar math (the documented formulas)."""
    dx, dy = px - cx, py - cy
    r = 0.3 * scale
    u = (math.cos(angle) * dx + math.sin(angle) * dy) / r
    v = (-math.sin(angle) * dx + math.cos(angle) * dy) / r
    if shape == 0:
        return max(abs(u), abs(v)) <= 1
    if shape == 1:
        return u * u + (v / 0.5) ** 2 <= 1
    a, b = 1.2 * u, 1.2 * v + 0.15
    return (a * a + b * b - 1) ** 3 - a * a * b**3 <= 0


def test_rendering_matches_a_scalar_reference() -> None:
    size = 16
    data = shapes(num_scales=2, num_orientations=5, num_x=2, num_y=3, image_size=size)
    factors = data.sample_factors(6, torch.Generator().manual_seed(0))
    images = data.images_from_factors(factors)
    for image, f in zip(images, factors.tolist()):
        scale = [0.5, 1.0][f[1]]
        angle = 2 * math.pi * f[2] / 5
        cx, cy = [-0.55, 0.55][f[3]], [-0.55, 0.0, 0.55][f[4]]
        expected = torch.tensor(
            [
                [
                    _reference_pixel(
                        f[0], scale, angle, cx, cy, (2 * j + 1) / size - 1, 1 - (2 * i + 1) / size
                    )
                    for j in range(size)
                ]
                for i in range(size)
            ],
            dtype=torch.float32,
        )
        # Pixels exactly on an edge may round either way in float32: allow one or two.
        assert (image[0] != expected).sum() <= 2


def test_length_and_indexing_follow_the_factor_grid(data: Shapes) -> None:
    assert data.factor_sizes == (3, 2, 4, 3, 3) and len(data) == 216
    indices = torch.arange(len(data))
    factors = data.index_to_factors(indices)
    torch.testing.assert_close(data.factors_to_index(factors), indices)
    assert factors[1].tolist() == [0, 0, 0, 0, 1]  # the last factor varies fastest
    torch.testing.assert_close(data[37], data.images_from_factors(factors[37:38])[0])
    torch.testing.assert_close(data[-1], data[len(data) - 1])
    with pytest.raises(IndexError):
        data[216]


def test_images_are_binary_and_non_empty(data: Shapes) -> None:
    images = data.images_from_factors(data.index_to_factors(torch.arange(len(data))))
    assert images.shape == (216, 1, 32, 32) and images.dtype == torch.float32
    assert set(images.unique().tolist()) == {0.0, 1.0}
    assert (images.sum(dim=(1, 2, 3)) > 5).all()
    assert images[:, :, [0, -1], :].sum() == 0 and images[:, :, :, [0, -1]].sum() == 0  # inside


def test_each_factor_changes_the_image_as_named(data: Shapes) -> None:
    base = torch.tensor([[1, 0, 1, 1, 1]])

    def image(**changes: int) -> torch.Tensor:
        factors = base.clone()
        for name, value in changes.items():
            factors[0, data.factor_names.index(name)] = value
        return data.images_from_factors(factors)[0, 0]

    coords = torch.arange(32.0)
    centre_x = lambda img: float((img.sum(0) * coords).sum() / img.sum())  # noqa: E731
    centre_row = lambda img: float((img.sum(1) * coords).sum() / img.sum())  # noqa: E731
    assert image(scale=1).sum() > image(scale=0).sum()
    assert not torch.equal(image(shape=0), image(shape=2))
    assert not torch.equal(image(orientation=0), image(orientation=1))
    assert centre_x(image(pos_x=2)) > centre_x(image(pos_x=0))  # x to the right
    assert centre_row(image(pos_y=2)) < centre_row(image(pos_y=0))  # y upwards


def test_a_grid_too_large_for_memory_is_rendered_on_demand() -> None:
    # 3 * 3 * 8 * 1000 * 1000 = 72 million 64 x 64 images (1.2 TB as float32): nothing is
    # stored, construction is instant and an image is rendered only when asked for.
    huge = shapes(num_x=1000, num_y=1000)
    assert len(huge) == 72_000_000
    last = huge[-1]
    assert last.shape == (1, 64, 64) and last.sum() > 0
    factors = huge.sample_factors(3, torch.Generator().manual_seed(0))
    torch.testing.assert_close(
        huge.images_from_factors(factors)[1], huge[int(huge.factors_to_index(factors)[1])]
    )


def test_sample_factors_is_uniform_in_range_and_seeded(data: Shapes) -> None:
    factors = data.sample_factors(3000, torch.Generator().manual_seed(1))
    assert factors.dtype == torch.int64 and factors.shape == (3000, 5)
    for column, size in enumerate(data.factor_sizes):
        counts = torch.bincount(factors[:, column], minlength=size)
        assert counts.numel() == size
        # Each count is Binomial(3000, 1/size): within 5 standard deviations.
        std = math.sqrt(3000 * (1 / size) * (1 - 1 / size))
        assert (counts - 3000 / size).abs().max() < 5 * std
    again = data.sample_factors(3000, torch.Generator().manual_seed(1))
    torch.testing.assert_close(factors, again)


@pytest.mark.parametrize("k", [1, 2, 5])
def test_pairs_differ_in_exactly_k_factors(data: Shapes, k: int) -> None:
    first, second, shared = data.sample_pair_factors(500, k, torch.Generator().manual_seed(2))
    torch.testing.assert_close(shared, first == second)
    assert ((~shared).sum(dim=1) == k).all()


def test_random_k_covers_one_to_k_minus_one(data: Shapes) -> None:
    _, _, shared = data.sample_pair_factors(2000, None, torch.Generator().manual_seed(3))
    counts = (~shared).sum(dim=1)
    assert set(counts.unique().tolist()) == {1, 2, 3, 4}


def test_factors_with_one_value_never_change() -> None:
    data = shapes(num_scales=1, num_orientations=1, num_x=2, num_y=2, image_size=16)
    _, _, shared = data.sample_pair_factors(200, 2, torch.Generator().manual_seed(0))
    assert shared[:, 1].all() and shared[:, 2].all()
    with pytest.raises(ValueError, match=r"k must be an int in \[1, 3\]"):
        data.sample_pair_factors(2, 4)


def test_sample_pairs_renders_both_images(data: Shapes) -> None:
    generator = torch.Generator().manual_seed(4)
    x1, x2, shared = data.sample_pairs(8, k=1, generator=generator)
    first, second, same = data.sample_pair_factors(8, 1, torch.Generator().manual_seed(4))
    torch.testing.assert_close(x1, data.images_from_factors(first))
    torch.testing.assert_close(x2, data.images_from_factors(second))
    torch.testing.assert_close(shared, same)


def test_sample_pairs_feed_an_adagvae_directly(data: Shapes) -> None:
    from torch import nn

    from pyautoencoder.variational import VAE, AdaGVAE

    torch.manual_seed(0)
    encoder = nn.Sequential(nn.Flatten(), nn.LazyLinear(16), nn.Tanh())
    decoder = nn.Sequential(nn.Linear(4, 32 * 32), nn.Unflatten(1, (1, 32, 32)))
    model = AdaGVAE(VAE(encoder, decoder, 4, likelihood="bernoulli"), k=1)
    x1, x2, _ = data.sample_pairs(6, k=1, generator=torch.Generator().manual_seed(2))
    model.build(x1)
    output = model((x1, x2), S=2)
    assert output.output1.x_hat.shape == output.output2.x_hat.shape == (6, 2, 1, 32, 32)
    result = model.compute_loss((x1, x2), output)
    result.objective.backward()
    assert torch.isfinite(result.objective)
    assert all(p.grad is not None for p in model.parameters())


def test_split_holds_every_fifth_example_out(data: Shapes) -> None:
    split = data.split()
    assert split.test_x.shape[0] == 44 and split.train_x.shape[0] == 172
    factors = data.index_to_factors(torch.arange(len(data)))
    torch.testing.assert_close(split.test_y, factors[::5, 0])  # the shape as class label
    torch.testing.assert_close(split.test_x, data.images_from_factors(factors[::5]))
    torch.testing.assert_close(data.split(labels="factors").test_y, factors[::5])
    torch.testing.assert_close(data.test_x, split.test_x)
    torch.testing.assert_close(data.train_y, split.train_y)
    with pytest.raises(ValueError, match="labels must be 'shape' or 'factors'"):
        data.split(labels="scale")


def test_shapes_is_a_ground_truth_data_source(data: Shapes) -> None:
    assert check_ground_truth_data(data) == [3, 2, 4, 3, 3]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda d: d.images_from_factors(torch.zeros(2, 4, dtype=torch.long)), r"\[n, 5\]"),
        (lambda d: d.images_from_factors(torch.full((1, 5), 3)), r"lie in \[0, size - 1\]"),
        (lambda d: d.images_from_factors(torch.zeros(1, 5)), "integer indices"),
        (lambda d: d.sample_factors(0), "n must be a positive int"),
        (lambda d: shapes(num_x=0), "num_x must be a positive int"),
    ],
)
def test_bad_arguments_are_explained(data: Shapes, call: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call(data)  # type: ignore[operator]
