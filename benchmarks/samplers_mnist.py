"""Samples from the prior against samples from fitted samplers, on binarized MNIST-10k.

Usage::

    python benchmarks/samplers_mnist.py [--epochs 10] [--samples 2000]

Trains a VAE (16 latents, Bernoulli decoder, the MLPs of ``hierarchical_mnist.py``) on the
8,000 training images, fits every sampler of :mod:`pyautoencoder.samplers` to the posterior
means of those images, and scores ``--samples`` decoded draws of each source by two measures
that need no pretrained network:

* ``MMD^2``: unbiased kernel two-sample distance (RBF, three bandwidths) between the decoded
  draws and the model's decoded reconstructions of the 2,000 held-out images (both through the
  same decoder, so the distance measures how well the sampled codes match the codes of unseen
  data); training-image reconstructions give the floor;
* a small classifier (784-256-10 MLP) trained here on the training images and labels: the mean
  confidence ``E[max_y p(y | x)]`` (sharp, digit-like samples score high), the label entropy
  ``H(E[p(y | x)])`` (all ten digits drawn: ``ln 10 = 2.30``), and the classifier score
  ``exp(E[KL(p(y | x) || p(y))])`` (an Inception-score analogue, at most 10).
One thread.
"""

from __future__ import annotations

import argparse
import gzip
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import DEFAULT_DATA, load_mnist_10k, machine_lines, set_threads, table

import pyautoencoder
from pyautoencoder.samplers import get_sampler
from pyautoencoder.variational import VAE

SOURCES = ("normal", "gmm:10", "maf", "two-stage")


def labels(root: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """Training and held-out labels in the MNIST-10k split (index % 5)."""
    with gzip.open(root / "t10k-labels-idx1-ubyte.gz", "rb") as f:
        values = torch.from_numpy(
            np.frombuffer(f.read(), dtype=np.uint8, offset=8).astype(np.int64)
        )
    index = torch.arange(values.shape[0])
    return values[index % 5 != 0], values[index % 5 == 0]


def train_vae(x: torch.Tensor, epochs: int) -> VAE:
    encoder = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 256), nn.ReLU())
    decoder = nn.Sequential(
        nn.Linear(16, 256), nn.ReLU(), nn.Linear(256, 512), nn.ReLU(), nn.Linear(512, 784)
    )
    model = VAE(encoder, decoder, 16, likelihood="bernoulli")
    model.build(x[:2])
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    generator = torch.Generator().manual_seed(1)
    with pyautoencoder.value_checks(False):
        for _ in range(epochs):
            order = torch.randperm(x.shape[0], generator=generator)
            for i in range(0, x.shape[0], 100):
                batch = x[order[i : i + 100]]
                loss = model.compute_loss(batch, model(batch)).objective
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
    return model.eval()


def train_classifier(x: torch.Tensor, y: torch.Tensor, epochs: int = 5) -> nn.Module:
    net = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    generator = torch.Generator().manual_seed(2)
    for _ in range(epochs):
        order = torch.randperm(x.shape[0], generator=generator)
        for i in range(0, x.shape[0], 100):
            index = order[i : i + 100]
            loss = nn.functional.cross_entropy(net(x[index]), y[index])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    return net.eval()


@torch.no_grad()
def mmd_rbf(x: torch.Tensor, y: torch.Tensor, variance: float) -> float:
    """Unbiased MMD^2 with the RBF kernels ``exp(-||a - b||^2 / (2 D variance s))``,
    ``s`` in (0.25, 1, 4), summed (the kernel of ``pyautoencoder.loss.RBFKernel``; distances
    by ``cdist`` so that 2,000 x 2,000 images fit in memory)."""
    n, m, dim = x.shape[0], y.shape[0], x.shape[1]

    def kernel(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        sq = torch.cdist(a.double(), b.double()).square()
        return sum(torch.exp(-sq / (2.0 * dim * variance * s)) for s in (0.25, 1.0, 4.0))

    k_xx, k_yy, k_xy = kernel(x, x), kernel(y, y), kernel(x, y)
    term_xx = (k_xx.sum() - k_xx.diagonal().sum()) / (n * (n - 1))
    term_yy = (k_yy.sum() - k_yy.diagonal().sum()) / (m * (m - 1))
    return float(term_xx + term_yy - 2.0 * k_xy.mean())


@torch.no_grad()
def classifier_scores(net: nn.Module, images: torch.Tensor) -> tuple[float, float, float]:
    """``(mean confidence, label entropy, classifier score)`` of ``images [N, 784]``."""
    probs = torch.softmax(net(images), dim=1)  # [N, 10]
    marginal = probs.mean(0)
    entropy = float(-(marginal * marginal.clamp_min(1e-12).log()).sum())
    kl = (probs * (probs.clamp_min(1e-12).log() - marginal.clamp_min(1e-12).log())).sum(1)
    return float(probs.max(1).values.mean()), entropy, math.exp(float(kl.mean()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = parser.parse_args()
    set_threads(1)
    torch.manual_seed(0)
    train_x, test_x = load_mnist_10k(args.data)
    train_y, _ = labels(args.data)
    model = train_vae(train_x, args.epochs)
    classifier = train_classifier(train_x, train_y)
    with torch.no_grad():
        held_out = torch.sigmoid(model.reconstruct(test_x))
        floor = torch.sigmoid(model.reconstruct(train_x[: test_x.shape[0]]))
    variance = float(held_out.var(0).mean())
    generator = torch.Generator().manual_seed(1)
    drawn = {
        "reconstructions (floor)": floor,
        "prior N(0, I)": torch.sigmoid(model.sample(args.samples)),
    }
    fit_seconds = {}
    for spec in SOURCES:
        start = time.perf_counter()
        sampler = get_sampler(spec).fit(model, train_x)
        fit_seconds[spec] = time.perf_counter() - start
        print(f"fitted {spec} in {fit_seconds[spec]:.0f} s", flush=True)
        drawn[spec] = torch.sigmoid(sampler.sample(args.samples, generator))
    rows = []
    for name, images in drawn.items():
        distance = mmd_rbf(images[:2000], held_out, variance)
        confidence, entropy, score = classifier_scores(classifier, images)
        fitted = f"{fit_seconds[name]:.0f} s" if name in fit_seconds else ""
        rows.append(
            [name, f"{distance:.4f}", f"{confidence:.3f}", f"{entropy:.3f}", f"{score:.2f}", fitted]
        )
    print("\n".join(machine_lines(1)))
    print(
        f"- VAE (16 latents) trained {args.epochs} epochs on MNIST-10k; {args.samples} draws per "
        "source; MMD^2 to the decoded reconstructions of the 2,000 held-out images\n"
    )
    header = ["source", "MMD^2 (lower)", "confidence", "label entropy", "classifier score", "fit"]
    print(table(header, rows))


if __name__ == "__main__":
    main()
