"""A procedural ground-truth-factor data set in the spirit of dSprites, rendered on demand.

dSprites (Matthey, Higgins, Hassabis & Lerchner 2017) renders 2D shapes from five independent
factors; this is a small, configurable re-creation that needs no download: every image is
rendered from its factor indices when asked for (vectorised torch ops over a coordinate
grid), so the full factor product never has to sit in memory.
"""

from __future__ import annotations

import math
from functools import cached_property

import torch

from ._split import DatasetSplit, holdout_every_fifth

SHAPE_NAMES = ("square", "ellipse", "heart")
"""The shapes of :class:`Shapes` in factor order (values 0, 1, 2 of the ``shape`` factor)."""
FACTOR_NAMES = ("shape", "scale", "orientation", "pos_x", "pos_y")
"""The factors of :class:`Shapes` in column order of every factor tensor ``[n, K]``."""

_HALF_SIZE = 0.3  # shape half-size at scale 1, in image coordinates [-1, 1]
_POSITION_RANGE = 0.55  # centres lie in [-0.55, 0.55]: the largest shape stays inside
_ELLIPSE_AXIS_RATIO = 0.5
_CHUNK = 256  # images rendered per vectorised pass (bounds the intermediate memory)


def _positive_int(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return int(value)


def _generator(generator: torch.Generator | None) -> torch.Generator | None:
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator, got {type(generator).__name__}")
    return generator


class Shapes:
    r"""Binary ``image_size x image_size`` images of a shape, from five discrete factors.

    ======== ===================== ================================================
    factor   values                meaning
    ======== ===================== ================================================
    shape    3                     square, ellipse (axes 1 : 0.5), heart
    scale    ``num_scales``        half-size ``0.3 * s``, ``s`` evenly in [0.5, 1]
    orient.  ``num_orientations``  angle ``2 pi i / num_orientations``
    pos_x    ``num_x``             centre evenly in [-0.55, 0.55]
    pos_y    ``num_y``             centre evenly in [-0.55, 0.55] (upwards)
    ======== ===================== ================================================

    Coordinates span ``[-1, 1]`` over the image. A pixel is on when its centre lies inside
    the shape: with ``(u, v)`` the pixel's coordinates relative to the centre, rotated by
    minus the angle and divided by the half-size, the square is ``max(|u|, |v|) <= 1``, the
    ellipse ``u^2 + (v / 0.5)^2 <= 1`` and the heart ``(a^2 + b^2 - 1)^3 - a^2 b^3 <= 0``
    with ``(a, b) = 1.2 (u, v) + (0, 0.15)``. As in dSprites, the square's orientation is only
    identifiable modulo 90 degrees and the ellipse's modulo 180.

    Example ``i`` has the factors of the mixed-radix digits of ``i`` (the last factor
    varies fastest), so ``len(data) = prod(factor_sizes)`` and ``data[i]`` is rendered on
    demand. Images are float32 ``[1, H, W]`` with values in ``{0, 1}``.

    Implements the ground-truth data protocol of :mod:`pyautoencoder.evaluation`
    (``factor_sizes``, ``sample_factors``, ``images_from_factors``); :meth:`sample_pairs`
    gives weakly supervised pairs for :class:`~pyautoencoder.variational.AdaGVAE`.
    """

    def __init__(
        self,
        num_scales: int = 3,
        num_orientations: int = 8,
        num_x: int = 8,
        num_y: int = 8,
        image_size: int = 64,
    ) -> None:
        self.image_size = _positive_int(image_size, "image_size")
        self.factor_sizes: tuple[int, ...] = (
            len(SHAPE_NAMES),
            _positive_int(num_scales, "num_scales"),
            _positive_int(num_orientations, "num_orientations"),
            _positive_int(num_x, "num_x"),
            _positive_int(num_y, "num_y"),
        )
        self.factor_names = FACTOR_NAMES
        self.scales = torch.linspace(0.5, 1.0, num_scales) if num_scales > 1 else torch.ones(1)
        self.orientations = torch.arange(num_orientations) * (2 * math.pi / num_orientations)
        self.positions_x = _positions(num_x)
        self.positions_y = _positions(num_y)
        # Pixel-centre coordinates in (-1, 1): x to the right, y upwards.
        centres = (2 * torch.arange(image_size, dtype=torch.float32) + 1) / image_size - 1
        self._grid_x = centres.view(1, 1, -1)  # [1, 1, W]
        self._grid_y = -centres.view(1, -1, 1)  # [1, H, 1]

    def __repr__(self) -> str:
        sizes = ", ".join(f"{n}={s}" for n, s in zip(self.factor_names, self.factor_sizes))
        return f"Shapes({sizes}, image_size={self.image_size})"

    @property
    def num_factors(self) -> int:
        """``K``, the number of factors (5)."""
        return len(self.factor_sizes)

    def __len__(self) -> int:
        return math.prod(self.factor_sizes)

    def __getitem__(self, index: int) -> torch.Tensor:
        """The image ``[1, H, W]`` of example ``index`` (negative indices count from the end)."""
        if isinstance(index, bool) or not isinstance(index, int):
            raise TypeError(f"index must be an int, got {type(index).__name__}")
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} examples")
        factors = self.index_to_factors(torch.tensor([index % len(self)]))
        return self.images_from_factors(factors)[0]

    def index_to_factors(self, indices: torch.Tensor) -> torch.Tensor:
        """Factor indices ``[n, K]`` (int64) of example indices ``[n]``."""
        remainder = torch.as_tensor(indices, dtype=torch.int64).reshape(-1)
        columns = []
        for size in reversed(self.factor_sizes):
            columns.append(remainder % size)
            remainder = remainder // size
        return torch.stack(columns[::-1], dim=1)

    def factors_to_index(self, factors: torch.Tensor) -> torch.Tensor:
        """Example indices ``[n]`` of factor indices ``[n, K]``; inverse of the above."""
        factors = self._check_factors(factors)
        index = torch.zeros(factors.shape[0], dtype=torch.int64)
        for column, size in enumerate(self.factor_sizes):
            index = index * size + factors[:, column]
        return index

    def sample_factors(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` factor vectors ``[n, K]`` (int64), each factor uniform and independent."""
        n = _positive_int(n, "n")
        uniform = torch.rand(n, self.num_factors, generator=_generator(generator))
        sizes = torch.tensor(self.factor_sizes, dtype=torch.float32)
        return (uniform * sizes).long().clamp(max=sizes.long() - 1)

    def _check_factors(self, factors: torch.Tensor) -> torch.Tensor:
        factors = torch.as_tensor(factors)
        if factors.dim() != 2 or factors.shape[1] != self.num_factors:
            raise ValueError(
                f"factors must have shape [n, K] = [n, {self.num_factors}], got "
                f"{tuple(factors.shape)}"
            )
        if factors.is_floating_point():
            raise ValueError(f"factors must hold integer indices, got dtype {factors.dtype}")
        factors = factors.long().cpu()
        sizes = torch.tensor(self.factor_sizes)
        if factors.numel() and bool(((factors < 0) | (factors >= sizes)).any()):
            raise ValueError(
                f"factor indices must lie in [0, size - 1] for sizes {list(self.factor_sizes)}"
            )
        return factors

    def images_from_factors(self, factors: torch.Tensor) -> torch.Tensor:
        """Render the images ``[n, 1, H, W]`` (float32, values 0/1) of ``factors [n, K]``."""
        factors = self._check_factors(factors)
        chunks = [self._render(chunk) for chunk in factors.split(_CHUNK)]
        if not chunks:
            return torch.zeros(0, 1, self.image_size, self.image_size)
        return torch.cat(chunks).unsqueeze(1)

    def _render(self, factors: torch.Tensor) -> torch.Tensor:
        """``[n, H, W]`` images of one chunk of factors ``[n, K]``; each shape's test only
        runs on the images of that shape."""
        images = torch.empty(factors.shape[0], self.image_size, self.image_size)
        for shape_index, inside in enumerate((_square, _ellipse, _heart)):
            rows = (factors[:, 0] == shape_index).nonzero().squeeze(1)
            if rows.numel():
                u, v = self._shape_coordinates(factors[rows])
                images[rows] = inside(u, v).to(torch.float32)
        return images

    def _shape_coordinates(self, factors: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(u, v)`` ``[n, H, W]``: pixel centres in each shape's frame (centred, rotated by
        minus its angle, divided by its half-size)."""
        half_size = (_HALF_SIZE * self.scales[factors[:, 1]]).view(-1, 1, 1)
        angle = self.orientations[factors[:, 2]].view(-1, 1, 1)
        cos, sin = torch.cos(angle) / half_size, torch.sin(angle) / half_size
        dx = self._grid_x - self.positions_x[factors[:, 3]].view(-1, 1, 1)  # [n, 1, W]
        dy = self._grid_y - self.positions_y[factors[:, 4]].view(-1, 1, 1)  # [n, H, 1]
        u = torch.addcmul(cos * dx, sin, dy)  # [n, H, W]
        v = torch.addcmul(cos * dy, -sin, dx)
        return u, v

    def sample_pair_factors(
        self, n: int, k: int | None = 1, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Factor pairs ``(f1, f2)`` ``[n, K]`` that differ in exactly ``k`` factors.

        The ``k`` differing factors are drawn uniformly among the factors with more than one
        value, and each gets a new value drawn uniformly among its *other* values. With
        ``k=None`` each pair draws its own ``k ~ U{1, ..., C - 1}`` (``C`` changeable factors;
        ``k = 1`` when ``C = 1``), the weak-supervision setting of Locatello et al. (2020,
        *Weakly-supervised disentanglement without compromises*, Section 4).

        Returns
        -------
        tuple of torch.Tensor
            ``f1 [n, K]``, ``f2 [n, K]`` (int64) and ``shared [n, K]`` (bool, True where the
            pair agrees).
        """
        generator = _generator(generator)
        sizes = torch.tensor(self.factor_sizes)
        changeable = sizes > 1
        num_changeable = int(changeable.sum())
        if num_changeable == 0:
            raise ValueError("every factor has a single value: no pair can differ")
        n = _positive_int(n, "n")
        if k is None:
            high = max(num_changeable - 1, 1)
            per_pair = torch.randint(1, high + 1, (n, 1), generator=generator)
        else:
            if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= num_changeable:
                raise ValueError(
                    f"k must be an int in [1, {num_changeable}] (the factors with more than one "
                    f"value) or None, got {k!r}"
                )
            per_pair = torch.full((n, 1), k)
        first = self.sample_factors(n, generator)
        scores = torch.rand(n, self.num_factors, generator=generator)
        scores = scores.masked_fill(~changeable, 2.0)  # fixed factors are never picked
        rank = scores.argsort(dim=1).argsort(dim=1)  # [n, K], 0 = first pick
        changed = rank < per_pair
        offset = (torch.rand(n, self.num_factors, generator=generator) * (sizes - 1)).long() + 1
        second = torch.where(changed, (first + offset) % sizes, first)
        return first, second, ~changed

    def sample_pairs(
        self, n: int, k: int | None = 1, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Image pairs ``(x1, x2, shared)`` sharing all but ``k`` factors.

        ``x1, x2`` are ``[n, 1, H, W]``, ``shared`` is ``[n, K]`` (bool); see
        :meth:`sample_pair_factors`. ``model((x1, x2))`` trains an
        :class:`~pyautoencoder.variational.AdaGVAE`.
        """
        first, second, shared = self.sample_pair_factors(n, k, generator)
        return self.images_from_factors(first), self.images_from_factors(second), shared

    def split(self, labels: str = "shape") -> DatasetSplit:
        """Every image of the grid, ``index % 5 == 0`` held out.

        ``labels="shape"`` (default) gives class labels ``y [N]``, the shape index, like the
        other data sets' labels; ``labels="factors"`` gives all factor indices ``y [N, K]``.

        Renders the whole factor product (``len(self)`` images of ``4 H W`` bytes each): for
        the default grid 4,608 images, 75 MB. Use :meth:`sample_factors` and
        :meth:`images_from_factors` to draw batches of larger grids instead.
        """
        if labels not in ("shape", "factors"):
            raise ValueError(f"labels must be 'shape' or 'factors', got {labels!r}")
        factors = self.index_to_factors(torch.arange(len(self)))
        y = factors[:, 0] if labels == "shape" else factors
        return holdout_every_fifth(self.images_from_factors(factors), y)

    @cached_property
    def _split(self) -> DatasetSplit:
        return self.split()

    @property
    def train_x(self) -> torch.Tensor:
        """Training images of :meth:`split` (rendered once, then cached)."""
        return self._split.train_x

    @property
    def train_y(self) -> torch.Tensor:
        """Training shape labels ``[N]`` of :meth:`split`."""
        return self._split.train_y

    @property
    def test_x(self) -> torch.Tensor:
        """Held-out images of :meth:`split`."""
        return self._split.test_x

    @property
    def test_y(self) -> torch.Tensor:
        """Held-out shape labels ``[N]`` of :meth:`split`."""
        return self._split.test_y


def _square(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    return torch.maximum(u.abs(), v.abs()) <= 1


def _ellipse(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    return u.square() + (v / _ELLIPSE_AXIS_RATIO).square() <= 1


def _heart(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    a_sq = (1.2 * u).square()
    b = 1.2 * v + 0.15
    return (a_sq + b.square() - 1).pow(3) <= a_sq * b.pow(3)


def _positions(count: int) -> torch.Tensor:
    if count == 1:
        return torch.zeros(1)
    return torch.linspace(-_POSITION_RANGE, _POSITION_RANGE, count)


def shapes(
    num_scales: int = 3,
    num_orientations: int = 8,
    num_x: int = 8,
    num_y: int = 8,
    image_size: int = 64,
) -> Shapes:
    """The procedural :class:`Shapes` data set (default grid 3 x 3 x 8 x 8 x 8 = 4,608)."""
    return Shapes(num_scales, num_orientations, num_x, num_y, image_size)
