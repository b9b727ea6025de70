"""IDX reading and the MNIST folder loader, on small IDX files written by the tests."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import pytest
import torch

from pyautoencoder.data import DataFormatError, mnist_idx, read_idx

_TYPE_CODES = {torch.uint8: 0x08, torch.int16: 0x0B, torch.int32: 0x0C, torch.float32: 0x0D}
_BIG_ENDIAN = {torch.uint8: ">u1", torch.int16: ">i2", torch.int32: ">i4", torch.float32: ">f4"}


def idx_bytes(values: torch.Tensor) -> bytes:
    """An IDX file for ``values``, written with ``struct`` (an independent big-endian writer)."""
    header = bytes([0, 0, _TYPE_CODES[values.dtype], values.dim()])
    header += b"".join(struct.pack(">I", size) for size in values.shape)
    fmt = {torch.uint8: "B", torch.int16: "h", torch.int32: "i", torch.float32: "f"}
    flat = values.reshape(-1).tolist()
    return header + struct.pack(f">{len(flat)}{fmt[values.dtype]}", *flat)


def write(path: Path, data: bytes, gz: bool = False) -> Path:
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzip"])
@pytest.mark.parametrize("dtype", [torch.uint8, torch.int16, torch.int32, torch.float32])
def test_read_idx_returns_the_written_values(tmp_path: Path, dtype: torch.dtype, gz: bool) -> None:
    values = (torch.arange(24) * 37 - 300).reshape(2, 3, 4)
    values = (values % 256).to(dtype) if dtype == torch.uint8 else values.to(dtype)
    if dtype == torch.float32:
        values = values / 7
    result = read_idx(write(tmp_path / "values.idx", idx_bytes(values), gz))
    assert result.dtype == dtype and result.shape == (2, 3, 4)
    torch.testing.assert_close(result, values, rtol=0, atol=0)


def test_truncated_body_is_reported_with_sizes(tmp_path: Path) -> None:
    data = idx_bytes(torch.zeros(3, 4, 4, dtype=torch.uint8))
    path = write(tmp_path / "short-idx3-ubyte", data[:-5])
    with pytest.raises(
        DataFormatError, match=r"truncated: .*\(3, 4, 4\) \(48 bytes.*holds 43"
    ) as e:
        read_idx(path)
    assert str(path) in str(e.value) and "\n" not in str(e.value)


def test_trailing_bytes_are_reported(tmp_path: Path) -> None:
    data = idx_bytes(torch.zeros(2, dtype=torch.uint8)) + b"\x01"
    with pytest.raises(DataFormatError, match="has trailing bytes"):
        read_idx(write(tmp_path / "long", data))


@pytest.mark.parametrize(
    "data",
    [b"\x00\x01\x08\x01\x00\x00\x00\x01\x05", b"\x00\x00\x07\x01\x00\x00\x00\x01\x05", b"PK\x03"],
    ids=["nonzero_magic", "unknown_type", "zip"],
)
def test_wrong_magic_is_reported(tmp_path: Path, data: bytes) -> None:
    path = write(tmp_path / "bad", data)
    with pytest.raises(DataFormatError, match="not an IDX file") as error:
        read_idx(path)
    assert str(path) in str(error.value)


def test_truncated_header_is_reported(tmp_path: Path) -> None:
    with pytest.raises(DataFormatError, match=r"truncated IDX header \(3 dimensions need 16"):
        read_idx(write(tmp_path / "header", b"\x00\x00\x08\x03\x00\x00\x00\x02"))


def test_truncated_gzip_is_reported(tmp_path: Path) -> None:
    data = gzip.compress(idx_bytes(torch.zeros(50, dtype=torch.uint8)))
    with pytest.raises(DataFormatError, match="corrupted or truncated gzip"):
        read_idx(write(tmp_path / "cut.gz", data[:-10]))


def test_missing_file_raises_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="IDX file not found"):
        read_idx(tmp_path / "absent")


def _write_split(folder: Path, prefix: str, images: torch.Tensor, gz: bool = True) -> None:
    suffix = ".gz" if gz else ""
    labels = (torch.arange(images.shape[0]) % 10).to(torch.uint8)
    write(folder / f"{prefix}-images-idx3-ubyte{suffix}", idx_bytes(images), gz)
    write(folder / f"{prefix}-labels-idx1-ubyte{suffix}", idx_bytes(labels), gz)


def _images(n: int, seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, 4, 4), generator=generator, dtype=torch.uint8)


def test_only_the_test_split_uses_the_every_fifth_convention(tmp_path: Path) -> None:
    images = _images(12, 0)
    _write_split(tmp_path, "t10k", images)
    split = mnist_idx(tmp_path)
    held_out = torch.arange(12) % 5 == 0
    torch.testing.assert_close(split.test_x[:, 0], images[held_out].float() / 255)
    torch.testing.assert_close(split.train_x[:, 0], images[~held_out].float() / 255)
    assert split.train_x.shape == (9, 1, 4, 4) and split.train_x.dtype == torch.float32
    torch.testing.assert_close(split.test_y, torch.tensor([0, 5, 0]))


def test_train_and_test_files_give_the_two_splits(tmp_path: Path) -> None:
    train, test = _images(7, 1), _images(3, 2)
    _write_split(tmp_path, "train", train, gz=False)
    _write_split(tmp_path, "t10k", test, gz=True)
    split = mnist_idx(tmp_path)
    torch.testing.assert_close(split.train_x[:, 0], train.float() / 255)
    torch.testing.assert_close(split.test_x[:, 0], test.float() / 255)
    assert split.train_y.dtype == torch.int64 and split.train_y.shape == (7,)


def test_binarize_samples_each_pixel_once_with_the_seeded_generator(tmp_path: Path) -> None:
    images = _images(10, 3)
    _write_split(tmp_path, "t10k", images)
    split = mnist_idx(tmp_path, binarize=True, seed=4)
    reference = torch.bernoulli(
        images.reshape(10, -1).float() / 255, generator=torch.Generator().manual_seed(4)
    ).reshape(10, 1, 4, 4)
    held_out = torch.arange(10) % 5 == 0
    torch.testing.assert_close(split.test_x, reference[held_out], rtol=0, atol=0)
    torch.testing.assert_close(split.train_x, reference[~held_out], rtol=0, atol=0)


def test_label_count_mismatch_names_the_labels_file(tmp_path: Path) -> None:
    write(tmp_path / "t10k-images-idx3-ubyte", idx_bytes(_images(4, 0)))
    write(tmp_path / "t10k-labels-idx1-ubyte", idx_bytes(torch.zeros(3, dtype=torch.uint8)))
    with pytest.raises(DataFormatError, match=r"t10k-labels-idx1-ubyte: expected one label"):
        mnist_idx(tmp_path)


def test_missing_folder_or_files_raise_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="MNIST folder not found"):
        mnist_idx(tmp_path / "absent")
    write(tmp_path / "t10k-images-idx3-ubyte", idx_bytes(_images(4, 0)))  # no labels
    with pytest.raises(FileNotFoundError, match="no MNIST IDX files"):
        mnist_idx(tmp_path)


MNIST = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "mnist"


@pytest.mark.skipif(
    not (MNIST / "t10k-images-idx3-ubyte.gz").is_file(),
    reason="the official MNIST test files (../shared/data/mnist) are not on this machine",
)
def test_official_mnist_test_split_follows_the_mnist_10k_convention() -> None:
    split = mnist_idx(MNIST)
    assert split.train_x.shape == (8000, 1, 28, 28) and split.test_x.shape == (2000, 1, 28, 28)
    assert float(split.train_x.min()) >= 0.0 and float(split.train_x.max()) == 1.0
    raw = gzip.decompress((MNIST / "t10k-labels-idx1-ubyte.gz").read_bytes())[8:]
    labels = torch.tensor(list(raw))  # an independent read of the label file (8-byte header)
    torch.testing.assert_close(split.test_y, labels[::5])
    torch.testing.assert_close(split.train_y, labels[torch.arange(10000) % 5 != 0])
    assert torch.bincount(split.train_y, minlength=10).min() > 600
