"""Every model of the variational family on binarized MNIST-10k, same networks, same budget.

Usage::

    python benchmarks/variational_mnist.py [--epochs 5] [--data ../shared/data/mnist]

Data: the official MNIST test split (10,000 images), binarized once with
``Bernoulli(intensity / 255)`` (``torch.Generator().manual_seed(0)``, index order); training
images are those with ``index % 5 != 0`` (8,000), held-out ``index % 5 == 0`` (2,000) — the
"MNIST-10k" convention of the data's README.

Every model gets the same MLP encoder (784-256-ReLU-256-ReLU features) and decoder
(D_z-256-ReLU-256-ReLU-784 Bernoulli logits), D_z = 16, Adam (lr 1e-3), batch 100, the same
seed, and ``--epochs`` passes. Reported per model, on the held-out images:

* ``own bound``: minus the model's own objective (IWAE: its K-sample bound; beta-TCVAE,
  DIP-VAE, InfoVAE, WAE: their weighted objectives, not bounds on log p(x));
* ``ELBO``: the plain ELBO (one posterior sample, closed-form KL where it exists);
* ``log p(x) >=``: the importance-weighted bound with K = 200 samples, a tighter estimate of
  the held-out log-likelihood that is comparable across models.

AdaGVAE (Locatello et al. 2020) learns from pairs: each training image is paired with a random
training image of the same digit (weak supervision: the pair shares the class, the number of
other shared factors is unknown, so the adaptive threshold decides). It sees each image once
per epoch as the first of a pair, so it does twice the decoder work of the VAE; its inner VAE
is evaluated on single held-out images like the other models (``own bound`` = its ELBO).

All in nats per image (higher is better). Prints a markdown table.
"""

from __future__ import annotations

import argparse
import gzip
import math
import platform
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn

import pyautoencoder
from pyautoencoder.loss import importance_log_weights, iwae_bound
from pyautoencoder.loss._sampled import sampled_log_likelihood
from pyautoencoder.variational import (
    CVAE,
    DIPVAE,
    IWAE,
    VAE,
    WAE,
    AdaGVAE,
    BetaTCVAE,
    InfoVAE,
)

LATENT = 16
HIDDEN = 256
BATCH = 100


