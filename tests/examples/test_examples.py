"""Every script in examples/ runs (marker ``examples``; CI runs them), and says what it shows.

Each script runs in a fresh process with the short settings of ``QUICK_ARGS`` (the bundled
digits, a few epochs); ``CHECKS`` then reads what it printed and wrote. The MNIST-10k branch of
the data choice runs when the files are on this machine.
"""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from pyautoencoder.data import FACTOR_NAMES

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SCRIPTS = sorted(EXAMPLES.glob("*.py"))
MNIST_DIR = EXAMPLES.parents[1] / "shared" / "data" / "mnist"
DIGITS = ["--data", "digits"]
# Short settings so the suite stays fast; each script's defaults are what users run.
QUICK_ARGS: dict[str, list[str]] = {
    "quickstart.py": ["--epochs", "3"],
    "plot_reconstructions.py": ["--epochs", "2"],
    "iwae_bounds.py": [*DIGITS, "--epochs", "1", "--k", "1", "10", "--eval-size", "200"],
    "vqvae_tokenizer.py": [*DIGITS, "--epochs", "3"],
    "quantizer_tokenizer.py": [*DIGITS, "--epochs", "2", "--prior-epochs", "2"],
    "denoising_ae.py": [*DIGITS, "--epochs", "3"],
    "beta_vae_shapes.py": ["--epochs", "2"],
    "fit_beta_warmup.py": [*DIGITS, "--epochs", "2", "--warmup-epochs", "1"],
    "checkpoint_resume.py": [*DIGITS, "--epochs", "1"],
    "fitted_samplers.py": [*DIGITS, "--epochs", "3", "--fit-steps", "50"],
    "sparse_autoencoder.py": ["--epochs", "3"],
    "adversarial_image_ae.py": ["--steps", "6", "--num-train", "64", "--batch-size", "8"],
}


def numbers(pattern: str, text: str) -> list[float]:
    """The floats captured by the first match of ``pattern`` in ``text`` (which must match)."""
    match = re.search(pattern, text)
    assert match is not None, f"no line matching {pattern!r} in:\n{text}"
    return [float(group) for group in match.groups()]


def check_reconstructions(stdout: str, out: Path) -> None:
    for name in ("reconstructions.png", "prior_samples.png"):
        assert (out / name).stat().st_size > 1000


def check_iwae(stdout: str, out: Path) -> None:
    for model in ("VAE", "IWAE"):
        l1, l10 = numbers(rf"(?m)^{model}\s+L_1=\s*(\S+)\s+L_10=\s*(\S+)", stdout)
        assert l1 < l10 < 0, f"{model}: L_10 must exceed the ELBO L_1 (got {l1}, {l10})"
    assert (out / "iwae_bounds.png").stat().st_size > 1000


def check_vqvae(stdout: str, out: Path) -> None:
    used, codes, perplexity = numbers(r"codes used: (\d+)/(\d+), perplexity (\S+)", stdout)
    assert 2 <= used <= codes and 1.5 < perplexity <= used
    error, baseline = numbers(r"decoded tokens (\S+) \(mean-image baseline (\S+)\)", stdout)
    assert error < baseline
    assert (out / "vqvae_tokens.png").stat().st_size > 1000


def check_denoising(stdout: str, out: Path) -> None:
    noisy, denoised = numbers(r"noisy input (\S+), denoised (\S+)", stdout)
    assert denoised < noisy
    assert (out / "denoising.png").stat().st_size > 1000


def check_beta_vae(stdout: str, out: Path) -> None:
    (score,) = numbers(r"MIG = (\S+) \(", stdout)
    assert 0.0 <= score <= 1.0
    gaps = re.search(r"per factor: (.*)\)", stdout)
    assert gaps is not None
    assert [gap.split()[0] for gap in gaps.group(1).split(", ")] == list(FACTOR_NAMES)
    assert (out / "beta_vae_traversals.png").stat().st_size > 1000


def check_warmup(stdout: str, out: Path) -> None:
    first, last = numbers(r"logged beta: (\S+) at step \d+ -> (\S+)", stdout)
    assert 0.0 < first < 1.0 and last == 1.0
    assert len(re.findall(r"^epoch .* held-out ELBO", stdout, re.MULTILINE)) == 2
    assert (out / "beta_warmup.png").stat().st_size > 1000


def check_resume(stdout: str, out: Path) -> None:
    first, last = numbers(r"resumed at step (\d+), finished at step (\d+)", stdout)
    assert last == 2 * first
    assert numbers(r"max \|weight difference\| = (\S+)", stdout) == [0.0]
    assert "same reconstructions: True" in stdout
    checkpoint = out / "resume_demo" / "run" / "checkpoints"
    assert (checkpoint / "latest").read_text().strip() == f"step-{int(last):08d}"


