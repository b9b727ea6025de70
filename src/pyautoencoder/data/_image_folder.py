r"""``image_folder``: a folder of PNG/JPEG files as a lazily read, map-style ``Dataset``.

Files are found once (recursively, by extension) and their headers checked with Pillow; the
pixels are decoded only in ``__getitem__``, so a ``DataLoader`` with workers decodes in
parallel and memory holds one batch, not the folder. Each image is converted to the requested
mode, its shorter side resized to ``image_size`` (bicubic, antialiased by Pillow) and the
centre ``image_size x image_size`` cropped; values come as float32 in ``[0, 1]``, ``[C, H, W]``.

Unreadable files: a file whose header Pillow cannot read (not an image, empty, a wrong
extension) is **skipped and counted** when the data set is built (``skipped`` lists
``(path, reason)``; one warning names the count and the first file), unless
``on_unreadable="raise"``, which refuses the folder naming the file. A file whose header reads
but whose pixels do not decode (truncated) raises in ``__getitem__`` with the file's path: the
header check cannot find those without decoding everything up front.

Pillow is needed (``pip install "pyautoencoder[data]"``); torchvision is not used.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset

from .._validation import check_positive_int

IMAGE_EXTENSIONS: tuple[str, ...] = (".png", ".jpg", ".jpeg")
"""File extensions read by :func:`image_folder` (compared lower-case)."""

_MODES = {"RGB": 3, "L": 1}


def _pillow() -> Any:
    try:
        from PIL import Image
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError('image_folder needs Pillow: pip install "pyautoencoder[data]"') from error
    return Image


class ImageFolder(Dataset[Any]):
    """Images under a folder, decoded on access; see :func:`image_folder`.

    Attributes
    ----------
    paths : list of Path
        The readable image files, sorted.
    targets : list of int or None
        Class index per file (``labels=True``), else ``None``.
    classes : tuple of str
        Sorted names of the first-level subfolders (``labels=True``), else ``()``.
    skipped : list of (Path, str)
        Files left out because their header could not be read, with the reason.
    """

    def __init__(
        self,
        paths: list[Path],
        image_size: int,
        mode: str,
        targets: list[int] | None,
        classes: tuple[str, ...],
        skipped: list[tuple[Path, str]],
    ) -> None:
        self.paths = paths
        self.image_size = image_size
        self.mode = mode
        self.targets = targets
        self.classes = classes
        self.skipped = skipped

    def __len__(self) -> int:
        return len(self.paths)

    @property
    def channels(self) -> int:
        """Channels of every image: 3 for ``"RGB"``, 1 for ``"L"``."""
        return _MODES[self.mode]

    def load(self, index: int) -> torch.Tensor:
        """Decode, resize and centre-crop image ``index`` -> float32 ``[C, S, S]`` in [0, 1]."""
        image_module = _pillow()
        path = self.paths[index]
        size = self.image_size
        try:
            with image_module.open(path) as opened:
                image = opened.convert(self.mode)
        except OSError as error:
            raise OSError(f"cannot decode image {path}: {error}") from error
        width, height = image.size
        scale = size / min(width, height)
        new_width = max(size, round(width * scale))
        new_height = max(size, round(height * scale))
        image = image.resize((new_width, new_height), image_module.Resampling.BICUBIC)
        left = (new_width - size) // 2
        top = (new_height - size) // 2
        image = image.crop((left, top, left + size, top + size))
        pixels = torch.frombuffer(bytearray(image.tobytes()), dtype=torch.uint8)
        return pixels.view(size, size, self.channels).permute(2, 0, 1).float().div_(255.0)

    def __getitem__(self, index: int) -> Any:
        """``image`` ``[C, S, S]``, or ``(image, label)`` with ``labels=True``."""
        image = self.load(index)
        if self.targets is None:
            return image
        return image, self.targets[index]

    def to_tensors(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Decode every image: ``x`` ``[N, C, S, S]`` and labels ``[N]`` (or ``None``)."""
        x = torch.stack([self.load(index) for index in range(len(self))])
        y = None if self.targets is None else torch.tensor(self.targets, dtype=torch.long)
        return x, y


