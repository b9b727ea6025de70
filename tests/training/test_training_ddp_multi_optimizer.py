"""Several optimizers under DDP: two CPU processes (gloo on loopback) train a FactorVAE
(a VAE update and a discriminator update) in lockstep and end with equal weights."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from torch import nn

from pyautoencoder.training._checkpoint import _safetensors
from pyautoencoder.training._trainer import strategy_for
from pyautoencoder.variational import VAE, FactorVAE

_SCRIPT = textwrap.dedent(
    """
    import os, sys
    import torch
    from torch import nn
    from pyautoencoder.training import fit, save_weights
    from pyautoencoder.variational import FactorVAE

    out = sys.argv[1]
    torch.manual_seed(0)
    model = FactorVAE(
        nn.Sequential(nn.Linear(12, 16), nn.Tanh()), nn.Linear(3, 12), 3, discriminator_hidden=(8,)
    )
    model.build(torch.zeros(2, 12))
    rank = int(os.environ.get("LOCAL_RANK", "0"))
    save_weights(model, os.path.join(out, f"initial{rank}.safetensors"))
    x = torch.rand(64, 12, generator=torch.Generator().manual_seed(1))
    result = fit(
        model, x, epochs=1, batch_size=8, accelerator="cpu", devices=2, strategy="ddp",
        progress=False, log_every_n_steps=2, out_dir=out,
    )
    save_weights(model, os.path.join(out, f"rank{rank}.safetensors"))
    report_rank(out, rank, f"rank {rank} steps {result.steps}")
    """
)


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_two_optimizer_model_trains_under_ddp_with_identical_ranks(
    tmp_path: Path, ddp_rank_report: str
) -> None:
    script = tmp_path / "train_ddp.py"
    script.write_text(ddp_rank_report + _SCRIPT)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MASTER_ADDR": "127.0.0.1"}
    env.pop("LOCAL_RANK", None)
    completed = subprocess.run(
        [sys.executable, str(script), str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=110,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    load = _safetensors().load_file
    rank0, rank1 = load(tmp_path / "rank0.safetensors"), load(tmp_path / "rank1.safetensors")
    initial = load(tmp_path / "initial0.safetensors")
    assert rank0.keys() == rank1.keys() == initial.keys()
    assert all(torch.equal(rank0[k], rank1[k]) for k in rank0)
    # Both updates changed their own parameters: the VAE's and the discriminator's.
    for prefix in ("encoder.", "discriminator."):
        changed = [
            k for k in rank0 if k.startswith(prefix) and not torch.equal(rank0[k], initial[k])
        ]
        assert changed, prefix
    # 64 examples over 2 ranks = 32 each = 4 batches of 8.
    lines = [(tmp_path / f"rank{r}.txt").read_text() for r in (0, 1)]
    assert lines == ["rank 0 steps 4", "rank 1 steps 4"]
    events = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert any("discriminator_loss" in event for event in events if event["event"] == "train")
    state = torch.load(
        tmp_path / "checkpoints" / "step-00000004" / "trainer_state.pt", weights_only=True
    )
    assert sorted(state["optimizers"]) == ["discriminator", "vae"]


def test_ddp_finds_unused_parameters_only_for_models_with_several_optimizers() -> None:
    factor_vae = FactorVAE(nn.Linear(4, 6), nn.Linear(2, 4), 2)
    vae = VAE(nn.Linear(4, 6), nn.Linear(2, 4), 2)
    assert strategy_for("ddp", factor_vae) == "ddp_find_unused_parameters_true"
    assert strategy_for("ddp", vae) == "ddp"
    assert strategy_for("auto", factor_vae) == "auto"
    assert strategy_for(None, factor_vae) is None
