"""Two CPU processes (DDP over gloo on loopback) train in lockstep and end with equal weights."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from pyautoencoder.training._checkpoint import _safetensors

_SCRIPT = textwrap.dedent(
    """
    import os, sys
    import torch
    from torch import nn
    from pyautoencoder.training import fit, save_weights
    from pyautoencoder.variational import VAE

    out = sys.argv[1]
    torch.manual_seed(0)
    model = VAE(nn.Sequential(nn.Linear(12, 16), nn.Tanh()), nn.Linear(3, 12), 3)
    x = torch.rand(96, 12, generator=torch.Generator().manual_seed(1))
    result = fit(
        model, x, x[:21], epochs=2, batch_size=8, accelerator="cpu", devices=2, strategy="ddp",
        progress=False, log_every_n_steps=3, out_dir=out,
    )
    rank = int(os.environ.get("LOCAL_RANK", "0"))
    save_weights(model, os.path.join(out, f"rank{rank}.safetensors"))
    report_rank(out, rank, f"rank {rank} steps {result.steps} val {result.val_metrics['loss']:.6f}")
    """
)


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_two_process_ddp_on_cpu_keeps_ranks_identical(tmp_path: Path, ddp_rank_report: str) -> None:
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
    assert rank0.keys() == rank1.keys()
    assert all(torch.equal(rank0[k], rank1[k]) for k in rank0)
    # 96 examples over 2 ranks = 48 each = 6 batches of 8 per epoch, 2 epochs.
    # Each rank's summary line, from its own file: both processes share one stdout pipe.
    lines = [(tmp_path / f"rank{r}.txt").read_text() for r in (0, 1)]
    assert [line.split(" val ")[0] for line in lines] == ["rank 0 steps 12", "rank 1 steps 12"]
    # 21 validation examples split 11 / 10 over the ranks, all-reduced to the same mean.
    assert lines[0].split(" val ")[1] == lines[1].split(" val ")[1]
    assert (tmp_path / "checkpoints" / "latest").read_text().strip() == "step-00000012"
