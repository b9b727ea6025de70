"""Two CPU processes under Lightning's ``ddp`` strategy (gloo) train exactly like one process
that sees the whole global batch.

Lightning's ``ddp`` strategy launches the other rank by re-running the script, so the training
code lives in a script file written to ``tmp_path`` and is run with ``subprocess``. The same
file is imported by the test for the model and data factories of the single-process reference,
which is a plain PyTorch loop (no Lightning).

Why they must agree: Lightning replaces the training loader's sampler by a
``DistributedSampler`` that *always* shuffles (even for ``shuffle=False`` loaders), with the
permutation ``randperm(N, generator seeded with PL_GLOBAL_SEED (0) + epoch)``; rank ``r`` takes
entries ``r, r + 2, r + 4, ...`` of it. So at step ``k`` of an epoch the two ranks together hold
entries ``[2bk, 2bk + 2b)`` of that permutation. DDP averages the two ranks' gradients of their
batch-mean losses, which is the gradient of the batch-mean loss over the global batch, and plain
SGD then takes the same step. Only float32 summation order differs.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from types import ModuleType

import pytest
import torch

_SCRIPT = textwrap.dedent(
    """
    import functools
    import os
    import sys

    import torch
    from torch import nn

    from pyautoencoder.vanilla import AE

    PER_RANK_BATCH = 8
    EPOCHS = 2
    LR = 0.1


    def make_model():
        torch.manual_seed(0)
        encoder = nn.Sequential(nn.Linear(12, 10), nn.Tanh(), nn.Linear(10, 3))
        decoder = nn.Sequential(nn.Linear(3, 10), nn.Tanh(), nn.Linear(10, 12))
        return AE(encoder, decoder)


    def make_data():
        generator = torch.Generator().manual_seed(1)
        return torch.rand(64, 12, generator=generator), torch.rand(32, 12, generator=generator)


    def main(out):
        import lightning as L
        from torch.utils.data import DataLoader, TensorDataset

        from pyautoencoder.lightning import AutoencoderModule

        train_x, val_x = make_data()
        module = AutoencoderModule(
            make_model(), optimizer=functools.partial(torch.optim.SGD, lr=LR)
        )
        trainer = L.Trainer(
            accelerator="cpu", devices=2, strategy="ddp", max_epochs=EPOCHS, logger=False,
            enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
            num_sanity_val_steps=0,
        )
        trainer.fit(
            module,
            DataLoader(TensorDataset(train_x), batch_size=PER_RANK_BATCH, shuffle=False),
            DataLoader(TensorDataset(val_x), batch_size=PER_RANK_BATCH, shuffle=False),
        )
        rank = trainer.global_rank
        torch.save(module.model.state_dict(), os.path.join(out, f"rank{rank}.pt"))
        val_loss = float(trainer.callback_metrics["val/loss"])
        report_rank(out, rank, f"rank {rank} steps {trainer.global_step} val {val_loss!r}")


    if __name__ == "__main__":
        main(sys.argv[1])
    """
)


def _load_script(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location("lightning_ddp_script", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _reference_run(script: ModuleType) -> torch.nn.Module:
    """One process, global batches of 2 * PER_RANK_BATCH, batch-mean loss, plain SGD."""
    model = script.make_model()
    train_x, _ = script.make_data()
    optimizer = torch.optim.SGD(model.parameters(), lr=script.LR)
    global_batch = 2 * script.PER_RANK_BATCH
    for epoch in range(script.EPOCHS):
        order = torch.randperm(train_x.shape[0], generator=torch.Generator().manual_seed(epoch))
        for start in range(0, train_x.shape[0], global_batch):
            x = train_x[order[start : start + global_batch]]
            loss = 0.5 * ((x - model(x).x_hat) ** 2).sum(dim=1).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return model


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_two_process_ddp_equals_one_process_on_the_global_batch(
    tmp_path: Path, ddp_rank_report: str
) -> None:
    script_path = tmp_path / "lightning_ddp_train.py"
    script_path.write_text(ddp_rank_report + _SCRIPT)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MASTER_ADDR": "127.0.0.1"}
    for name in ("LOCAL_RANK", "NODE_RANK", "WORLD_SIZE", "MASTER_PORT", "PL_GLOBAL_SEED"):
        env.pop(name, None)
    completed = subprocess.run(
        [sys.executable, str(script_path), str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=110,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]

    rank0 = torch.load(tmp_path / "rank0.pt", weights_only=True)
    rank1 = torch.load(tmp_path / "rank1.pt", weights_only=True)
    assert all(torch.equal(rank0[key], rank1[key]) for key in rank0)  # DDP keeps ranks equal

    reference = _reference_run(_load_script(script_path))
    expected = reference.state_dict()
    assert rank0.keys() == expected.keys()
    max_diff = max((rank0[key] - expected[key]).abs().max().item() for key in expected)
    # 8 SGD steps in float32: measured differences are ~1e-7 (summation order only).
    print(f"max |DDP - single process| = {max_diff:.3e}")
    assert max_diff < 1e-5, f"DDP and single-process weights differ by {max_diff:.3e}"
    initial = _load_script(script_path).make_model().state_dict()
    moved = max((expected[key] - initial[key]).abs().max().item() for key in expected)
    assert moved > 1e-2  # training did change the weights, so the comparison means something

    # val/loss is synced over ranks (sync_dist=True): both ranks report the mean over all 32
    # validation examples (16 per rank), i.e. the loss of the final model on the whole set.
    # Each rank's summary line, from its own file: both processes share one stdout pipe.
    lines = [(tmp_path / f"rank{r}.txt").read_text() for r in (0, 1)]
    assert [line.split(" val ")[0] for line in lines] == ["rank 0 steps 8", "rank 1 steps 8"]
    _, val_x = _load_script(script_path).make_data()
    with torch.no_grad():
        full_val = 0.5 * ((val_x - reference(val_x).x_hat) ** 2).sum(dim=1).mean().item()
    for line in lines:
        assert float(line.split(" val ")[1]) == pytest.approx(full_val, rel=1e-5)
