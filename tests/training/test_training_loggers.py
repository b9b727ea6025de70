"""Fabric loggers of fit: TensorBoard event files, CSV, the automatic choice, clear errors."""

from __future__ import annotations

import csv
import importlib.util
import struct
from pathlib import Path
from typing import Any

import pytest
from training_helpers import QUIET, make_vae

from pyautoencoder.training import fit, read_metrics


def _scalars(event_file: Path) -> dict[str, dict[int, float]]:
    """``tag -> {step: value}`` from a TensorBoard event file (TFRecord framing, Event protos)."""
    from tensorboardX.proto.event_pb2 import Event

    data = event_file.read_bytes()
    scalars: dict[str, dict[int, float]] = {}
    offset = 0
    while offset < len(data):
        (length,) = struct.unpack_from("<Q", data, offset)
        payload = data[offset + 12 : offset + 12 + length]  # after length and its crc
        offset += 12 + length + 4  # payload crc
        event = Event.FromString(payload)
        for value in event.summary.value:
            scalars.setdefault(value.tag, {})[event.step] = value.simple_value
    return scalars


def _fit(tmp_path: Path, data: Any, **options: Any) -> Any:
    train, val = data
    return fit(
        make_vae(), train, val, epochs=2, batch_size=16, out_dir=tmp_path, **{**QUIET, **options}
    )


def test_tensorboard_logger_writes_the_logged_metrics(tmp_path: Path, data: Any) -> None:
    _fit(tmp_path, data, loggers="tensorboard", log_every_n_steps=2)
    files = list((tmp_path / "tensorboard").glob("version_*/events.out.tfevents.*"))
    assert len(files) == 1
    scalars = _scalars(files[0])
    events = read_metrics(tmp_path / "metrics.jsonl")
    train = [e for e in events if e["event"] == "train"]
    val = [e for e in events if e["event"] == "val"]
    assert len(train) > 3 and len(val) == 2
    for event in train:
        assert scalars["train/loss"][event["step"]] == pytest.approx(event["loss"], rel=1e-6)
        assert scalars["train/kl_divergence"][event["step"]] == pytest.approx(
            event["kl_divergence"], rel=1e-6, abs=1e-7
        )
    for event in val:
        assert scalars["val/loss"][event["step"]] == pytest.approx(event["loss"], rel=1e-6)


def _hide_tensorboard(monkeypatch: pytest.MonkeyPatch) -> None:
    find_spec = importlib.util.find_spec

    def without_tensorboard(name: str, *args: Any, **kwargs: Any) -> Any:
        if name in ("tensorboard", "tensorboardX"):
            return None
        return find_spec(name, *args, **kwargs)

    monkeypatch.setattr(importlib.util, "find_spec", without_tensorboard)


def test_asking_for_tensorboard_without_it_names_the_packages(
    tmp_path: Path, data: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    _hide_tensorboard(monkeypatch)
    with pytest.raises(ImportError, match=r"tensorboard or tensorboardX.*pip install tensorboard"):
        _fit(tmp_path, data, loggers="tensorboard")
    assert not (tmp_path / "checkpoints").exists()  # it fails before training


def test_automatic_choice_follows_what_is_installed(
    tmp_path: Path, data: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fit(tmp_path / "with", data)  # loggers=None: TensorBoard when installed (it is, in tests)
    assert list((tmp_path / "with" / "tensorboard").glob("version_*/events.out.tfevents.*"))
    _hide_tensorboard(monkeypatch)
    _fit(tmp_path / "without", data)
    assert (tmp_path / "without" / "metrics.jsonl").is_file()
    assert not (tmp_path / "without" / "tensorboard").exists()


def test_false_turns_every_logger_off(tmp_path: Path, data: Any) -> None:
    _fit(tmp_path, data, loggers=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoints", "metrics.jsonl"]


def test_csv_logger_and_a_list_of_loggers(tmp_path: Path, data: Any) -> None:
    _fit(tmp_path, data, loggers=["csv", "tensorboard"], log_every_n_steps=4)
    (metrics_csv,) = (tmp_path / "csv").glob("version_*/metrics.csv")
    rows = list(csv.DictReader(metrics_csv.open()))
    logged = {int(row["step"]): float(row["train/loss"]) for row in rows if row["train/loss"]}
    events = [e for e in read_metrics(tmp_path / "metrics.jsonl") if e["event"] == "train"]
    assert logged == pytest.approx({e["step"]: e["loss"] for e in events}, rel=1e-6)
    assert list((tmp_path / "tensorboard").glob("version_*/events.out.tfevents.*"))


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"loggers": "wandb", "out_dir": "runs/x"}, "unknown logger name 'wandb'"),
        ({"loggers": ["csv", "mlflow"], "out_dir": "runs/x"}, "unknown logger name 'mlflow'"),
        ({"loggers": "tensorboard"}, "writes under out_dir; set out_dir"),
    ],
)
def test_bad_logger_options_are_named(options: dict, message: str, data: Any) -> None:
    with pytest.raises(ValueError, match=message):
        fit(make_vae(), data[0], epochs=1, **QUIET, **options)
