"""VectorQuantizer under torch.distributed: EMA statistics summed over processes, same codebook.

A fast test replaces the collectives with fakes (``all_reduce`` as if a second process had
seen the same batch); a slow test runs two real gloo processes on CPU.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from pyautoencoder.quantized import VQVAE, VectorQuantizer
from pyautoencoder.quantized import _vector_quantizer as vq_module


def _quantizer(**kwargs: object) -> VectorQuantizer:
    torch.manual_seed(0)
    vq = VectorQuantizer(6, 3, decay=0.5, **kwargs).double()  # type: ignore[arg-type]
    with torch.no_grad():
        vq.codebook.copy_(torch.randn(6, 3, dtype=torch.float64))
        if vq.ema:
            vq.ema_code_sum.copy_(vq.codebook)
    return vq


class _FakeTwoProcesses:
    """``torch.distributed`` as seen by rank 1 of 2 whose peer (rank 0) holds the same batch.

    ``all_reduce`` adds the peer's contribution: the same statistics (the tensor doubles), or
    ``rank0_candidates`` for the ``[K, D]`` candidates of a dead-code reset.
    """

    def __init__(self, rank0_candidates: torch.Tensor | None = None) -> None:
        self.reduced: list[tuple[int, ...]] = []
        self.rank0_candidates = rank0_candidates

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        dist = vq_module.dist
        monkeypatch.setattr(dist, "is_available", lambda: True)
        monkeypatch.setattr(dist, "is_initialized", lambda: True)
        monkeypatch.setattr(dist, "get_world_size", lambda group=None: 2)
        monkeypatch.setattr(dist, "get_rank", lambda group=None: 1)
        monkeypatch.setattr(dist, "all_reduce", self.all_reduce)

    def all_reduce(self, tensor: torch.Tensor, op: object = None, group: object = None) -> None:
        self.reduced.append(tuple(tensor.shape))
        if self.rank0_candidates is not None and tensor.shape == self.rank0_candidates.shape:
            tensor.add_(self.rank0_candidates)
        else:
            tensor.mul_(2)  # the peer's identical contribution


def test_ema_statistics_are_summed_over_processes(monkeypatch: pytest.MonkeyPatch) -> None:
    z = torch.randn(10, 3, dtype=torch.float64)
    single = _quantizer()
    single.train()
    for _ in range(3):
        single(torch.cat([z, z]))  # one process holding both batches
    fake = _FakeTwoProcesses()
    fake.install(monkeypatch)
    synced = _quantizer()
    synced.train()
    for _ in range(3):
        local = synced(z)
    assert fake.reduced == [(6, 4)] * 3  # one [K, D + 1] collective per training forward
    for name, value in single.state_dict().items():
        torch.testing.assert_close(synced.state_dict()[name], value, msg=name)
    # the diagnostics stay those of the local batch
    torch.testing.assert_close(local.codes_used, synced(z, update=False).codes_used)


def test_without_sync_or_in_eval_no_collective_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = _FakeTwoProcesses()
    fake.install(monkeypatch)
    z = torch.randn(10, 3, dtype=torch.float64)
    alone, reference = _quantizer(sync_statistics=False), _quantizer()
    alone.train()
    alone(z)
    reference.eval()
    reference(z)
    assert fake.reduced == []
    monkeypatch.undo()
    reference.train()
    reference(z)
    torch.testing.assert_close(alone.codebook, reference.codebook)  # local statistics only


@pytest.mark.parametrize("sync", [True, False])
def test_vqvae_passes_sync_statistics_on(monkeypatch: pytest.MonkeyPatch, sync: bool) -> None:
    fake = _FakeTwoProcesses()
    fake.install(monkeypatch)
    model = VQVAE(torch.nn.Linear(4, 3), torch.nn.Linear(3, 4), 6, 3, sync_statistics=sync)
    model.train()(torch.randn(5, 4))
    assert model.quantizer.sync_statistics is sync
    assert len(fake.reduced) == (2 if sync else 0)  # reset candidates, then the statistics


def test_gradient_codebook_sums_usage_counts(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = _FakeTwoProcesses()
    fake.install(monkeypatch)
    vq = _quantizer(ema=False, dead_code_steps=2)
    vq.train()
    vq(torch.randn(10, 3, dtype=torch.float64))
    # reset candidates [K, D], then the usage counts [K] only: the codebook is a parameter
    assert fake.reduced == [(6, 3), (6,)]


def test_dead_code_candidates_come_from_rank_zero(monkeypatch: pytest.MonkeyPatch) -> None:
    rank0 = torch.full((6, 3), 7.0, dtype=torch.float64)
    fake = _FakeTwoProcesses(rank0_candidates=rank0)
    fake.install(monkeypatch)
    vq = _quantizer(dead_code_steps=1)
    with torch.no_grad():
        vq.steps_since_used.copy_(torch.tensor([0, 1, 0, 1, 0, 0]))
    before = vq.codebook.clone()
    count = vq.reinit_dead_codes(torch.randn(10, 3, dtype=torch.float64))
    assert int(count) == 2 and fake.reduced == [(6, 3)]  # rank 1 contributes zeros
    torch.testing.assert_close(vq.codebook[[1, 3]], rank0[[1, 3]])
    torch.testing.assert_close(vq.codebook[[0, 2, 4, 5]], before[[0, 2, 4, 5]])


_SCRIPT = textwrap.dedent(
    """
    import sys
    import torch
    import torch.distributed as dist
    import torch.multiprocessing as mp
    from pyautoencoder.quantized import VectorQuantizer

    STEPS = 4
    CASES = {
        "ema": {},
        "ema_reset": {"dead_code_steps": 1},
        "gradient_reset": {"ema": False, "dead_code_steps": 1},
        "no_sync": {"sync_statistics": False},
    }


    def make(kwargs):
        torch.manual_seed(0)
        vq = VectorQuantizer(16, 3, decay=0.5, **kwargs).double()
        with torch.no_grad():  # collapsed: most codes far from the data, so resets happen
            vq.codebook.fill_(50.0)
            vq.codebook[:3] = torch.randn(3, 3)
            if vq.ema:
                vq.ema_code_sum.copy_(vq.codebook)
        return vq.train()


    def batches(rank):
        gen = torch.Generator().manual_seed(10 + rank)
        return [torch.randn(20, 3, dtype=torch.float64, generator=gen) + rank for _ in range(STEPS)]


    def worker(rank, init_file, out, backend):
        dist.init_process_group(
            "gloo", init_method=f"file://{init_file}", rank=rank, world_size=2
        )
        torch.manual_seed(100 + rank)  # different RNG streams: reset candidates must agree
        states = {}
        for name, kwargs in CASES.items():
            vq = make(kwargs)
            forward = vq
            if backend != "none" and name == "ema_reset":
                forward = torch.compile(vq, fullgraph=True, backend=backend)
            for z in batches(rank):
                forward(z)
            states[name] = {k: v.clone() for k, v in vq.state_dict().items()}
        torch.save(states, f"{out}/rank{rank}.pt")
        dist.barrier()
        dist.destroy_process_group()


    if __name__ == "__main__":
        out, backend = sys.argv[1], sys.argv[2]
        mp.spawn(worker, args=(f"{out}/store", out, backend), nprocs=2)
        vq = make(CASES["ema"])
        for a, b in zip(batches(0), batches(1)):
            vq(torch.cat([a, b]))
        torch.save({"ema": vq.state_dict()}, f"{out}/single.pt")
    """
)


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_two_gloo_processes_keep_one_codebook(tmp_path: Path) -> None:
    script = tmp_path / "vq_ddp.py"
    script.write_text(_SCRIPT)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    completed = subprocess.run(
        [sys.executable, str(script), str(tmp_path), "aot_eager"],
        env=env,
        capture_output=True,
        text=True,
        timeout=170,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    rank0 = torch.load(tmp_path / "rank0.pt", weights_only=True)
    rank1 = torch.load(tmp_path / "rank1.pt", weights_only=True)
    single = torch.load(tmp_path / "single.pt", weights_only=True)
    for case in ("ema", "ema_reset", "gradient_reset"):  # ema_reset ran compiled (fullgraph)
        for name, value in rank0[case].items():
            assert torch.equal(value, rank1[case][name]), (case, name)
    # summed statistics: the update of one process holding both batches
    for name, value in single["ema"].items():
        torch.testing.assert_close(rank0["ema"][name], value, msg=name)
    # resets happened (the far codes moved next to the data)
    assert bool((rank0["ema_reset"]["codebook"].abs() < 10).all())
    # per-process statistics drift apart: what the all-reduce prevents
    assert not torch.equal(rank0["no_sync"]["codebook"], rank1["no_sync"]["codebook"])