def load_mnist_10k(root: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """Binarized images ``[10000, 784]`` and labels ``[10000]`` (IDX files read with numpy)."""
    with gzip.open(root / "t10k-images-idx3-ubyte.gz", "rb") as f:
        images = np.frombuffer(f.read(), dtype=np.uint8, offset=16).reshape(-1, 784)
    with gzip.open(root / "t10k-labels-idx1-ubyte.gz", "rb") as f:
        labels = np.frombuffer(f.read(), dtype=np.uint8, offset=8)
    intensity = torch.from_numpy(images.astype(np.float32) / 255.0)
    binary = torch.bernoulli(intensity, generator=torch.Generator().manual_seed(0))
    return binary, torch.from_numpy(labels.astype(np.int64))


def encoder() -> nn.Module:
    return nn.Sequential(nn.LazyLinear(HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, HIDDEN), nn.ReLU())


def decoder() -> nn.Module:
    return nn.Sequential(
        nn.LazyLinear(HIDDEN),
        nn.ReLU(),
        nn.Linear(HIDDEN, HIDDEN),
        nn.ReLU(),
        nn.Linear(HIDDEN, 784),
    )


def models(train_size: int) -> dict[str, Callable[[], VAE | AdaGVAE]]:
    kw = {"likelihood": "bernoulli"}
    return {
        "VAE": lambda: VAE(encoder(), decoder(), LATENT, **kw),
        "VAE, free bits 0.1": lambda: VAE(encoder(), decoder(), LATENT, free_bits=0.1, **kw),
        "VAE, MoG prior (10)": lambda: VAE(
            encoder(), decoder(), LATENT, prior="mixture_of_gaussians", **kw
        ),
        "VAE, VampPrior (50)": lambda: VAE(encoder(), decoder(), LATENT, prior="vamp", **kw),
        "IWAE K=5": lambda: IWAE(encoder(), decoder(), LATENT, num_samples=5, **kw),
        "IWAE K=5, DReG": lambda: IWAE(
            encoder(), decoder(), LATENT, num_samples=5, gradient_estimator="dreg", **kw
        ),
        "beta-TCVAE (beta=6, MSS)": lambda: BetaTCVAE(
            encoder(), decoder(), LATENT, dataset_size=train_size, sampling="mss", **kw
        ),
        "DIP-VAE-I": lambda: DIPVAE(encoder(), decoder(), LATENT, variant="i", **kw),
        "DIP-VAE-II": lambda: DIPVAE(encoder(), decoder(), LATENT, variant="ii", **kw),
        "InfoVAE (MMD-VAE)": lambda: InfoVAE(encoder(), decoder(), LATENT, **kw),
        "WAE-MMD": lambda: WAE(encoder(), decoder(), LATENT, **kw),
        "CVAE (labels)": lambda: CVAE(encoder(), decoder(), LATENT, condition_dim=10, **kw),
        "AdaGVAE (same-digit pairs)": lambda: AdaGVAE(VAE(encoder(), decoder(), LATENT, **kw)),
    }


def same_label_partners(
    labels: torch.Tensor, all_labels: torch.Tensor, gen: torch.Generator
) -> torch.Tensor:
    """For each label, the index of a uniformly drawn training example with that label."""
    partners = torch.empty_like(labels)
    for digit in labels.unique():
        pool = (all_labels == digit).nonzero().squeeze(1)
        rows = (labels == digit).nonzero().squeeze(1)
        partners[rows] = pool[torch.randint(len(pool), (len(rows),), generator=gen)]
    return partners


def _forward(model: VAE, x: torch.Tensor, y: torch.Tensor, samples: int | None = None):  # type: ignore[no-untyped-def]
    extra = (y,) if isinstance(model, CVAE) else ()
    if samples is None:
        return model(x, *extra)
    return model(x, *extra, S=samples)


def train(model: VAE | AdaGVAE, x: torch.Tensor, y: torch.Tensor, epochs: int) -> float:
    model.build(x[:BATCH])  # CVAE builds with a zero condition; AdaGVAE with single inputs
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(1)
    start = time.perf_counter()
    with pyautoencoder.value_checks(False):
        for _ in range(epochs):
            order = torch.randperm(x.shape[0], generator=gen)
            for i in range(0, x.shape[0], BATCH):
                idx = order[i : i + BATCH]
                optimizer.zero_grad(set_to_none=True)
                if isinstance(model, AdaGVAE):
                    pair = (x[idx], x[same_label_partners(y[idx], y, gen)])
                    loss = model.compute_loss(pair, model(pair)).objective
                else:
                    loss = model.compute_loss(x[idx], _forward(model, x[idx], y[idx])).objective
                loss.backward()
                optimizer.step()
    return time.perf_counter() - start


@torch.no_grad()
def evaluate(model: VAE, x: torch.Tensor, y: torch.Tensor, k: int) -> tuple[float, float, float]:
    own, elbo, iw = [], [], []
    for i in range(0, x.shape[0], BATCH):
        xb, yb = x[i : i + BATCH], y[i : i + BATCH]
        out = _forward(model, xb, yb, samples=1 if not isinstance(model, IWAE) else None)
        result = model.compute_loss(xb, out)
        own.append(float(-result.objective) * xb.shape[0])
        single = _forward(model, xb, yb, samples=1)
        log_lik = sampled_log_likelihood(xb, single.x_hat, "bernoulli").mean(1)
        kl = model.kl_per_dim(single).sum(-1)
        elbo.append(float((log_lik - kl).sum()))
        many = _forward(model, xb, yb, samples=k)
        log_w = importance_log_weights(
            sampled_log_likelihood(xb, many.x_hat, "bernoulli"),
            many.z,
            many.mu,
            many.log_var,
            model.latent_prior,
        )
        iw.append(float(iwae_bound(log_w).sum()))
    n = x.shape[0]
    return sum(own) / n, sum(elbo) / n, sum(iw) / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--importance-samples", type=int, default=200)
    parser.add_argument(
        "--data", type=Path, default=Path(__file__).parents[2] / "shared/data/mnist"
    )
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if not (args.data / "t10k-images-idx3-ubyte.gz").exists():
        raise SystemExit(f"MNIST test split not found under {args.data}; pass --data")
    images, labels = load_mnist_10k(args.data)
    index = torch.arange(images.shape[0])
    train_x, train_y = images[index % 5 != 0], labels[index % 5 != 0]
    test_x, test_y = images[index % 5 == 0], labels[index % 5 == 0]

    rows = []
    for name, factory in models(train_x.shape[0]).items():
        torch.manual_seed(0)
        model = factory()
        seconds = train(model, train_x, train_y, args.epochs)
        model.eval()
        torch.manual_seed(0)
        single = model.vae if isinstance(model, AdaGVAE) else model
        own, elbo, iw = evaluate(single, test_x, test_y, args.importance_samples)
        rows.append((name, own, elbo, iw, seconds))
        print(f"done: {name} ({seconds:.1f} s)", flush=True)

    base_time = rows[0][4]
    print()
    print(
        f"Binarized MNIST-10k (train 8,000 / held-out 2,000), {args.epochs} epochs, batch {BATCH}, "
        f"D_z = {LATENT}, MLP {HIDDEN}x2; torch {torch.__version__}, pyautoencoder "
        f"{pyautoencoder.__version__}, {platform.processor() or platform.machine()}, "
        f"{args.threads} thread(s). Nats per held-out image, higher is better."
    )
    print()
    print(
        f"| model | own objective | ELBO | log p(x) >= (IWAE-{args.importance_samples}) "
        "| train time (s) | time vs VAE |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for name, own, elbo, iw, seconds in rows:
        print(
            f"| {name} | {own:.1f} | {elbo:.1f} | {iw:.1f} | {seconds:.1f} | "
            f"{seconds / base_time:.2f}x |"
        )
    if any(math.isnan(r[3]) for r in rows):
        raise SystemExit("a model produced NaN")


if __name__ == "__main__":
    main()
