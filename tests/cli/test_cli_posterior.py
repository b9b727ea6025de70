"""``--posterior``: every posterior from the command line, stored in run.json, clear mistakes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import FAST

from pyautoencoder.cli import main
from pyautoencoder.cli._runs import load_run
from pyautoencoder.distributions import InverseAutoregressiveFlow


@pytest.fixture
def tiny_data(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.npy"
    np.save(path, np.random.default_rng(0).random((40, 16), dtype=np.float32))
    return path


def _train(model: str, data: Path, out: Path, *extra: str) -> int:
    tiny = ["--hidden", "8", "--latent-dim", "2", "--epochs", "1", "--batch-size", "16"]
    where = ["--data", str(data), "--out", str(out), "--name", "run"]
    return main(["train", "--model", model, *where, *tiny, "--no-report", *FAST, *extra])


@pytest.mark.slow
def test_posterior_reaches_the_model_is_stored_and_evaluates(
    tiny_data: Path, tmp_path: Path
) -> None:
    assert _train("vae", tiny_data, tmp_path, "--posterior", "iaf:2") == 0
    run = tmp_path / "run"
    assert json.loads((run / "run.json").read_text())["posterior"] == "iaf:2"
    _, spec, model, _ = load_run(run)
    assert spec.posterior == "iaf:2"
    assert isinstance(model.latent_posterior, InverseAutoregressiveFlow)
    assert model.latent_posterior.num_flows == 2  # type: ignore[union-attr]
    assert main(["evaluate", str(run), "--num-samples", "4"]) == 0


@pytest.mark.parametrize(
    ("model", "posterior", "fragment"),
    [
        ("vae", "iaff:2", "Did you mean 'iaf'"),
        ("vae", "planar:0", "integer >= 1"),
        ("vae", "full:3", "only applies to flows"),
        ("ae", "iaf:2", "--posterior does not apply to model 'ae'"),
    ],
)
def test_posterior_mistakes_are_one_line_exit_2(
    model: str,
    posterior: str,
    fragment: str,
    tiny_data: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture,
) -> None:
    out = tmp_path / "runs"
    assert _train(model, tiny_data, out, "--posterior", posterior) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err, err
    assert err.startswith("pyautoencoder: error: ") and fragment in err, err


def _registered_specs() -> list[str]:
    from pyautoencoder.distributions import FlowPosterior, available_posteriors
    from pyautoencoder.distributions._posteriors import POSTERIORS

    return [
        f"{name}:2" if issubclass(POSTERIORS.get(name), FlowPosterior) else name
        for name in available_posteriors()
    ]


@pytest.mark.slow
@pytest.mark.parametrize("posterior", [p for p in _registered_specs() if p != "iaf:2"])
def test_every_registered_posterior_trains_from_the_command_line(
    posterior: str, tiny_data: Path, tmp_path: Path
) -> None:
    assert _train("vae", tiny_data, tmp_path, "--posterior", posterior) == 0
    _, spec, model, _ = load_run(tmp_path / "run")
    assert spec.posterior == posterior
    assert model.latent_posterior.spec() == posterior  # type: ignore[union-attr]
