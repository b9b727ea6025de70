r"""Multi-scale structural similarity (MS-SSIM) and its loss ``1 - MS-SSIM``.

Wang, Simoncelli & Bovik (2003), "Multi-scale structural similarity for image quality
assessment", eqs. (1)-(7). With local statistics under a normalised Gaussian window ``w``
(``mu_x = w * x``, ``sigma_x^2 = w * x^2 - mu_x^2``, ``sigma_xy = w * (x y) - mu_x mu_y``,
valid convolution, no padding) and ``C_1 = (K_1 L)^2``, ``C_2 = (K_2 L)^2`` for the data range
``L``:

.. math::

    l(x, y) = \frac{2\mu_x\mu_y + C_1}{\mu_x^2 + \mu_y^2 + C_1}, \qquad
    cs(x, y) = \frac{2\sigma_{xy} + C_2}{\sigma_x^2 + \sigma_y^2 + C_2},

each averaged over the valid positions of the map. Scale 1 is the input; scale ``j + 1`` is
scale ``j`` low-pass filtered and downsampled by two (2x2 average pooling, dropping an odd last
row/column). With ``M`` scales and exponents ``beta_1 .. beta_M`` (``alpha_M = beta_M``):

.. math::

    \text{MS-SSIM}(x, y) = \bar l_M(x, y)^{\beta_M} \prod_{j=1}^{M} \bar{cs}_j(x, y)^{\beta_j}.

The paper's exponents for ``M = 5`` are ``(0.0448, 0.2856, 0.3001, 0.2363, 0.1333)``, the
window is 11x11 with ``sigma = 1.5`` and ``K_1 = 0.01``, ``K_2 = 0.03``. One scale with
exponent 1 is plain SSIM (Wang et al. 2004). Colour images are scored per channel and the
channel scores averaged.

Negative mean contrast-structure terms (anti-correlated images) would make the fractional
powers undefined, so every mean term is floored at ``1e-6`` before the power; on images that
resemble each other this floor is inactive.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from .._validation import check_floating, check_tensor

MS_SSIM_WEIGHTS: tuple[float, ...] = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
"""The five-scale exponents ``beta_1 .. beta_5`` of Wang et al. (2003, Sec. 3.2)."""

_FLOOR = 1e-6


def _gaussian_window(size: int, sigma: float, like: torch.Tensor) -> torch.Tensor:
    """Normalised 1-D Gaussian of ``size`` taps, ``[size]``, dtype/device of ``like``."""
    coords = torch.arange(size, dtype=like.dtype, device=like.device) - (size - 1) / 2
    taps = torch.exp(-(coords**2) / (2 * sigma**2))
    return taps / taps.sum()


def _filter(images: torch.Tensor, taps: torch.Tensor) -> torch.Tensor:
    """Separable valid Gaussian filter of ``[N, C, H, W]`` per channel -> ``[N, C, H', W']``."""
    channels = images.shape[1]
    size = taps.shape[0]
    rows = taps.view(1, 1, size, 1).expand(channels, 1, size, 1)
    cols = taps.view(1, 1, 1, size).expand(channels, 1, 1, size)
    return F.conv2d(F.conv2d(images, rows, groups=channels), cols, groups=channels)


def _statistics(
    x: torch.Tensor, y: torch.Tensor, taps: torch.Tensor, c1: float, c2: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean luminance and contrast-structure terms per image and channel, each ``[B, C]``."""
    batch = x.shape[0]
    # One filter call over the five maps: [5B, C, H, W] -> [5, B, C, H', W'].
    stacked = torch.cat([x, y, x * x, y * y, x * y], dim=0)
    mu_x, mu_y, xx, yy, xy = _filter(stacked, taps).split(batch, dim=0)
    var_x = xx - mu_x * mu_x
    var_y = yy - mu_y * mu_y
    cov = xy - mu_x * mu_y
    luminance = (2 * mu_x * mu_y + c1) / (mu_x * mu_x + mu_y * mu_y + c1)
    contrast_structure = (2 * cov + c2) / (var_x + var_y + c2)
    return luminance.mean(dim=(-2, -1)), contrast_structure.mean(dim=(-2, -1))


def _check_images(x_hat: object, x: object) -> tuple[torch.Tensor, torch.Tensor]:
    x_hat = check_tensor(x_hat, "x_hat")
    x = check_tensor(x, "x")
    check_floating(x_hat, "x_hat")
    check_floating(x, "x")
    if x.dim() != 4:
        raise ValueError(f"x must be images of shape [B, C, H, W], got shape {tuple(x.shape)}")
    if x_hat.shape != x.shape:
        raise ValueError(
            f"x_hat must have the shape of x {tuple(x.shape)}, got {tuple(x_hat.shape)}"
        )
    return x_hat, x


def _check_weights(weights: Sequence[float]) -> tuple[float, ...]:
    values = tuple(float(w) for w in weights)
    if not values or any(not w >= 0 for w in values):
        raise ValueError(f"weights must be one or more non-negative exponents, got {values}")
    return values


