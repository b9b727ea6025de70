"""``--accelerator --devices --num-nodes --strategy --precision --logger`` reach the trainer."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import FAST

from pyautoencoder.cli import _commands, build_parser, main
from pyautoencoder.cli._errors import CLIError
from pyautoencoder.training import find_checkpoint, load_trainer_state

_FABRIC = ("accelerator", "devices", "num_nodes", "strategy", "precision")


class _CapturedError(CLIError):
    pass


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Replace the trainer by one that records its options and stops the command (exit 2)."""
    calls: list[dict[str, Any]] = []

    class RecordingTrainer:
        def __init__(self, **options: Any) -> None:
            # run.json as the trainer finds it: the refused run's folder is removed afterwards
            options["run_json"] = json.loads((Path(options["out_dir"]) / "run.json").read_text())
            calls.append(options)
            raise _CapturedError("trainer options captured")

    monkeypatch.setattr(_commands, "Trainer", RecordingTrainer)
    return calls


def _train(tmp_path: Path, *options: str) -> list[str]:
    return ["train", "--model", "vae", "--data", "digits", "--out", str(tmp_path), *options]


def test_every_fabric_option_passes_through(tmp_path: Path, captured: list) -> None:
    options = [
        *("--accelerator", "cuda", "--devices", "4", "--num-nodes", "3"),
        *("--strategy", "fsdp", "--precision", "bf16-mixed", "--logger", "csv"),
    ]
    assert main(_train(tmp_path, "--name", "r", *options)) == 2
    (call,) = captured
    assert {k: call[k] for k in _FABRIC} == {
        "accelerator": "cuda",
        "devices": 4,
        "num_nodes": 3,
        "strategy": "fsdp",
        "precision": "bf16-mixed",
    }
    assert call["loggers"] == "csv"
    assert not (tmp_path / "r").exists()  # a run refused before its first checkpoint is removed
    stored = call["run_json"]
    assert {k: stored[k] for k in _FABRIC} == {
        "accelerator": "cuda",
        "devices": 4,
        "num_nodes": 3,
        "strategy": "fsdp",
        "precision": "bf16-mixed",
    }


@pytest.mark.parametrize(
    ("options", "devices", "strategy"),
    [
        ([], 1, "auto"),
        (["--devices", "2"], 2, "ddp"),
        (["--devices", "0,1"], "0,1", "ddp"),
        (["--devices", "1,"], "1,", "auto"),
        (["--devices", "auto"], "auto", "auto"),
        (["--devices", "-1"], -1, "auto"),
        (["--num-nodes", "2"], 1, "ddp"),
        (["--devices", "2", "--strategy", "ddp_spawn"], 2, "ddp_spawn"),
    ],
)
def test_defaults_and_the_strategy_rule(
    tmp_path: Path, captured: list, options: list, devices: Any, strategy: str
) -> None:
    assert main(_train(tmp_path, *options)) == 2
    (call,) = captured
    assert call["devices"] == devices and call["strategy"] == strategy
    if not options:
        assert call["accelerator"] == "auto" and call["precision"] == "32-true"
        assert call["num_nodes"] == 1 and call["loggers"] is None  # auto: TensorBoard if there


def test_resume_keeps_the_runs_values_unless_given(tmp_path: Path, captured: list) -> None:
    first = ["--name", "r", "--devices", "2", "--precision", "16-mixed", "--accelerator", "cpu"]
    assert main(_train(tmp_path, *first)) == 2
    (tmp_path / "r").mkdir()  # as if the first run had started: its run.json
    (tmp_path / "r" / "run.json").write_text(json.dumps(captured[0]["run_json"]))
    run = str(tmp_path / "r")
    assert main(["train", "--resume", run]) == 2
    assert main(["train", "--resume", run, "--precision", "bf16-mixed", "--logger", "none"]) == 2
    _, kept, changed = captured
    assert (kept["devices"], kept["precision"], kept["accelerator"]) == (2, "16-mixed", "cpu")
    assert kept["strategy"] == "ddp"
    assert (changed["devices"], changed["precision"]) == (2, "bf16-mixed")
    assert changed["loggers"] == []
    assert json.loads((tmp_path / "r" / "run.json").read_text())["precision"] == "bf16-mixed"


@pytest.mark.parametrize(
    ("options", "fragment"),
    [
        (["--num-nodes", "0"], "--num-nodes must be >= 1, got 0"),
        (["--devices", "0"], "--devices must be >= 1, -1 (all), auto or indices, got 0"),
    ],
)
def test_bad_counts_are_one_line_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture, options: list, fragment: str
) -> None:
    assert main(_train(tmp_path, *options)) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"pyautoencoder: error: {fragment}"


@pytest.mark.parametrize("options", [["--devices", "two"], ["--logger", "wandb"]])
def test_malformed_values_are_usage_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture, options: list
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(_train(tmp_path, *options))
    assert exit_info.value.code == 2
    assert f"error: argument {options[0]}: " in capsys.readouterr().err


def test_help_documents_every_fabric_option(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for option in ("--accelerator", "--devices", "--num-nodes", "--strategy", "--precision"):
        assert option in text
    assert "lightning.fabric.Fabric" in text and "tensorboardX" in text


@pytest.mark.slow
def test_a_real_run_uses_the_options(tmp_path: Path) -> None:
    options = [
        *("--accelerator", "cpu", "--devices", "1", "--num-nodes", "1", "--strategy", "auto"),
        *("--precision", "bf16-mixed", "--logger", "tensorboard", "--epochs", "1"),
        *("--batch-size", "256", "--name", "r", "--no-report", *FAST),
    ]
    assert main(_train(tmp_path, *options)) == 0
    run = tmp_path / "r"
    config = load_trainer_state(find_checkpoint(run) / "trainer_state.pt")["run"]["config"]
    assert {k: config[k] for k in _FABRIC} == {
        "accelerator": "cpu",
        "devices": 1,
        "num_nodes": 1,
        "strategy": "auto",
        "precision": "bf16-mixed",
    }
    assert list((run / "tensorboard").glob("version_*/events.out.tfevents.*"))