def check_quantizer_tokenizer(stdout: str, out: Path) -> None:
    used, perplexity = numbers(r"held-out codes used: ([\d.]+) %, perplexity ([\d.]+)", stdout)
    assert 0 < used <= 100 and perplexity >= 1
    bits, uniform = numbers(r"held-out NLL (\S+) bits per token \(uniform: (\S+)\)", stdout)
    assert bits > 0 and abs(uniform - math.log2(200)) < 1e-3  # fsq:8,5,5 has 200 codes
    for name in ("quantizer_usage.png", "quantizer_samples.png"):
        assert (out / name).stat().st_size > 1000


def check_samplers(stdout: str, out: Path) -> None:
    (prior,) = numbers(r"prior: MMD\^2 = (\S+)", stdout)
    (mixture,) = numbers(r"gmm:10: MMD\^2 = (\S+)", stdout)
    numbers(r"maf: MMD\^2 = (\S+)", stdout)
    numbers(r"two-stage: MMD\^2 = (\S+)", stdout)
    assert mixture < prior, "the fitted mixture must be closer to the held-out codes than the prior"
    assert (out / "fitted_samplers.png").stat().st_size > 1000


def check_sparse_autoencoder(stdout: str, out: Path) -> None:
    mmcs, chance = numbers(
        r"MMCS to the true dictionary: (\S+) \(random dictionary: (\S+)\)", stdout
    )
    assert mmcs > chance + 0.2, (mmcs, chance)  # 3 epochs: ~0.78 against ~0.45 at random
    l0, fvu, _ = numbers(r"held-out L0 (\S+), FVU (\S+), dead latents (\S+)%", stdout)
    assert 0 < l0 <= 4 and 0 < fvu < 1


def check_adversarial_image_ae(stdout: str, out: Path) -> None:
    for objective in ("L2", "L2 + perceptual", "L2 + perceptual + adversarial"):
        mse, score, sharpness = numbers(
            rf"(?m)^{re.escape(objective)}: MSE (\S+), MS-SSIM (\S+), sharpness (\S+) \(", stdout
        )
        assert 0 < mse < 1 and -1 <= score <= 1 and sharpness >= 0
    assert (out / "adversarial_image_ae.png").stat().st_size > 1000


CHECKS: dict[str, Callable[[str, Path], None]] = {
    "plot_reconstructions.py": check_reconstructions,
    "iwae_bounds.py": check_iwae,
    "vqvae_tokenizer.py": check_vqvae,
    "quantizer_tokenizer.py": check_quantizer_tokenizer,
    "denoising_ae.py": check_denoising,
    "beta_vae_shapes.py": check_beta_vae,
    "fit_beta_warmup.py": check_warmup,
    "checkpoint_resume.py": check_resume,
    "fitted_samplers.py": check_samplers,
    "sparse_autoencoder.py": check_sparse_autoencoder,
    "adversarial_image_ae.py": check_adversarial_image_ae,
}


def run_example(script: Path, args: list[str], out: Path) -> str:
    env = {**os.environ, "MPLBACKEND": "Agg", "PYAUTOENCODER_EXAMPLES_OUT": str(out)}
    completed = subprocess.run(
        [sys.executable, str(script), *args],
        cwd=out,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert completed.stdout.strip(), "an example should print what it shows"
    return completed.stdout


@pytest.mark.examples
@pytest.mark.slow
@pytest.mark.parametrize("script", SCRIPTS, ids=[s.name for s in SCRIPTS])
def test_example_runs(script: Path, tmp_path: Path) -> None:
    stdout = run_example(script, QUICK_ARGS.get(script.name, []), tmp_path)
    if script.name in CHECKS:
        CHECKS[script.name](stdout, tmp_path)


def test_every_example_has_quick_settings() -> None:
    """A new example must be given short settings here (its defaults train for minutes)."""
    names = {s.name for s in SCRIPTS} - {"custom_autoencoder.py"}  # already short
    assert names <= set(QUICK_ARGS), sorted(names - set(QUICK_ARGS))


@pytest.mark.examples
@pytest.mark.slow
@pytest.mark.skipif(
    not MNIST_DIR.is_dir(), reason="MNIST-10k is not in ../shared/data/mnist (never bundled)"
)
def test_examples_use_mnist_when_present(tmp_path: Path) -> None:
    """With the MNIST files present, ``--data auto`` (the default) trains on MNIST-10k."""
    stdout = run_example(EXAMPLES / "denoising_ae.py", ["--epochs", "1"], tmp_path)
    assert "data: MNIST-10k" in stdout
    check_denoising(stdout, tmp_path)


def test_custom_autoencoder_learns() -> None:
    """The how-to's TiedAE subclass is a working BaseAutoencoder whose loss falls."""
    sys.path.insert(0, str(EXAMPLES))
    try:
        import custom_autoencoder as example
    finally:
        sys.path.remove(str(EXAMPLES))
    import torch

    model = example.TiedAE(in_features=64, latent_dim=8)
    x = torch.rand(32, 64)
    initial = float(model.compute_loss(x, model(x)).objective.detach())
    final_log_lik = example.main(steps=100)
    assert -final_log_lik < initial
    assert model.encode(x).z.requires_grad is False
    lines = Path(example.__file__).read_text().split("class TiedAE")[1].split("\ndef ")[0]
    assert len(lines.strip().splitlines()) < 40
