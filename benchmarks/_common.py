"""Shared helpers of the speed benchmarks: machine info, data, models, timing, tables.

Nothing here is part of the package; the scripts next to this file import it as a sibling
module (``python benchmarks/step_time.py`` puts ``benchmarks/`` first on ``sys.path``).
"""

from __future__ import annotations

import contextlib
import gzip
import os
import platform
import statistics
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

REPO = Path(__file__).resolve().parent.parent
DEFAULT_DATA = REPO.parent / "shared" / "data" / "mnist"
CACHE = REPO / ".bench_cache"
BATCH = 100
HIDDEN = 500
LATENT = 20


# ---------------------------------------------------------------------------- machine and runs
def set_threads(threads: int) -> None:
    """Use ``threads`` intra-op threads (and one inter-op thread) in this process."""
    torch.set_num_threads(threads)
    with contextlib.suppress(RuntimeError):  # already set once in this process
        torch.set_num_interop_threads(1)


#: Size of the block :func:`warm_allocator` allocates and frees (16 MiB).
WARM_BLOCK_BYTES = 16 << 20


def warm_allocator() -> None:
    """Raise glibc's dynamic mmap threshold so that a step's tensors come from the heap.

    glibc's ``malloc`` serves blocks above ``M_MMAP_THRESHOLD`` (128 KiB at start) with
    ``mmap`` and returns them with ``munmap`` when freed; every new block then costs a page
    fault per 4 KiB page touched. Freeing one mmapped block of at most 32 MiB raises the
    threshold to that block's size for the rest of the process (``mallopt(3)``, "dynamic mmap
    threshold"). A process that has loaded a data set has usually done so; a bare benchmark
    process has not, and then every step of every variant pays ~1,100 page faults (VAE MLP,
    batch 100: 5.3 ms per hand-written step instead of 3.9 ms), which hides the libraries'
    own costs in a larger denominator. One 16 MiB block, allocated and freed, moves every
    process to the warm state alike (a no-op with other allocators).
    """
    block = torch.empty(WARM_BLOCK_BYTES, dtype=torch.uint8)
    del block


def minor_faults() -> int:
    """Minor page faults of this process so far (``getrusage``; 0 where unavailable)."""
    try:
        import resource
    except ImportError:  # not on POSIX
        return 0
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_minflt)


def cpu_model() -> str:
    """The CPU's model name from ``/proc/cpuinfo`` (``platform.processor()`` elsewhere)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def git_commit() -> str:
    """Short commit of the working tree (``+dirty`` when it has changes), or ``unknown``."""
    try:
        commit = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit


# The load average and the time when the script started (this module is imported first), so
# that "at start" in the printed lines holds whenever a script prints them.
_START_LOAD = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
_START_TIME = time.gmtime()


def machine_lines(threads: int) -> list[str]:
    """Markdown bullet lines describing the machine and the versions of this run.

    The load average and the time are those of the script's start (when this module was
    imported), not of the call: a script may print them after its own work.
    """
    import pyautoencoder

    load = _START_LOAD
    return [
        f"- machine: {cpu_model()}, {os.cpu_count()} logical CPUs, {platform.system()} "
        f"{platform.release()}; load average {load:.2f} at start",
        f"- python {platform.python_version()}, torch {torch.__version__}, "
        f"pyautoencoder {pyautoencoder.__version__} (commit {git_commit()})",
        f"- {threads} intra-op thread(s); {time.strftime('%Y-%m-%d %H:%M UTC', _START_TIME)}",
    ]


# ---------------------------------------------------------------------------- data
def _mnist_intensity(root: Path) -> torch.Tensor:
    """The official MNIST test split as intensities in ``[0, 1]``, ``[10000, 784]`` float32."""
    path = Path(root) / "t10k-images-idx3-ubyte.gz"
    if not path.exists():
        raise SystemExit(f"MNIST test split not found at {path}; pass --data DIR")
    with gzip.open(path, "rb") as f:
        images = np.frombuffer(f.read(), dtype=np.uint8, offset=16).reshape(-1, 784)
    return torch.from_numpy(images.astype(np.float32) / 255.0)


def _split(data: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """MNIST-10k's split: train rows ``index % 5 != 0``, held-out rows ``index % 5 == 0``."""
    index = torch.arange(data.shape[0])
    return data[index % 5 != 0].contiguous(), data[index % 5 == 0].contiguous()


def load_mnist_10k(root: Path = DEFAULT_DATA) -> tuple[torch.Tensor, torch.Tensor]:
    """Binarized MNIST-10k: train ``[8000, 784]`` (index % 5 != 0), held-out ``[2000, 784]``.

    The official test split read with gzip + numpy, binarized once with
    ``Bernoulli(intensity / 255)`` from ``torch.Generator().manual_seed(0)`` in index order (the
    convention of the data folder's README).
    """
    intensity = _mnist_intensity(root)
    return _split(torch.bernoulli(intensity, generator=torch.Generator().manual_seed(0)))


