"""``--data`` specs: ``digits``, ``mnist:<dir>``, ``shapes``, ``shards:<glob>``,
``folder:<dir>[:<size>]`` (PNG/JPEG images), or a ``.npy`` / ``.pt`` file."""

from __future__ import annotations

import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from . import _builtin
from ._errors import CLIError, unknown_name

DATA_NAMES = (
    "digits",
    "mnist:<dir>",
    "shapes",
    "shards:<glob>",
    "folder:<dir>[:<size>]",
    "<file.npy>",
    "<file.pt>",
)
#: Side of the images ``folder:<dir>`` reads when the spec names no size.
DEFAULT_FOLDER_IMAGE_SIZE = 64

#: Held-out examples of ``shards:<glob>`` data: a fifth of the examples, at most this many.
MAX_SHARD_HOLDOUT = 10_000


@dataclass
class DataSplit:
    """Training and held-out data; labels may be ``None``.

    ``train_x`` is a tensor, or :class:`pyautoencoder.data.ArrayShards` streamed from disk
    (``shards:<glob>``; it has ``shape`` and ``len`` like a tensor). ``test_x`` is always a
    tensor in memory.
    """

    name: str
    train_x: Any
    train_y: torch.Tensor | None
    test_x: torch.Tensor
    test_y: torch.Tensor | None


def _from_split(name: str, split: Any) -> DataSplit:
    """Adapt a ``pyautoencoder.data`` split (``train_x, train_y, test_x, test_y``)."""
    if isinstance(split, torch.Tensor):
        return _holdout(name, split, None)
    return DataSplit(
        name=name,
        train_x=torch.as_tensor(split.train_x).float(),
        train_y=None if getattr(split, "train_y", None) is None else torch.as_tensor(split.train_y),
        test_x=torch.as_tensor(split.test_x).float(),
        test_y=None if getattr(split, "test_y", None) is None else torch.as_tensor(split.test_y),
    )


def _holdout(name: str, x: torch.Tensor, y: torch.Tensor | None) -> DataSplit:
    """Hold out every fifth example (``index % 5 == 0``), the MNIST-10k convention."""
    if x.dim() < 2:
        raise CLIError(
            f"data {name} holds an array of shape {tuple(x.shape)}: it needs [N, ...], N "
            "examples of one or more values each (for N single values, reshape it to (N, 1))"
        )
    if x.shape[0] < 2:
        raise CLIError(f"data {name} must hold at least 2 examples [N, ...], got {tuple(x.shape)}")
    _check_finite(name, x)
    if y is not None and (y.dim() != 1 or y.shape[0] != x.shape[0]):
        raise CLIError(f"labels in {name} must be [N] = [{x.shape[0]}], got {tuple(y.shape)}")
    held_out = torch.arange(x.shape[0]) % 5 == 0
    return DataSplit(
        name=name,
        train_x=x[~held_out],
        train_y=None if y is None else y[~held_out],
        test_x=x[held_out],
        test_y=None if y is None else y[held_out],
    )


def _check_finite(name: str, x: torch.Tensor) -> None:
    """Refuse NaN and infinite inputs, naming the data and the first bad example."""
    if not x.is_floating_point():
        return
    bad = ~torch.isfinite(x)
    if bool(bad.any()):
        nan, inf = int(torch.isnan(x).sum()), int(torch.isinf(x).sum())
        first = int(bad.flatten(1).any(dim=1).nonzero()[0])
        raise CLIError(
            f"data {name} holds {nan} NaN and {inf} infinite value(s) (first in example "
            f"{first}); remove or replace them before training"
        )


def _as_float_images(x: torch.Tensor, source: str) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise CLIError(f"{source} must hold a tensor/array of examples, got {type(x).__name__}")
    if x.dtype == torch.uint8:
        return x.float() / 255.0
    if x.dtype == torch.bool:
        return x.float()
    if x.is_complex():
        raise CLIError(f"{source} is not a real-valued array: it holds {x.dtype} values")
    return x.float()  # other integers keep their values (uint8 alone is taken as 0..255 pixels)


def _load_file(path: Path) -> DataSplit:
    if not path.is_file():
        raise CLIError(f"data file not found: {path}")
    if path.suffix == ".npy":
        import numpy as np

        try:
            array = np.load(path, allow_pickle=False)
        except (ValueError, OSError, EOFError) as error:  # pickled objects, text, truncated
            raise CLIError(
                f"{path} is not a numeric array: expected a .npy file of numbers [N, ...] "
                "(numpy.save of a float, int or bool array)"
            ) from error
        if array.dtype.kind not in "biuf":  # strings, bytes, records, complex, dates
            raise CLIError(
                f"{path} is not a numeric array: it holds {array.dtype} values; expected "
                "numbers [N, ...] (float, int or bool)"
            )
        return _holdout(path.name, _as_float_images(torch.from_numpy(array), str(path)), None)
    try:
        content = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # UnpicklingError, RuntimeError, EOFError ...
        first = " ".join(str(error).split())[:200]
        raise CLIError(
            f"refusing to load {path}: not a weights-only tensor file ({first})"
        ) from error
    labels: torch.Tensor | None = None
    if isinstance(content, dict):
        if "x" not in content:
            raise CLIError(f"{path} holds a dict without an 'x' entry (keys: {sorted(content)})")
        x, labels = content["x"], content.get("y")
    elif isinstance(content, (tuple, list)) and content:
        x = content[0]
        labels = content[1] if len(content) > 1 else None
    else:
        x = content
    return _holdout(path.name, _as_float_images(x, str(path)), labels)