def _find_files(root: Path) -> list[Path]:
    found = []
    for directory, subdirectories, files in os.walk(root, followlinks=True):
        subdirectories.sort()
        for name in sorted(files):
            if name.lower().endswith(IMAGE_EXTENSIONS) and not name.startswith("."):
                found.append(Path(directory) / name)
    return found


def _readable(paths: list[Path], on_unreadable: str) -> tuple[list[Path], list[tuple[Path, str]]]:
    image_module = _pillow()
    readable, skipped = [], []
    for path in paths:
        try:
            # Opening reads the header only: the pixels are decoded in __getitem__.
            with image_module.open(path):
                pass
        except (OSError, ValueError, SyntaxError) as error:
            reason = " ".join(str(error).split()) or type(error).__name__
            if on_unreadable == "raise":
                raise ValueError(f"unreadable image file {path}: {reason}") from error
            skipped.append((path, reason))
            continue
        readable.append(path)
    return readable, skipped


def image_folder(
    root: str | os.PathLike[str],
    image_size: int,
    *,
    labels: bool = False,
    mode: str = "RGB",
    on_unreadable: str = "skip",
) -> ImageFolder:
    """A folder of PNG/JPEG images as a lazily decoded ``Dataset`` of ``[C, S, S]`` tensors.

    Parameters
    ----------
    root : path
        Folder searched recursively for ``.png``, ``.jpg``, ``.jpeg`` files (any case; hidden
        files ignored; symlinked folders followed).
    image_size : int
        ``S``: the shorter side is resized to ``S`` and the centre ``S x S`` cropped.
    labels : bool
        Class labels from the first-level subfolder (``root/<class>/.../img.png``), classes in
        sorted order; items become ``(image, label)``. Images directly in ``root`` are then
        refused.
    mode : {"RGB", "L"}
        Colour (3 channels) or greyscale (1 channel); every file is converted.
    on_unreadable : {"skip", "raise"}
        Files whose header Pillow cannot read are skipped and counted (``skipped``; one
        warning), or refused with an error naming the file.

    Returns
    -------
    ImageFolder
        Works with ``torch.utils.data.DataLoader`` (workers included: it holds only paths).

    Raises
    ------
    FileNotFoundError
        ``root`` is not a folder.
    ValueError
        No readable image under ``root``, bad options, or (``labels=True``) images outside a
        class subfolder.
    """
    image_size = check_positive_int(image_size, "image_size")
    if mode not in _MODES:
        raise ValueError(f"mode must be one of {tuple(_MODES)}, got {mode!r}")
    if on_unreadable not in ("skip", "raise"):
        raise ValueError(f"on_unreadable must be 'skip' or 'raise', got {on_unreadable!r}")
    folder = Path(root).expanduser()
    if not folder.is_dir():
        raise FileNotFoundError(f"image folder not found: {folder}")
    found = _find_files(folder)
    if not found:
        raise ValueError(
            f"no images in {folder}: expected files ending in {', '.join(IMAGE_EXTENSIONS)}"
        )
    paths, skipped = _readable(found, on_unreadable)
    if not paths:
        raise ValueError(
            f"no readable images in {folder}: all {len(skipped)} image files failed to open "
            f"(first: {skipped[0][0]}: {skipped[0][1]})"
        )
    if skipped:
        warnings.warn(
            f"image_folder skipped {len(skipped)} unreadable file(s) in {folder} "
            f"(first: {skipped[0][0]}: {skipped[0][1]}); see .skipped",
            stacklevel=2,
        )
    targets: list[int] | None = None
    classes: tuple[str, ...] = ()
    if labels:
        loose = [path for path in paths if path.parent == folder]
        if loose:
            raise ValueError(
                f"labels=True takes classes from subfolders of {folder}, but {loose[0].name} "
                f"(and {len(loose) - 1} more) lie directly in it"
            )
        names = [path.relative_to(folder).parts[0] for path in paths]
        classes = tuple(sorted(set(names)))
        index = {name: position for position, name in enumerate(classes)}
        targets = [index[name] for name in names]
    return ImageFolder(paths, image_size, mode, targets, classes, skipped)
