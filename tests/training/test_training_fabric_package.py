"""Training runs on the standalone ``lightning-fabric`` package (the ``demo`` extra) too."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pyautoencoder.training._setup import fabric_package


def test_lightning_fabric_is_used_when_lightning_is_installed() -> None:
    """User-built strategies and loggers from ``lightning.fabric`` stay Fabric's own classes."""
    assert fabric_package() == "lightning.fabric"


@pytest.mark.slow
def test_fit_runs_on_lightning_fabric_alone(tmp_path: Path) -> None:
    """A run with a Fabric logger (so Fabric, not the plain local loop) on ``lightning_fabric``."""
    code = (
        "import sys\n"
        "sys.modules['lightning'] = None  # as if only lightning-fabric were installed\n"
        "import torch\n"
        "from pyautoencoder.nets import create_model\n"
        "from pyautoencoder.training import Trainer\n"
        "from pyautoencoder.training._setup import fabric_package\n"
        "trainer = Trainer(epochs=1, batch_size=16, progress=False, loggers='csv',"
        f" out_dir={str(tmp_path)!r})\n"
        "result = trainer.fit(create_model('vae', (6,), 2, hidden=(8,)), torch.rand(32, 6))\n"
        "used = {m.split('.')[0] for m, mod in sys.modules.items() if mod is not None}\n"
        "print(fabric_package(), type(trainer.fabric).__module__.split('.')[0], result.steps,"
        " 'lightning' in used)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300
    )
    assert done.stdout.split("\n")[-2] == "lightning_fabric lightning_fabric 2 False"
