"""Deterministic and quantised autoencoders against a VAE on MNIST-10k: same MLPs, same budget.

Usage::

    python benchmarks/quantized_mnist.py [--epochs 10] [--data ../shared/data/mnist]

Data: the official MNIST test split (10,000 images) as grey levels in ``[0, 1]``; training
images are those with ``index % 5 != 0`` (8,000), held-out ``index % 5 == 0`` (2,000) — the
"MNIST-10k" convention of the data's README.

Every model gets the same MLP trunk (784-256-ReLU-256-ReLU), a 16-float code and the same
decoder (16-256-ReLU-256-ReLU-784 Bernoulli logits; grey levels are soft Bernoulli targets),
Adam (lr 1e-3), batch 100, the same seed and ``--epochs`` passes. The VAE's sampling layer maps
the trunk's features to ``mu, log_var`` (16 each); the other encoders end in ``Linear(256, 16)``.
The VQ-VAEs quantise those 16 floats either as one 16-d code per image or as 4 positions of
4-d codes (``[B, 4, 4]``, channel-first), with K = 512 codes, EMA codebook.

Reported on the held-out images, from the deterministic reconstruction (posterior mean for the
VAE, no corruption for the denoising AE): MSE per pixel of ``sigmoid(x_hat)``, the Bernoulli
NLL in nats per image, and for the VQ-VAEs the perplexity and the fraction of codes used over
the whole held-out set. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import gzip
import platform
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn

import pyautoencoder
from pyautoencoder._base import BaseAutoencoder
from pyautoencoder.quantized import VQVAE
from pyautoencoder.vanilla import AE, RAE, ContractiveAE, DenoisingAE, SparseAE
from pyautoencoder.variational import VAE

LATENT = 16
HIDDEN = 256
BATCH = 100
NUM_CODES = 512


def load_mnist_10k(root: Path) -> torch.Tensor:
    """Grey levels ``[10000, 784]`` in ``[0, 1]`` (IDX file read with gzip + numpy)."""
    with gzip.open(root / "t10k-images-idx3-ubyte.gz", "rb") as f:
        raw = np.frombuffer(f.read(), dtype=np.uint8, offset=16).reshape(-1, 784)
    return torch.from_numpy(raw.astype(np.float32) / 255.0)


def trunk() -> list[nn.Module]:
    return [nn.Linear(784, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, HIDDEN), nn.ReLU()]


def encoder(*tail: nn.Module) -> nn.Module:
    return nn.Sequential(*trunk(), nn.Linear(HIDDEN, LATENT), *tail)


def decoder(*head: nn.Module) -> nn.Module:
    return nn.Sequential(
        *head,
        nn.Linear(LATENT, HIDDEN),
        nn.ReLU(),
        nn.Linear(HIDDEN, HIDDEN),
        nn.ReLU(),
        nn.Linear(HIDDEN, 784),
    )


def models() -> dict[str, Callable[[], BaseAutoencoder]]:
    lik = {"likelihood": "bernoulli"}
    grid = (nn.Unflatten(1, (4, 4)),)  # [B, 16] -> 4-d codes at 4 positions
    vq = {"num_codes": NUM_CODES, **lik}
    return {
        "VAE": lambda: VAE(nn.Sequential(*trunk()), decoder(), LATENT, **lik),
        "AE": lambda: AE(encoder(), decoder()),
        "DenoisingAE (masking 0.25)": lambda: DenoisingAE(encoder(), decoder(), **lik),
        "SparseAE (KL to 0.05)": lambda: SparseAE(encoder(), decoder(), **lik),
        "ContractiveAE (lambda 0.1)": lambda: ContractiveAE(encoder(), decoder(), **lik),
        "RAE-GP": lambda: RAE(encoder(), decoder(), LATENT, **lik),
        "RAE-L2": lambda: RAE(encoder(), decoder(), LATENT, regularizer="weight_decay", **lik),
        "VQ-VAE 1 x 16-d, no reset": lambda: VQVAE(
            encoder(), decoder(), code_dim=LATENT, dead_code_steps=None, **vq
        ),
        "VQ-VAE 1 x 16-d (default: reset after 100 steps)": lambda: VQVAE(
            encoder(), decoder(), code_dim=LATENT, **vq
        ),
        "VQ-VAE 1 x 16-d, reset after 20 steps": lambda: VQVAE(
            encoder(), decoder(), code_dim=LATENT, dead_code_steps=20, **vq
        ),
        "VQ-VAE 4 x 4-d, no reset": lambda: VQVAE(
            encoder(*grid), decoder(nn.Flatten()), code_dim=4, dead_code_steps=None, **vq
        ),
        "VQ-VAE 4 x 4-d (default: reset after 100 steps)": lambda: VQVAE(
            encoder(*grid), decoder(nn.Flatten()), code_dim=4, **vq
        ),
        "VQ-VAE 4 x 4-d, reset after 20 steps": lambda: VQVAE(
            encoder(*grid), decoder(nn.Flatten()), code_dim=4, dead_code_steps=20, **vq
        ),
    }


def _loss(model: BaseAutoencoder, x: torch.Tensor) -> torch.Tensor:
    if type(model) is AE:  # the plain AE takes the likelihood per call
        return model.compute_loss(x, model(x), likelihood="bernoulli").objective
    return model.compute_loss(x, model(x)).objective


def train(model: BaseAutoencoder, x: torch.Tensor, epochs: int) -> float:
    model.build(x[:BATCH])
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(1)
    start = time.perf_counter()
    with pyautoencoder.value_checks(False):
        for _ in range(epochs):
            order = torch.randperm(x.shape[0], generator=gen)
            for i in range(0, x.shape[0], BATCH):
                batch = x[order[i : i + BATCH]]
                optimizer.zero_grad(set_to_none=True)
                _loss(model, batch).backward()
                optimizer.step()
    return time.perf_counter() - start


@torch.no_grad()
def evaluate(model: BaseAutoencoder, x: torch.Tensor) -> dict[str, float]:
    model.eval()
    squared, nll = 0.0, 0.0
    counts = torch.zeros(NUM_CODES)
    for i in range(0, x.shape[0], BATCH):
        xb = x[i : i + BATCH]
        if isinstance(model, VAE):
            logits = model(xb, sample=False).x_hat.squeeze(1)
        elif isinstance(model, VQVAE):
            out = model(xb)
            logits = out.x_hat
            counts += torch.bincount(out.indices.reshape(-1), minlength=NUM_CODES).float()
        else:
            logits = model(xb).x_hat
        squared += float((torch.sigmoid(logits) - xb).square().sum())
        nll += float(nn.functional.binary_cross_entropy_with_logits(logits, xb, reduction="sum"))
    result = {"mse": squared / x.numel(), "nll": nll / x.shape[0]}
    if isinstance(model, VQVAE):
        probs = counts / counts.sum()
        result["perplexity"] = float(torch.special.entr(probs).sum().exp())
        result["codes_used"] = float((counts > 0).float().mean())
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument(
        "--data", type=Path, default=Path(__file__).parents[2] / "shared/data/mnist"
    )
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if not (args.data / "t10k-images-idx3-ubyte.gz").exists():
        raise SystemExit(f"MNIST test split not found under {args.data}; pass --data")
    images = load_mnist_10k(args.data)
    index = torch.arange(images.shape[0])
    train_x, test_x = images[index % 5 != 0], images[index % 5 == 0]

    rows = []
    for name, factory in models().items():
        torch.manual_seed(0)
        model = factory()
        seconds = train(model, train_x, args.epochs)
        metrics = evaluate(model, test_x)
        rows.append((name, metrics, seconds))
        print(f"done: {name} ({seconds:.1f} s)", flush=True)

    base_time = rows[0][2]
    print()
    print(
        f"MNIST-10k grey levels (train 8,000 / held-out 2,000), {args.epochs} epochs, batch "
        f"{BATCH}, 16-float code, MLP {HIDDEN}x2, Bernoulli likelihood; torch "
        f"{torch.__version__}, pyautoencoder {pyautoencoder.__version__}, "
        f"{platform.processor() or platform.machine()}, {args.threads} thread(s)."
    )
    print()
    print(
        "| model | held-out MSE / pixel | held-out NLL (nats / image) | perplexity "
        f"(of {NUM_CODES}) | codes used | train time (s) | time vs VAE |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, m, seconds in rows:
        perplexity = f"{m['perplexity']:.1f}" if "perplexity" in m else "—"
        used = f"{100 * m['codes_used']:.1f} %" if "codes_used" in m else "—"
        print(
            f"| {name} | {m['mse']:.4f} | {m['nll']:.1f} | {perplexity} | {used} | "
            f"{seconds:.1f} | {seconds / base_time:.2f}x |"
        )


if __name__ == "__main__":
    main()
