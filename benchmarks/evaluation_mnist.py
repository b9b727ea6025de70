"""Importance-sampled log-likelihood of a briefly trained VAE on binarized MNIST-10k.

Usage::

    python benchmarks/evaluation_mnist.py [--epochs 10] [--data ../shared/data/mnist]
        [--timing-images 500]

Data: the official MNIST test split (10,000 images), binarized once with
``Bernoulli(intensity / 255)`` (``torch.Generator().manual_seed(0)``, index order); training
images are those with ``index % 5 != 0`` (8,000), held-out ``index % 5 == 0`` (2,000), the
"MNIST-10k" convention of the data's README. Read with
``pyautoencoder.data.mnist_idx(path, binarize=True)`` (gzip and numpy when that module is
missing).

Model: VAE with an MLP encoder (784-256-ReLU-256-ReLU) and decoder (16-256-ReLU-256-ReLU-784
Bernoulli logits), D_z = 16, Adam (lr 1e-3), batch 100, ``--epochs`` passes, seed 0.

Prints two markdown tables:

1. held-out ELBO and importance-sampled ``log p(x)`` (K = 1000) over all 2,000 held-out
   images: mean, standard error, bits/dim (Bernoulli pixels: a proper discrete bits/dim);
2. cost of :func:`pyautoencoder.evaluation.log_likelihood_estimate` for K = 100, 1000, 5000
   on the first ``--timing-images`` held-out images (batch 64, chunk 64): wall time, time per
   image and sample, and the largest tensor any operator created (measured on one batch
   with a ``TorchDispatchMode``). The largest tensor must not grow with K.
"""

from __future__ import annotations

import argparse
import gzip
import platform
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

import pyautoencoder
from pyautoencoder.evaluation import active_units, elbo, log_likelihood_estimate
from pyautoencoder.variational import VAE

LATENT = 16
HIDDEN = 256
BATCH = 100


def load_mnist_10k(root: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """Binarized MNIST-10k: training ``[8000, 784]`` and held-out ``[2000, 784]`` images."""
    try:
        from pyautoencoder.data import mnist_idx
    except ImportError:  # an older checkout without pyautoencoder.data: read the IDX inline
        with gzip.open(root / "t10k-images-idx3-ubyte.gz", "rb") as f:
            raw = np.frombuffer(f.read(), dtype=np.uint8, offset=16).reshape(-1, 784)
        intensity = torch.from_numpy(raw.astype(np.float32) / 255.0)
        images = torch.bernoulli(intensity, generator=torch.Generator().manual_seed(0))
        held_out = torch.arange(images.shape[0]) % 5 == 0
        return images[~held_out], images[held_out]
    split = mnist_idx(root, binarize=True, seed=0)
    return split.train_x.reshape(-1, 784), split.test_x.reshape(-1, 784)


def build_vae() -> VAE:
    encoder = nn.Sequential(nn.Linear(784, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, HIDDEN), nn.ReLU())
    decoder = nn.Sequential(
        nn.Linear(LATENT, HIDDEN),
        nn.ReLU(),
        nn.Linear(HIDDEN, HIDDEN),
        nn.ReLU(),
        nn.Linear(HIDDEN, 784),
    )
    return VAE(encoder, decoder, LATENT, likelihood="bernoulli")


def train(model: VAE, images: torch.Tensor, epochs: int) -> float:
    """Adam on the ELBO; returns the wall time in seconds."""
    model.build(images[:BATCH])
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    generator = torch.Generator().manual_seed(0)
    start = time.perf_counter()
    model.train()
    for _ in range(epochs):
        for index in torch.randperm(images.shape[0], generator=generator).split(BATCH):
            x = images[index]
            loss = model.compute_loss(x, model(x)).objective
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    return time.perf_counter() - start


class MaxTensorBytes(TorchDispatchMode):
    """The largest tensor (in bytes) any operator returned while the mode was active."""

    def __init__(self) -> None:
        super().__init__()
        self.max_bytes = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        out = func(*args, **(kwargs or {}))
        for leaf in tree_leaves(out):
            if isinstance(leaf, torch.Tensor):
                self.max_bytes = max(self.max_bytes, leaf.numel() * leaf.element_size())
        return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--data", type=Path, default=Path("../shared/data/mnist"))
    parser.add_argument("--timing-images", type=int, default=500)
    args = parser.parse_args()
    torch.manual_seed(0)

    train_images, held_out = load_mnist_10k(args.data)
    model = build_vae()
    train_seconds = train(model, train_images, args.epochs)

    start = time.perf_counter()
    bound = elbo(model, held_out, 1, seed=0)
    elbo_seconds = time.perf_counter() - start
    start = time.perf_counter()
    estimate = log_likelihood_estimate(model, held_out, 1000, seed=0)
    is_seconds = time.perf_counter() - start
    units = active_units(model, held_out)
    ess = estimate.effective_sample_size

    print(
        f"Machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} "
        f"threads; Python {platform.python_version()}, torch {torch.__version__}, "
        f"pyautoencoder {pyautoencoder.__version__}"
    )
    print(
        f"VAE (D_z = {LATENT}, Bernoulli) trained {args.epochs} epochs on 8,000 images in "
        f"{train_seconds:.1f} s; active units: {units.num_active} / {LATENT}.\n"
    )
    print(f"Held-out MNIST-10k ({held_out.shape[0]} images), nats per image:\n")
    print("| estimate | mean | standard error | bits/dim | ESS median / min | wall time (s) |")
    print("|---|---|---|---|---|---|")
    print(
        f"| ELBO (S = 1, closed-form KL) | {bound.mean:.2f} | {bound.standard_error:.2f} | "
        f"{bound.bits_per_dim:.4f} | - | {elbo_seconds:.1f} |"
    )
    print(
        f"| IS log p(x), K = 1000 | {estimate.mean:.2f} | {estimate.standard_error:.2f} | "
        f"{estimate.bits_per_dim:.4f} | {ess.median():.0f} / {ess.min():.1f} | "
        f"{is_seconds:.1f} |"
    )

    subset = held_out[: args.timing_images]
    print(
        f"\nCost of log_likelihood_estimate on {subset.shape[0]} held-out images "
        "(batch 64, chunk 64; one run each):\n"
    )
    print("| K | log p(x) | wall time (s) | us per image-sample | largest tensor (MiB) |")
    print("|---|---|---|---|---|")
    for k in (100, 1000, 5000):
        start = time.perf_counter()
        result = log_likelihood_estimate(model, subset, k, seed=0)
        seconds = time.perf_counter() - start
        with MaxTensorBytes() as tracker:
            log_likelihood_estimate(model, subset[:64], k, seed=0)
        per_sample = 1e6 * seconds / (subset.shape[0] * k)
        print(
            f"| {k} | {result.mean:.2f} | {seconds:.1f} | {per_sample:.1f} | "
            f"{tracker.max_bytes / 2**20:.2f} |"
        )


if __name__ == "__main__":
    main()