def load_mnist_10k_dynamic(root: Path = DEFAULT_DATA) -> tuple[torch.Tensor, torch.Tensor]:
    """MNIST-10k for dynamic binarization: train intensities, held-out fixed binary images.

    Returns the 8,000 training images as intensities in ``[0, 1]`` (``[8000, 784]``, to be
    re-sampled ``Bernoulli(intensity)`` every time a batch is drawn: the protocol of Burda et
    al. 2016 and Sønderby et al. 2016) and the 2,000 held-out images binarized once, exactly
    the held-out half of :func:`load_mnist_10k` (so held-out scores stay comparable).
    """
    intensity = _mnist_intensity(root)
    binary = torch.bernoulli(intensity, generator=torch.Generator().manual_seed(0))
    return _split(intensity)[0], _split(binary)[1]


def fixed_batches(data: torch.Tensor, batch: int = BATCH, seed: int = 0) -> list[torch.Tensor]:
    """One shuffled epoch of ``data`` cut into contiguous ``[batch, ...]`` tensors."""
    order = torch.randperm(data.shape[0], generator=torch.Generator().manual_seed(seed))
    shuffled = data[order]
    return [
        shuffled[i : i + batch].contiguous() for i in range(0, len(shuffled) - batch + 1, batch)
    ]


def saved_step_batches(root: Path = DEFAULT_DATA) -> Path:
    """The training batches of the step benchmarks, saved for their worker processes.

    :func:`fixed_batches` of the MNIST-10k training split, written to
    ``.bench_cache/step_batches.pt`` (read back with ``torch.load(..., weights_only=True)``).
    """
    train, _ = load_mnist_10k(root)
    CACHE.mkdir(exist_ok=True)
    saved = CACHE / "step_batches.pt"
    torch.save(fixed_batches(train), saved)
    return saved


# ---------------------------------------------------------------------------- networks
def mlp_encoder(hidden: int = HIDDEN) -> nn.Module:
    """Kingma & Welling (2014) MNIST encoder body: ``784 -> hidden``, tanh."""
    return nn.Sequential(nn.Linear(784, hidden), nn.Tanh())


def mlp_decoder(latent: int = LATENT, hidden: int = HIDDEN) -> nn.Module:
    """Kingma & Welling (2014) MNIST decoder: ``latent -> hidden`` tanh ``-> 784`` logits."""
    return nn.Sequential(nn.Linear(latent, hidden), nn.Tanh(), nn.Linear(hidden, 784))


def conv_encoder() -> nn.Module:
    """Small conv encoder on ``[B, 1, 28, 28]``: two stride-2 convs to ``[B, 64 * 7 * 7]``."""
    return nn.Sequential(
        nn.Conv2d(1, 32, 4, 2, 1),
        nn.ReLU(),
        nn.Conv2d(32, 64, 4, 2, 1),
        nn.ReLU(),
        nn.Flatten(),
    )


def conv_decoder(latent: int = 16) -> nn.Module:
    """Mirror of :func:`conv_encoder`: ``[B, latent] -> [B, 1, 28, 28]`` logits."""
    return nn.Sequential(
        nn.Linear(latent, 64 * 7 * 7),
        nn.ReLU(),
        nn.Unflatten(1, (64, 7, 7)),
        nn.ConvTranspose2d(64, 32, 4, 2, 1),
        nn.ReLU(),
        nn.ConvTranspose2d(32, 1, 4, 2, 1),
    )


# ---------------------------------------------------------------------------- timing
class Runner:
    """Something that runs ``n`` training steps and returns the seconds they took."""

    name: str

    def run(self, n: int) -> float:
        raise NotImplementedError

    def close(self) -> None:
        """Release resources (subprocesses)."""


class InProcess(Runner):
    """A runner around ``step(i)``, a Python callable doing training step ``i``."""

    def __init__(self, name: str, step: Callable[[int], object]) -> None:
        self.name = name
        self.step = step
        self.counter = 0

    def run(self, n: int) -> float:
        start = time.perf_counter()
        for _ in range(n):
            self.step(self.counter)
            self.counter += 1
        return time.perf_counter() - start


def interleaved(
    runners: Sequence[Runner], steps: int, repeats: int, warmup: int
) -> dict[str, list[float]]:
    """Per-step seconds of each runner, one value per repetition.

    Every runner first runs ``warmup`` steps; then each repetition runs ``steps`` steps of
    every runner in turn, the order rotated by one per repetition so that no runner always
    follows the same one (slow drifts of a shared machine hit every runner alike).
    """
    for runner in runners:
        runner.run(warmup)
    times: dict[str, list[float]] = {r.name: [] for r in runners}
    for rep in range(repeats):
        shift = rep % len(runners)
        for runner in list(runners[shift:]) + list(runners[:shift]):
            times[runner.name].append(runner.run(steps) / steps)
    return times


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def spread(values: Sequence[float]) -> str:
    """Half the interquartile range relative to the median, as ``±x%``."""
    if len(values) < 2:
        return "n/a"
    q = np.percentile(np.asarray(values), [25, 75])
    return f"±{50 * (q[1] - q[0]) / statistics.median(values):.1f}%"


def ms(seconds: float) -> str:
    return f"{1e3 * seconds:.3f}"


# ---------------------------------------------------------------------------- tables
def table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A markdown table (numbers already formatted by the caller)."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)