def minimum_image_size(num_scales: int, window_size: int = 11) -> int:
    """Smallest image side that ``num_scales`` scales with a ``window_size`` window accept.

    The coarsest scale has side ``floor(H / 2^(M-1))``, which must be at least the window.
    """
    return window_size * 2 ** (num_scales - 1)


def ms_ssim(
    x_hat: torch.Tensor,
    x: torch.Tensor,
    *,
    data_range: float = 1.0,
    weights: Sequence[float] = MS_SSIM_WEIGHTS,
    window_size: int = 11,
    sigma: float = 1.5,
    k1: float = 0.01,
    k2: float = 0.03,
) -> torch.Tensor:
    r"""MS-SSIM of each image pair (Wang et al. 2003, eq. 7), differentiable.

    Parameters
    ----------
    x_hat, x : Tensor ``[B, C, H, W]``
        Images of the same shape with values on a range of width ``data_range``. The measure is
        symmetric in its two arguments.
    data_range : float
        ``L``, the width of the value range (1 for images in [0, 1], 255 for bytes, 2 for
        [-1, 1]).
    weights : sequence of float
        Exponents ``beta_1 .. beta_M``, finest scale first; their number is the number of
        scales ``M``. ``(1.0,)`` gives single-scale SSIM.
    window_size, sigma : int, float
        The Gaussian window (11 and 1.5 in the paper).
    k1, k2 : float
        Stabilising constants ``K_1``, ``K_2``.

    Returns
    -------
    Tensor ``[B]``
        MS-SSIM per image (channels averaged), at most 1 and equal to 1 for ``x_hat == x``.

    Raises
    ------
    ValueError
        For non-image shapes, mismatched shapes, or images smaller than
        ``window_size * 2^(M-1)`` pixels on a side (use fewer scales or a smaller window).
    """
    x_hat, x = _check_images(x_hat, x)
    betas = _check_weights(weights)
    if window_size < 1 or window_size % 2 == 0:
        raise ValueError(f"window_size must be an odd positive int, got {window_size}")
    if not data_range > 0:
        raise ValueError(f"data_range must be positive, got {data_range}")
    smallest = minimum_image_size(len(betas), window_size)
    if min(x.shape[-2:]) < smallest:
        raise ValueError(
            f"x must be at least {smallest}x{smallest} pixels for {len(betas)} MS-SSIM scales "
            f"with an {window_size}-pixel window, got {tuple(x.shape[-2:])}; pass fewer "
            f"weights (scales) or a smaller window_size"
        )
    taps = _gaussian_window(window_size, sigma, x)
    c1 = (k1 * data_range) ** 2
    c2 = (k2 * data_range) ** 2
    score = torch.ones(x.shape[:2], dtype=x.dtype, device=x.device)  # [B, C]
    for scale, beta in enumerate(betas):
        if scale > 0:
            x_hat = F.avg_pool2d(x_hat, kernel_size=2)
            x = F.avg_pool2d(x, kernel_size=2)
        luminance, contrast_structure = _statistics(x_hat, x, taps, c1, c2)
        score = score * contrast_structure.clamp_min(_FLOOR) ** beta
    score = score * luminance.clamp_min(_FLOOR) ** betas[-1]
    return score.mean(dim=1)


class MSSSIM(nn.Module):
    r"""Reconstruction loss ``1 - MS-SSIM(x_hat, x)``, averaged over the batch.

    See :func:`ms_ssim` for the measure and its arguments. Zhao et al. (2017, "Loss functions
    for image restoration with neural networks") train with this loss, often mixed with an
    ``L1`` term; add the two yourself with the weights you want.

    Examples
    --------
    >>> loss = MSSSIM(weights=(0.5, 0.5), window_size=7)  # two scales: images >= 14x14
    >>> x = torch.rand(2, 3, 16, 16)
    >>> float(loss(x, x))
    0.0
    """

    def __init__(
        self,
        *,
        data_range: float = 1.0,
        weights: Sequence[float] = MS_SSIM_WEIGHTS,
        window_size: int = 11,
        sigma: float = 1.5,
        k1: float = 0.01,
        k2: float = 0.03,
    ) -> None:
        super().__init__()
        self.weights = _check_weights(weights)
        self.data_range = float(data_range)
        self.window_size = int(window_size)
        self.sigma = float(sigma)
        self.k1 = float(k1)
        self.k2 = float(k2)

    def distance(self, x_hat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Per-image loss ``1 - MS-SSIM(x_hat_b, x_b)``, ``[B]`` (in ``[0, 1]`` up to the floor).

        What :class:`~pyautoencoder.distributions.PenalizedLikelihood` adds to a likelihood.
        """
        score = ms_ssim(
            x_hat,
            x,
            data_range=self.data_range,
            weights=self.weights,
            window_size=self.window_size,
            sigma=self.sigma,
            k1=self.k1,
            k2=self.k2,
        )
        return 1 - score

    def forward(self, x_hat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """0-dim loss ``mean_b (1 - MS-SSIM(x_hat_b, x_b))``."""
        score = ms_ssim(
            x_hat,
            x,
            data_range=self.data_range,
            weights=self.weights,
            window_size=self.window_size,
            sigma=self.sigma,
            k1=self.k1,
            k2=self.k2,
        )
        return (1 - score).mean()
