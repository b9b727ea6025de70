"""``--data folder:<dir>[:<size>]``: images the test writes, labels, one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_helpers import FAST

from pyautoencoder.cli import main
from pyautoencoder.cli._data import load_data

Image = pytest.importorskip("PIL.Image", reason="folder: data needs Pillow (data extra)")


def _folder(root: Path, classes: tuple[str, ...] = ("a", "b"), per_class: int = 5) -> Path:
    for class_index, name in enumerate(classes):
        (root / name).mkdir(parents=True)
        for index in range(per_class):
            colour = (40 * index, 100 * class_index, 0)
            Image.new("RGB", (10, 12), colour).save(root / name / f"{index}.png")
    return root


def test_folder_spec_reads_images_at_the_size_with_labels_and_holds_out_a_fifth(
    tmp_path: Path,
) -> None:
    split = load_data(f"folder:{_folder(tmp_path / 'imgs')}:8")
    assert tuple(split.train_x.shape) == (8, 3, 8, 8)
    assert tuple(split.test_x.shape) == (2, 3, 8, 8)
    assert split.train_y is not None and set(split.train_y.tolist()) == {0, 1}


def test_folder_spec_without_size_uses_64_and_no_labels_for_loose_images(tmp_path: Path) -> None:
    for index in range(3):
        Image.new("L", (70, 80), index).save(tmp_path / f"{index}.png")
    split = load_data(f"folder:{tmp_path}")
    assert tuple(split.train_x.shape[1:]) == (3, 64, 64) and split.train_y is None


@pytest.mark.parametrize(
    ("setup", "fragment"), [("empty", "no images in"), ("missing", "not found")]
)
def test_folder_errors_are_one_line(
    setup: str, fragment: str, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    root = tmp_path / "imgs"
    if setup == "empty":
        root.mkdir()
    code = main(["train", "--model", "vae", "--data", f"folder:{root}", "--out", str(tmp_path)])
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err and fragment in err


@pytest.mark.slow
def test_train_a_resnet_vae_on_an_image_folder(tmp_path: Path) -> None:
    root = _folder(tmp_path / "imgs")
    args = ["--out", str(tmp_path / "runs"), "--name", "folder", "--no-report", *FAST]
    args += ["--net", "resnet", "--hidden", "8", "16"]
    assert (
        main(["train", "--model", "vae", "--data", f"folder:{root}:8", "--epochs", "1", *args]) == 0
    )
    assert (tmp_path / "runs" / "folder" / "checkpoints" / "latest").is_file()
