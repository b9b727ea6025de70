"""``pyautoencoder sample --sampler``: fitted once into the run folder, reused, in the report."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from PIL import Image

from pyautoencoder.cli import main


@pytest.fixture
def run_copy(demo_run: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "run"
    shutil.copytree(demo_run, copy)
    return copy


def test_sample_with_a_sampler_fits_it_once_and_reuses_it(
    run_copy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first, second = tmp_path / "a.png", tmp_path / "b.png"
    assert main(["sample", str(run_copy), "--sampler", "gmm:3", "-n", "9", "-o", str(first)]) == 0
    assert "fitted gmm:3" in capsys.readouterr().out
    assert (run_copy / "samplers" / "gmm-3" / "sampler.safetensors").is_file()
    assert main(["sample", str(run_copy), "--sampler", "gmm:3", "-n", "9", "-o", str(second)]) == 0
    assert "using the gmm:3 sampler fitted" in capsys.readouterr().out
    assert first.read_bytes() == second.read_bytes()  # same sampler, same seed
    assert Image.open(first).size[0] > 50


def test_report_shows_prior_and_fitted_samples_side_by_side(run_copy: Path) -> None:
    assert (
        main(["sample", str(run_copy), "--sampler", "normal", "-o", str(run_copy / "s.png")]) == 0
    )
    assert main(["report", str(run_copy), "--num-samples", "3"]) == 0
    html = (run_copy / "report.html").read_text()
    assert "id='fitted_samples'" in html
    assert "draws per row: the prior, normal" in html
    assert (run_copy / "figures" / "fitted_samples.png").is_file()


@pytest.mark.parametrize(
    ("spec", "message"),
    [("gmn:3", "Did you mean 'gmm'"), ("gmm:x", "must be an integer"), ("vamp", "VampPrior")],
)
def test_a_bad_sampler_is_one_line_naming_the_option(
    run_copy: Path, spec: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["sample", str(run_copy), "--sampler", spec, "-o", str(run_copy / "x.png")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert f"--sampler {spec}" in err and message in err
