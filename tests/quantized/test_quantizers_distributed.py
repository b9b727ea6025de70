"""Every EMA quantizer under two gloo processes: one codebook, the update of the global batch.

One subprocess run covers them all (k-means initialisation, lower-dimensional codebook with the
rotation trick, residual and grouped stacks of EMA quantizers, a compiled step with dead-code
resets), to keep the test suite's time down.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

_SCRIPT = textwrap.dedent(
    """
    import sys
    import torch
    import torch.distributed as dist
    import torch.multiprocessing as mp
    from pyautoencoder.quantized import GroupedQuantizer, ResidualQuantizer, VectorQuantizer

    STEPS = 3
    CASES = {
        "vq_kmeans": lambda: VectorQuantizer(8, 3, decay=0.5, kmeans_init=True),
        "vq_low_dim_rotation": lambda: VectorQuantizer(
            8, 3, decay=0.5, codebook_dim=2, rotation_trick=True
        ),
        "rvq": lambda: ResidualQuantizer(VectorQuantizer(8, 3, decay=0.5), 3),
        "rvq_kmeans_reset_compiled": lambda: ResidualQuantizer(
            VectorQuantizer(8, 3, decay=0.5, kmeans_init=True, dead_code_steps=1), 2
        ),
        "gvq_kmeans": lambda: GroupedQuantizer(
            VectorQuantizer(8, 1, decay=0.5, kmeans_init=True), 3
        ),
    }
    SINGLE = ("vq_low_dim_rotation", "rvq")  # no rank-0 draws: equal to one big process


    def make(name):
        torch.manual_seed(0)
        return CASES[name]().double().train()


    def batches(rank):
        gen = torch.Generator().manual_seed(10 + rank)
        return [torch.randn(20, 3, dtype=torch.float64, generator=gen) + rank for _ in range(STEPS)]


    def worker(rank, init_file, out):
        dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=2)
        torch.manual_seed(100 + rank)  # different RNG streams: the draws must still agree
        states = {}
        for name in CASES:
            quantizer = make(name)
            forward = quantizer
            if name.endswith("compiled"):
                forward = torch.compile(quantizer, fullgraph=True, backend="aot_eager")
            for z in batches(rank):
                forward(z)
            states[name] = {k: v.clone() for k, v in quantizer.state_dict().items()}
        torch.save(states, f"{out}/rank{rank}.pt")
        dist.barrier()
        dist.destroy_process_group()


    if __name__ == "__main__":
        out = sys.argv[1]
        mp.spawn(worker, args=(f"{out}/store", out), nprocs=2)
        single = {}
        for name in SINGLE:
            quantizer = make(name)
            for a, b in zip(batches(0), batches(1)):
                quantizer(torch.cat([a, b]))
            single[name] = quantizer.state_dict()
        torch.save(single, f"{out}/single.pt")
    """
)


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_every_ema_quantizer_keeps_one_codebook_over_two_processes(tmp_path: Path) -> None:
    script = tmp_path / "quantizers_ddp.py"
    script.write_text(_SCRIPT)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    completed = subprocess.run(
        [sys.executable, str(script), str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=230,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    rank0 = torch.load(tmp_path / "rank0.pt", weights_only=True)
    rank1 = torch.load(tmp_path / "rank1.pt", weights_only=True)
    single = torch.load(tmp_path / "single.pt", weights_only=True)
    assert set(rank0) == {
        "vq_kmeans",
        "vq_low_dim_rotation",
        "rvq",
        "rvq_kmeans_reset_compiled",
        "gvq_kmeans",
    }
    for case, state in rank0.items():
        for name, value in state.items():
            assert torch.equal(value, rank1[case][name]), (case, name)
    for case, state in single.items():  # summed statistics: one process holding both batches
        for name, value in state.items():
            torch.testing.assert_close(rank0[case][name], value, msg=f"{case} {name}")
    # the k-means initialisation ran (and agreed) on both processes
    assert bool(rank0["vq_kmeans"]["initialized"]) and bool(
        rank1["gvq_kmeans"]["parts.2.initialized"]
    )
