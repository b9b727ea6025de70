"""``image_folder`` on PNG/JPEG files the tests write: decoding, resize/crop, labels, workers,
unreadable files and empty folders."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch.utils.data import DataLoader

from pyautoencoder.data import ImageFolder, image_folder

Image = pytest.importorskip("PIL.Image", reason="image_folder needs Pillow (data extra)")


def _write(path: Path, width: int, height: int, colour: tuple[int, int, int]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (width, height), colour).save(path)


def test_png_pixels_come_back_exactly_as_float_in_unit_range(tmp_path: Path) -> None:
    pixels = torch.randint(0, 256, (6, 6, 3), dtype=torch.uint8)
    Image.frombytes("RGB", (6, 6), bytes(pixels.flatten().tolist())).save(tmp_path / "a.png")
    dataset = image_folder(tmp_path, 6)
    image = dataset[0]
    assert isinstance(dataset, ImageFolder) and len(dataset) == 1
    assert image.dtype == torch.float32 and image.shape == (3, 6, 6)
    torch.testing.assert_close(image, pixels.permute(2, 0, 1).float() / 255)


def test_shorter_side_resized_and_centre_cropped(tmp_path: Path) -> None:
    # 36 x 4 image: left third red, middle third green, right third blue.
    image = Image.new("RGB", (36, 4), (255, 0, 0))
    image.paste((0, 255, 0), (12, 0, 24, 4))
    image.paste((0, 0, 255), (24, 0, 36, 4))
    image.save(tmp_path / "wide.png")
    out = image_folder(tmp_path, 2)[0]
    assert out.shape == (3, 2, 2)  # 36x4 -> 18x2 -> centre 2x2 = the green middle
    torch.testing.assert_close(out[1], torch.ones(2, 2), atol=0.05, rtol=0)
    assert float(out[0].max()) < 0.05 and float(out[2].max()) < 0.05


def test_jpeg_greyscale_mode_and_uppercase_extensions(tmp_path: Path) -> None:
    Image.new("RGB", (8, 8), (200, 200, 200)).save(tmp_path / "x.JPG", quality=95)
    image = image_folder(tmp_path, 4, mode="L")[0]
    assert image.shape == (1, 4, 4)
    torch.testing.assert_close(image, torch.full((1, 4, 4), 200 / 255), atol=0.02, rtol=0)


def test_labels_from_sorted_subfolders(tmp_path: Path) -> None:
    _write(tmp_path / "dogs" / "1.png", 5, 5, (1, 2, 3))
    _write(tmp_path / "cats" / "deep" / "2.png", 5, 5, (1, 2, 3))
    _write(tmp_path / "cats" / "3.jpeg", 5, 5, (1, 2, 3))
    (tmp_path / "notes.txt").write_text("not an image")
    dataset = image_folder(tmp_path, 4, labels=True)
    assert dataset.classes == ("cats", "dogs")
    assert [dataset[i][1] for i in range(len(dataset))] == [0, 0, 1]


def test_labels_refuse_loose_images(tmp_path: Path) -> None:
    _write(tmp_path / "a" / "1.png", 5, 5, (0, 0, 0))
    _write(tmp_path / "loose.png", 5, 5, (0, 0, 0))
    with pytest.raises(ValueError, match=r"loose\.png"):
        image_folder(tmp_path, 4, labels=True)


def test_works_with_dataloader_workers(tmp_path: Path) -> None:
    for index in range(4):
        _write(tmp_path / f"{index}.png", 7, 9, (index * 60, 0, 0))
    loader = DataLoader(image_folder(tmp_path, 4), batch_size=2, num_workers=2)
    batches = list(loader)
    assert [tuple(b.shape) for b in batches] == [(2, 3, 4, 4), (2, 3, 4, 4)]
    red = torch.cat(batches)[:, 0, 0, 0]
    torch.testing.assert_close(red, torch.tensor([0, 60, 120, 180]) / 255)


def test_unreadable_files_are_skipped_counted_and_warned(tmp_path: Path) -> None:
    _write(tmp_path / "good.png", 5, 5, (0, 0, 0))
    (tmp_path / "bad.png").write_bytes(b"this is not a png")
    with pytest.warns(UserWarning, match=r"skipped 1 unreadable file\(s\).*bad\.png"):
        dataset = image_folder(tmp_path, 4)
    assert len(dataset) == 1 and [path.name for path, _ in dataset.skipped] == ["bad.png"]


def test_unreadable_files_refused_with_raise(tmp_path: Path) -> None:
    _write(tmp_path / "good.png", 5, 5, (0, 0, 0))
    (tmp_path / "bad.jpg").write_bytes(b"")
    with pytest.raises(ValueError, match=r"unreadable image file .*bad\.jpg"):
        image_folder(tmp_path, 4, on_unreadable="raise")


def test_truncated_file_names_itself_when_decoded(tmp_path: Path) -> None:
    _write(tmp_path / "full.png", 64, 64, (0, 0, 0))
    data = (tmp_path / "full.png").read_bytes()
    Image.effect_noise((64, 64), 50).save(tmp_path / "noisy.png")
    noisy = (tmp_path / "noisy.png").read_bytes()
    (tmp_path / "noisy.png").write_bytes(noisy[: len(noisy) // 2])
    dataset = image_folder(tmp_path, 8)
    assert len(data) > 0 and len(dataset) == 2
    with pytest.raises(OSError, match=r"cannot decode image .*noisy\.png"):
        dataset[1]


@pytest.mark.parametrize(
    ("setup", "error", "message"),
    [
        ("empty", ValueError, "no images in"),
        ("missing", FileNotFoundError, "image folder not found"),
        ("all_bad", ValueError, "no readable images in"),
    ],
)
def test_empty_missing_or_all_unreadable_folders(
    tmp_path: Path, setup: str, error: type[Exception], message: str
) -> None:
    root = tmp_path / "root"
    if setup != "missing":
        root.mkdir()
    if setup == "all_bad":
        (root / "x.png").write_bytes(b"junk")
    with pytest.raises(error, match=message):
        image_folder(root, 4)


def test_bad_options_are_refused(tmp_path: Path) -> None:
    _write(tmp_path / "a.png", 5, 5, (0, 0, 0))
    with pytest.raises(ValueError, match="mode must be one of"):
        image_folder(tmp_path, 4, mode="CMYK")
    with pytest.raises(ValueError, match="on_unreadable must be"):
        image_folder(tmp_path, 4, on_unreadable="ignore")
    with pytest.raises((ValueError, TypeError), match="image_size"):
        image_folder(tmp_path, 0)


def test_fit_trains_a_resnet_vae_on_an_image_folder(tmp_path: Path) -> None:
    pytest.importorskip("lightning", reason="fit needs the train extra")
    from pyautoencoder.nets import create_model
    from pyautoencoder.training import fit

    for index in range(8):
        _write(tmp_path / f"{index}.png", 10, 9, (index * 30, 50, 100))
    model = create_model("vae", (3, 8, 8), 4, net="resnet", channels=(4, 8), latent_channels=2)
    result = fit(model, image_folder(tmp_path, 8), epochs=1, batch_size=4)
    assert torch.isfinite(torch.as_tensor(result.train_metrics["loss"]))
