"""Every script in examples/ runs (marker ``examples``; CI runs them)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SCRIPTS = sorted(EXAMPLES.glob("*.py"))
# Short settings so the suite stays fast; each script's defaults are what users run.
QUICK_ARGS: dict[str, list[str]] = {
    "quickstart.py": ["--epochs", "3"],
    "plot_reconstructions.py": ["--epochs", "2"],
}


@pytest.mark.examples
@pytest.mark.parametrize("script", SCRIPTS, ids=[s.name for s in SCRIPTS])
def test_example_runs(script: Path, tmp_path: Path) -> None:
    env = {**os.environ, "MPLBACKEND": "Agg", "PYAUTOENCODER_EXAMPLES_OUT": str(tmp_path)}
    completed = subprocess.run(
        [sys.executable, str(script), *QUICK_ARGS.get(script.name, [])],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert completed.stdout.strip(), "an example should print what it shows"


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
