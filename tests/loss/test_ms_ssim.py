"""MS-SSIM against a direct float64 implementation of Wang et al. (2003) written here."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from pyautoencoder.loss import MS_SSIM_WEIGHTS, MSSSIM, minimum_image_size, ms_ssim


def _reference(a: np.ndarray, b: np.ndarray, weights, size, sigma, data_range=1.0) -> float:
    """MS-SSIM of two 2-D images: explicit windows at every valid position, 2x2 block means."""
    offsets = np.arange(size) - (size - 1) / 2
    g = np.exp(-(offsets**2) / (2 * sigma**2))
    window = np.outer(g, g)
    window /= window.sum()
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    result = 1.0
    for scale, beta in enumerate(weights):
        if scale:
            h, w = a.shape[0] // 2 * 2, a.shape[1] // 2 * 2
            a = a[:h, :w].reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3))
            b = b[:h, :w].reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3))
        lum, cs = [], []
        for i in range(a.shape[0] - size + 1):
            for j in range(a.shape[1] - size + 1):
                pa, pb = a[i : i + size, j : j + size], b[i : i + size, j : j + size]
                ma, mb = (window * pa).sum(), (window * pb).sum()
                va = (window * (pa - ma) ** 2).sum()
                vb = (window * (pb - mb) ** 2).sum()
                cov = (window * (pa - ma) * (pb - mb)).sum()
                lum.append((2 * ma * mb + c1) / (ma**2 + mb**2 + c1))
                cs.append((2 * cov + c2) / (va + vb + c2))
        result *= np.mean(cs) ** beta
    return result * np.mean(lum) ** weights[-1]


def _pair(seed: int, shape=(2, 2, 20, 21)) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    x = torch.rand(shape, generator=generator, dtype=torch.float64)
    noise = 0.1 * torch.randn(shape, generator=generator, dtype=torch.float64)
    return (x + noise).clamp(0, 1), x


def test_ms_ssim_matches_the_direct_formula_in_float64() -> None:
    x_hat, x = _pair(0)
    weights = (0.2, 0.3, 0.5)
    got = ms_ssim(x_hat, x, weights=weights, window_size=5, sigma=1.5)
    expected = [
        np.mean(
            [_reference(x_hat[b, c].numpy(), x[b, c].numpy(), weights, 5, 1.5) for c in range(2)]
        )
        for b in range(2)
    ]
    torch.testing.assert_close(got, torch.tensor(expected, dtype=torch.float64))


def test_one_scale_is_ssim_of_the_direct_formula_with_data_range() -> None:
    x_hat, x = _pair(1, shape=(1, 1, 9, 9))
    got = ms_ssim(255 * x_hat, 255 * x, data_range=255.0, weights=(1.0,), window_size=7)
    expected = _reference(x_hat[0, 0].numpy(), x[0, 0].numpy(), (1.0,), 7, 1.5)
    torch.testing.assert_close(got, torch.tensor([expected], dtype=torch.float64))


def test_identical_images_score_one_and_the_loss_is_zero() -> None:
    x = torch.rand(2, 3, 16, 16)
    torch.testing.assert_close(ms_ssim(x, x, weights=(0.5, 0.5), window_size=7), torch.ones(2))
    assert MSSSIM(weights=(0.5, 0.5), window_size=7)(x, x).item() == 0.0


def test_paper_defaults_accept_176_pixel_images_and_name_the_minimum_otherwise() -> None:
    assert minimum_image_size(len(MS_SSIM_WEIGHTS)) == 176
    with pytest.raises(ValueError, match="at least 176x176 pixels for 5 MS-SSIM scales"):
        ms_ssim(torch.rand(1, 1, 64, 64), torch.rand(1, 1, 64, 64))


@pytest.mark.parametrize(
    ("x_hat", "x", "message"),
    [
        (torch.rand(1, 1, 32, 32), torch.rand(1, 1, 32, 31), "x_hat must have the shape of x"),
        (torch.rand(1, 32, 32), torch.rand(1, 32, 32), r"x must be images of shape \[B, C, H, W\]"),
    ],
)
def test_wrong_shapes_are_refused(x_hat: torch.Tensor, x: torch.Tensor, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ms_ssim(x_hat, x, weights=(1.0,), window_size=7)


def test_bad_options_are_refused() -> None:
    x = torch.rand(1, 1, 16, 16)
    with pytest.raises(ValueError, match="window_size must be an odd"):
        ms_ssim(x, x, weights=(1.0,), window_size=4)
    with pytest.raises(ValueError, match="weights must be one or more non-negative"):
        MSSSIM(weights=(0.5, -0.1))
    with pytest.raises(TypeError, match="x_hat must have a floating-point dtype"):
        ms_ssim(x.long(), x, weights=(1.0,), window_size=7)


def test_gradcheck_in_float64() -> None:
    x_hat, x = _pair(2, shape=(1, 1, 12, 12))
    x_hat.requires_grad_(True)
    assert torch.autograd.gradcheck(
        lambda a: ms_ssim(a, x, weights=(0.6, 0.4), window_size=5), (x_hat,)
    )


@settings(max_examples=15, deadline=None)
@given(st.floats(1e-3, 1e3), st.floats(0.0, 1.0))
def test_score_is_at_most_one_and_finite_over_scales_of_the_data(scale: float, mix: float) -> None:
    generator = torch.Generator().manual_seed(3)
    x = scale * torch.rand(1, 1, 14, 14, generator=generator, dtype=torch.float64)
    other = scale * torch.rand(1, 1, 14, 14, generator=generator, dtype=torch.float64)
    x_hat = mix * x + (1 - mix) * other
    score = ms_ssim(x_hat, x, data_range=scale, weights=(0.5, 0.5), window_size=7)
    assert torch.isfinite(score).all()
    assert float(score) <= 1.0 + 1e-12
    assert math.isclose(float(ms_ssim(x, x, data_range=scale, weights=(1.0,), window_size=7)), 1)


@pytest.mark.slow
def test_loss_traces_under_compile_fullgraph() -> None:
    loss = MSSSIM(weights=(0.5, 0.5), window_size=5)
    x_hat, x = _pair(4, shape=(2, 1, 12, 12))
    compiled = torch.compile(loss, fullgraph=True, backend="eager")
    torch.testing.assert_close(compiled(x_hat, x), loss(x_hat, x))
