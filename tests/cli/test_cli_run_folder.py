"""Loose ends of the command: sample into the run folder, a finished --resume, the defaults."""

from __future__ import annotations

import shutil
from dataclasses import fields
from pathlib import Path

import pytest
from cli_helpers import FAST

from pyautoencoder.cli import _defaults, build_parser, main
from pyautoencoder.cli._runs import RunSpec
from pyautoencoder.nets import from_pretrained


def test_sample_writes_into_the_run_folder(
    demo_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = tmp_path / "run"
    shutil.copytree(demo_run, run)
    monkeypatch.chdir(tmp_path)
    assert main(["sample", str(run), "-n", "4"]) == 0
    assert (run / "samples.png").is_file()
    assert not (tmp_path / "samples.png").exists()


def test_resume_with_no_more_epochs_says_so_and_trains_nothing(
    demo_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    run = tmp_path / "run"
    shutil.copytree(demo_run, run)
    before = (run / "checkpoints" / "latest").read_text()
    capsys.readouterr()
    assert main(["train", "--resume", str(run), *FAST]) == 0
    out = capsys.readouterr().out
    assert "nothing to train" in out and "give --epochs 4 or more" in out
    assert "trained" not in out.replace("has trained", "")
    assert (run / "checkpoints" / "latest").read_text() == before


def test_from_pretrained_loads_a_cli_run_folder(demo_run: Path) -> None:
    model = from_pretrained(demo_run)
    assert type(model).__name__ == "VAE"


def test_the_parser_and_run_json_take_their_defaults_from_one_module() -> None:
    parser = build_parser()
    demo = parser.parse_args(["demo"])
    train = parser.parse_args(["train", "--model", "vae", "--data", "digits"])
    for args in (demo, train):
        assert args.hidden == list(_defaults.HIDDEN)
        assert args.likelihood == _defaults.LIKELIHOOD
        assert args.seed == _defaults.SEED
    for option, value in _defaults.DEMO_DEFAULTS.items():
        assert getattr(demo, option) == value
    assert train.lr == _defaults.TRAIN_LR
    spec_defaults = {f.name: f.default for f in fields(RunSpec)}
    assert spec_defaults["likelihood"] == _defaults.LIKELIHOOD
    assert RunSpec("vae", "digits", [1]).hidden == list(_defaults.HIDDEN)
    for option, value in _defaults.TRAIN_DEFAULTS.items():
        assert spec_defaults[option] == value
