"""One CPU process in fp32 trains without importing Lightning, with the same result as Fabric."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import pytest
import torch
from torch import nn

from pyautoencoder.training import TrainerConfig, _local, _trainer, fit
from pyautoencoder.training._local import LocalRun, local_run_for
from pyautoencoder.variational import VAE


def _model() -> VAE:
    torch.manual_seed(0)
    return VAE(nn.Sequential(nn.Linear(6, 8), nn.Tanh()), nn.Linear(3, 6), 3)


def _data() -> torch.Tensor:
    return torch.randn(40, 6, generator=torch.Generator().manual_seed(1))


@pytest.mark.parametrize(
    "options",
    [
        {"accelerator": "cuda"},
        {"devices": 2},
        {"num_nodes": 2},
        {"precision": "bf16-mixed"},
        {"strategy": "ddp"},
    ],
)
def test_anything_but_one_cpu_process_in_fp32_goes_through_fabric(options: dict[str, Any]) -> None:
    assert local_run_for(TrainerConfig(**options), []) is None


def test_loggers_and_cluster_environments_go_through_fabric(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = TrainerConfig(accelerator="cpu")
    assert isinstance(local_run_for(config, []), LocalRun)
    assert local_run_for(config, [object()]) is None
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert local_run_for(config, []) is None


@pytest.mark.parametrize("clip", [None, "norm", "value"])
def test_a_local_run_trains_bit_for_bit_like_fabric(
    clip: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    options: dict[str, Any] = {"epochs": 2, "batch_size": 10, "progress": False}
    options["accelerator"] = "cpu"
    if clip is not None:
        options.update(gradient_clip_val=0.05, gradient_clip_algorithm=clip)
    local = fit(_model(), _data(), **options).model
    monkeypatch.setattr(_trainer, "local_run_for", lambda config, loggers: None)
    via_fabric = fit(_model(), _data(), **options).model
    for (name, a), (_, b) in zip(local.state_dict().items(), via_fabric.state_dict().items()):
        assert torch.equal(a, b), name


def test_other_fabric_attributes_come_from_a_real_fabric() -> None:
    run = LocalRun()
    assert run.world_size == 1 and run.is_global_zero and run.device.type == "cpu"
    assert callable(run.print)  # not part of LocalRun: a Fabric for the same device
    assert run._fabric is not None and run._fabric.device == run.device


@pytest.mark.slow  # a fresh process: torch's import
def test_a_plain_cpu_fit_imports_no_lightning() -> None:
    code = (
        "import sys, torch\n"
        "from torch import nn\n"
        "from pyautoencoder.training import fit\n"
        "from pyautoencoder.variational import VAE\n"
        "m = VAE(nn.Linear(6, 8), nn.Linear(3, 6), 3)\n"
        "fit(m, torch.randn(20, 6), epochs=1, batch_size=10, progress=False)\n"
        "roots = {k.split('.')[0] for k in sys.modules}\n"
        "print(sorted(roots & {'lightning', 'lightning_fabric'}))\n"
    )
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    for name in _local._CLUSTER_VARIABLES:
        env.pop(name, None)
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"