def _load_shards(pattern: str) -> DataSplit:
    """``.npy`` shards streamed for training; the last fifth (at most 10,000) held out."""
    if not pattern:
        raise CLIError("shards: needs a glob of .npy files, e.g. --data 'shards:acts/*.npy'")
    from ..data import DataFormatError, array_shards

    try:
        shards = array_shards(pattern)
        if len(shards) < 2:
            raise CLIError(f"shards {pattern} must hold at least 2 examples, got {len(shards)}")
        train, held_out = shards.holdout(min(max(len(shards) // 5, 1), MAX_SHARD_HOLDOUT))
    except (FileNotFoundError, DataFormatError, ValueError) as error:
        raise CLIError(" ".join(str(error).split())) from error
    return DataSplit(
        name=f"shards:{pattern}", train_x=train, train_y=None, test_x=held_out, test_y=None
    )


def _load_folder(argument: str) -> DataSplit:
    """``folder:<dir>[:<size>]``: every image decoded at ``size`` (64), every fifth held out.

    Labels come from first-level subfolders when every image lies in one; unreadable files
    are skipped with one line on stderr.
    """
    directory, _, size_text = argument.rpartition(":")
    if not directory or not size_text.isdigit():
        directory, size_text = argument, str(DEFAULT_FOLDER_IMAGE_SIZE)
    if not directory:
        raise CLIError("folder: needs a directory of images, e.g. --data folder:photos:64")
    from ..data import image_folder

    folder = Path(directory).expanduser()
    has_loose = folder.is_dir() and any(
        path.is_file() and path.suffix.lower() in (".png", ".jpg", ".jpeg")
        for path in folder.iterdir()
    )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            dataset = image_folder(folder, int(size_text), labels=not has_loose)
    except ImportError as error:
        raise CLIError(str(error)) from error
    except (FileNotFoundError, ValueError) as error:
        raise CLIError(str(error)) from error
    if dataset.skipped:
        path, reason = dataset.skipped[0]
        print(
            f"note: skipped {len(dataset.skipped)} unreadable image file(s) in {folder} "
            f"(first: {path}: {reason})",
            file=sys.stderr,
        )
    try:
        x, y = dataset.to_tensors()
    except OSError as error:
        raise CLIError(str(error).splitlines()[0]) from error
    return _holdout(f"folder:{folder}", x, y)


def data_source() -> str:
    """``"package"`` when ``pyautoencoder.data`` is installed, else ``"builtin"``."""
    return "package" if _builtin.has_package("data") else "builtin"


def load_data(spec: str, source: str | None = None) -> DataSplit:
    """Resolve a ``--data`` spec; unknown names list the valid ones.

    ``source`` picks ``pyautoencoder.data`` (``"package"``) or the command's own readers
    (``"builtin"``: digits and MNIST IDX files, every fifth example held out); ``None`` takes
    the package when it is installed.
    """
    source = source or data_source()
    if spec == "digits":
        if source == "builtin":
            x, y = _builtin.digits()
            # The file cycles through the classes 0-9: shuffle once (fixed seed) so that
            # "every fifth example" holds out every class, not only 0 and 5.
            order = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))
            return _holdout("digits", x[order], y[order])
        from ..data import digits

        return _from_split("digits", digits())
    if spec.startswith("mnist:"):
        folder = Path(spec.split(":", 1)[1]).expanduser()
        if not folder.exists():
            raise CLIError(f"MNIST folder not found: {folder}")
        if source == "builtin":
            return _holdout("mnist", *_builtin.mnist_idx(folder))
        from ..data import mnist_idx

        try:
            return _from_split("mnist", mnist_idx(folder))
        except FileNotFoundError as error:
            raise CLIError(f"no MNIST IDX files in {folder}: {error}") from error
    if spec == "shapes":
        if source == "builtin":
            raise CLIError(
                "the shapes data set needs pyautoencoder.data (pip install -U pyautoencoder)"
            )
        from ..data import shapes

        return _from_split("shapes", shapes())
    if spec.startswith("folder:"):
        return _load_folder(spec.split(":", 1)[1])
    if spec.startswith("shards:"):
        return _load_shards(spec.split(":", 1)[1])
    if spec.endswith((".npy", ".pt", ".pth")):
        return _load_file(Path(spec).expanduser())
    message = str(unknown_name("data set", spec, ["digits", "mnist", "shapes"]))
    raise CLIError(message.split(" Valid")[0] + " Valid: " + ", ".join(DATA_NAMES))
