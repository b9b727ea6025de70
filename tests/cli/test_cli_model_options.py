"""Model options from the command line: ``--set``, ``models --details``, aliases, dataset size."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import FAST

from pyautoencoder.cli import main, model_names_in_source
from pyautoencoder.cli._options import model_options, parse_set
from pyautoencoder.cli._runs import load_run
from pyautoencoder.registry import get_model_entry, list_models


@pytest.fixture
def tiny_data(tmp_path: Path) -> Path:
    """40 examples of 16 features in [0, 1]: 32 train / 8 held out (every fifth)."""
    path = tmp_path / "tiny.npy"
    np.save(path, np.random.default_rng(0).random((40, 16), dtype=np.float32))
    return path


def _train(model: str, data: Path, out: Path, *extra: str) -> int:
    tiny = ["--hidden", "8", "--latent-dim", "2", "--epochs", "1", "--batch-size", "16"]
    where = ["--data", str(data), "--out", str(out), "--name", "run"]
    return main(["train", "--model", model, *where, *tiny, "--no-report", *FAST, *extra])


def _one_line_error(capsys: pytest.CaptureFixture, *fragments: str) -> str:
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err, err
    assert err.startswith("pyautoencoder: error: "), err
    for fragment in fragments:
        assert fragment in err, err
    return err


def test_set_reaches_the_constructor_is_stored_and_reapplied_on_resume(
    tiny_data: Path, tmp_path: Path
) -> None:
    assert _train("vae", tiny_data, tmp_path, "--set", "free_bits=0.25") == 0
    run = tmp_path / "run"
    assert json.loads((run / "run.json").read_text())["options"] == {"free_bits": 0.25}
    assert main(["train", "--resume", str(run), "--epochs", "2", "--no-report", *FAST]) == 0
    _, spec, model, _ = load_run(run)
    assert spec.options == {"free_bits": 0.25}
    assert model.free_bits == 0.25  # type: ignore[attr-defined]


def test_beta_tcvae_gets_the_training_set_size_and_the_hyphen_name(
    tiny_data: Path, tmp_path: Path
) -> None:
    assert _train("beta-tcvae", tiny_data, tmp_path, "--set", "sampling=mss") == 0
    spec = json.loads((tmp_path / "run" / "run.json").read_text())
    assert spec["model"] == "beta_tcvae"
    assert spec["options"] == {"sampling": "mss", "dataset_size": 32}  # 40 - every fifth
    _, _, model, _ = load_run(tmp_path / "run")
    assert model.dataset_size == 32 and model.sampling == "mss"  # type: ignore[attr-defined]


def test_dataset_size_is_declared_by_the_registry_not_guessed() -> None:
    assert get_model_entry("beta_tcvae").dataset_size_arg == "dataset_size"
    assert all(
        get_model_entry(name).dataset_size_arg is None
        for name in list_models()
        if name != "beta_tcvae"
    )


@pytest.mark.parametrize("alias", ["beta-tcvae", "Beta_TCVAE", "BETA-TCVAE"])
def test_registry_lookup_accepts_hyphens_and_any_case(alias: str) -> None:
    assert get_model_entry(alias).name == "beta_tcvae"


def test_set_values_are_typed_from_the_signature() -> None:
    values = parse_set(["dead_code_steps=none", "ema=false", "num_codes=16", "decay=0.9"], "vqvae")
    assert values == {"dead_code_steps": None, "ema": False, "num_codes": 16, "decay": 0.9}
    assert type(values["num_codes"]) is int and type(values["decay"]) is float
    assert parse_set(["variant=ii", "lambda-d=2"], "dip_vae") == {"variant": "ii", "lambda_d": 2.0}


@pytest.mark.parametrize(
    ("model", "item", "fragments"),
    [
        ("vae", "free_bit=0.5", ["no option 'free_bit'", "Did you mean 'free_bits'"]),
        ("vae", "free_bits=abc", ["expects float | None", "'abc'"]),
        ("vae", "kl_estimator=exact", ["'auto' | 'analytic' | 'monte_carlo'", "'exact'"]),
        ("vqvae", "num_codes=1.5", ["expects int", "'1.5'"]),
        ("vqvae", "ema=maybe", ["expects bool"]),
        ("vae", "likelihood=gaussian", ["set by --likelihood"]),
        ("vae", "latent_dim=4", ["set by --latent-dim"]),
        ("vae", "posterior=iaf:2", ["set by --posterior"]),
        ("cvae", "conditioning=none", ["an object; set it from Python"]),
        ("vae", "free_bits", ["--set expects key=value"]),
        ("ae", "anything=1", ["model 'ae' has no option 'anything'"]),
    ],
)
def test_set_mistakes_are_one_line_exit_2(
    model: str, item: str, fragments: list[str], capsys: pytest.CaptureFixture, tmp_path: Path
) -> None:
    args = ["train", "--model", model, "--data", "digits", "--out", str(tmp_path), "--set", item]
    assert main(args) == 2
    _one_line_error(capsys, *fragments)
    assert not any(tmp_path.iterdir())  # refused before anything was written


def test_resume_refuses_a_different_option(
    tiny_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    assert _train("vae", tiny_data, tmp_path, "--set", "free_bits=0.25") == 0
    capsys.readouterr()
    assert main(["train", "--resume", str(tmp_path / "run"), "--set", "free_bits=0.5"]) == 2
    _one_line_error(capsys, "trained with free_bits=0.25, got --set free_bits=0.5")


def test_models_lists_every_registered_model(capsys: pytest.CaptureFixture) -> None:
    assert main(["models"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert {line.split()[0] for line in lines if line.strip()} >= set(list_models())


def test_models_details_lists_options_with_types_and_defaults(
    capsys: pytest.CaptureFixture,
) -> None:
    assert main(["models", "--details", "beta-tcvae"]) == 0
    out = capsys.readouterr().out
    for option in model_options("beta_tcvae"):
        assert option.name in out
    assert "'mws' | 'mss'" in out and "default mws" in out
    assert "the number of training examples" in out  # dataset_size is filled in
    gamma = next(line for line in out.splitlines() if line.split()[:1] == ["gamma"])
    assert gamma.split()[1:] == ["float", "default", "1.0"]


def test_models_details_unknown_name_is_one_line(capsys: pytest.CaptureFixture) -> None:
    assert main(["models", "--details", "vea"]) == 2
    _one_line_error(capsys, "unknown model 'vea'", "Did you mean 'vae'")


def test_train_help_lists_models_and_shows_defaults(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    assert all(name in text for name in list_models())
    for fragment in ("passes over the training data (20)", "batch size per device (128)"):
        assert fragment in text
    assert "latent size D_z (8)" in text and "Adam step size (0.001)" in text


def test_help_reads_the_model_names_from_the_source_without_importing_them() -> None:
    assert model_names_in_source() == list_models()


def test_a_set_mistake_in_a_process_is_one_line_exit_2(tmp_path: Path) -> None:
    args = ["--model", "vae", "--data", "digits", "--out", str(tmp_path), "--set", "fre_bits=1"]
    done = subprocess.run(
        [sys.executable, "-m", "pyautoencoder", "train", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "Did you mean 'free_bits'" in done.stderr


def test_quantizer_option_builds_the_quantizer_and_reports_usage(
    tiny_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    assert _train("vqvae", tiny_data, tmp_path, "--quantizer", "fsq:5,3,3") == 0
    out = capsys.readouterr().out
    assert "held-out codes used" in out and "held-out dead codes" in out
    _, spec, model, _ = load_run(tmp_path / "run")
    assert spec.options["quantizer"] == "fsq:5,3,3"
    assert type(model.quantizer).__name__ == "FSQ" and model.num_codes == 45
    evaluation = json.loads((tmp_path / "run" / "evaluation.json").read_text())
    assert 0 < evaluation["usage_codes_used"] <= 1 and evaluation["usage_perplexity"] >= 1
    # the trainer logs the same epoch-level usage with its validation events
    events = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").open()]
    last_val = [e for e in events if e["event"] == "val"][-1]
    for key in ("usage_codes_used", "usage_perplexity", "usage_entropy", "usage_dead_codes"):
        assert last_val[key] == pytest.approx(evaluation[key]), key


@pytest.mark.parametrize(
    ("model", "spec", "fragment"),
    [
        ("vae", "fsq:8,5", "--quantizer applies to quantized models such as vqvae, not 'vae'"),
        ("vqvae", "fsq:8,1", "--quantizer: levels must be"),
        ("vqvae", "rvqq:3", "Did you mean 'rvq'"),
        ("vqvae", "gvq:3", "groups must be >= 1 and divide the code size 2"),
    ],
)
def test_bad_quantizer_specs_are_one_line_errors(
    tiny_data: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture,
    model: str,
    spec: str,
    fragment: str,
) -> None:
    assert _train(model, tiny_data, tmp_path, "--quantizer", spec) == 2
    _one_line_error(capsys, fragment)


@pytest.mark.slow
def test_train_prior_then_sample_and_report(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    images = np.random.default_rng(0).random((60, 1, 4, 4), dtype=np.float32)
    np.save(tmp_path / "img.npy", images)
    data = tmp_path / "img.npy"
    assert _train("vqvae", data, tmp_path, "--quantizer", "rvq:2", "--set", "num_codes=8") == 0
    run = str(tmp_path / "run")
    assert main(["sample", run, "-n", "4", "-o", str(tmp_path / "s.png")]) == 2
    _one_line_error(capsys, "no prior over its codes yet", f"pyautoencoder train-prior {run}")
    prior_args = ["--epochs", "2", "--dim", "16", "--heads", "2", "--depth", "1", "--quiet"]
    assert main(["train-prior", run, *prior_args]) == 0
    out = capsys.readouterr().out
    assert "bits per code (uniform: 3.000)" in out
    saved = json.loads((tmp_path / "run" / "prior" / "config.json").read_text())
    assert saved["prior"]["index_shape"] == [2] and saved["held_out_bits_per_code"] > 0
    assert main(["sample", run, "-n", "4", "-o", str(tmp_path / "s.png")]) == 0
    assert (tmp_path / "s.png").stat().st_size > 100
    assert main(["report", run, "--num-samples", "2"]) == 0
    html = (tmp_path / "run" / "report.html").read_text()
    assert "draws from the code prior" in html and "bits per code (uniform 3.000)" in html
    assert main(["train-prior", str(tmp_path)]) == 2  # not a run folder
