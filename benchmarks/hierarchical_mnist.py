"""Hierarchical VAEs against one-layer VAEs on binarized MNIST-10k: held-out IS log p(x).

Usage::

    python benchmarks/hierarchical_mnist.py [--epochs 10] [--k 1000] [--eval-size 500]
        [--models vae,ladder,...] [--seed 0]

Data: MNIST-10k binarized once (see ``benchmarks/_common.py``): 8,000 training images, held-out
images evaluated with the importance-sampled estimate ``log_likelihood_estimate`` (``K``
samples of each model's own posterior; for the hierarchical models the full top-down
posterior). Every model has the same encoder body (784-512-ReLU-256-ReLU features), the same
decoder (32-256-ReLU-512-ReLU-784 Bernoulli logits: the VAE's ``z``, the Ladder VAE's bottom
group ``z_1``, a linear map of ``HierarchicalVAE``'s final top-down state), Adam (lr 1e-3),
batch 100, no KL warm-up, the same seed (``--seed``: initial weights and training noise; the
batch order is fixed) and ``--epochs`` passes; the hierarchical models add their own small
top-down networks (``hidden_dim=128``), so the table prints every model's parameter count,
and the held-out KL of every latent group. One thread.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import DEFAULT_DATA, load_mnist_10k, machine_lines, set_threads, table

import pyautoencoder
from pyautoencoder.evaluation import log_likelihood_estimate
from pyautoencoder.variational import IWAE, VAE, HierarchicalVAE, LadderVAE

BATCH = 100


def encoder() -> nn.Module:
    return nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 256), nn.ReLU())


def decoder(latent: int = 32) -> nn.Module:
    return nn.Sequential(
        nn.Linear(latent, 256), nn.ReLU(), nn.Linear(256, 512), nn.ReLU(), nn.Linear(512, 784)
    )


def models() -> dict[str, Callable[[], nn.Module]]:
    kw = {"likelihood": "bernoulli"}
    top = {"hidden_dim": 128, **kw}
    return {
        "VAE (z 32)": lambda: VAE(encoder(), decoder(), 32, **kw),
        "VAE (z 16)": lambda: VAE(encoder(), decoder(16), 16, **kw),
        "IWAE K=50 (z 32)": lambda: IWAE(encoder(), decoder(), 32, num_samples=50, **kw),
        "LadderVAE (32 + 16)": lambda: LadderVAE(encoder(), decoder(), [32, 16], **top),
        "HierarchicalVAE (2 x 16)": lambda: HierarchicalVAE(
            encoder(), decoder(), [16, 16], decoder_dim=32, **top
        ),
        "HierarchicalVAE (4 x 8)": lambda: HierarchicalVAE(
            encoder(), decoder(), [8] * 4, decoder_dim=32, **top
        ),
    }


def train(model: nn.Module, x: torch.Tensor, epochs: int) -> float:
    model.build(x[:BATCH])  # type: ignore[operator]
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    generator = torch.Generator().manual_seed(1)
    start = time.perf_counter()
    with pyautoencoder.value_checks(False):
        for _ in range(epochs):
            order = torch.randperm(x.shape[0], generator=generator)
            for i in range(0, x.shape[0], BATCH):
                batch = x[order[i : i + BATCH]]
                loss = model.compute_loss(batch, model(batch)).objective  # type: ignore[operator]
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
    return time.perf_counter() - start


def held_out_kl(model: nn.Module, x: torch.Tensor) -> str:
    """Mean held-out KL (nats) of every latent group, ``l = 1`` (next to ``x``) first."""
    with torch.no_grad():
        output = model(x[:BATCH], S=1)  # type: ignore[operator]
        kl = model.kl_per_dim(output).mean(dim=0)  # type: ignore[operator]
    slices = getattr(model, "group_slices", [slice(None)])
    return " / ".join(f"{float(kl[s].sum()):.1f}" for s in slices)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--k", type=int, default=1000, help="importance samples per image")
    parser.add_argument("--eval-size", type=int, default=500, help="held-out images scored")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument(
        "--models", default="", help="comma-separated substrings of the model names to run"
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of the initial weights and training noise"
    )
    args = parser.parse_args()
    set_threads(1)
    train_x, test_x = load_mnist_10k(args.data)
    held_out = test_x[: args.eval_size]
    wanted = [w.strip().lower() for w in args.models.split(",") if w.strip()]
    rows = []
    baseline: torch.Tensor | None = None
    for name, make in models().items():
        if wanted and not any(w in name.lower() for w in wanted):
            continue
        torch.manual_seed(args.seed)
        model = make()
        seconds = train(model, train_x, args.epochs)
        estimate = log_likelihood_estimate(model, held_out, args.k, chunk_size=100, seed=0)
        params = sum(p.numel() for p in model.parameters())
        if baseline is None:  # the first model run (the VAE with z 32 unless filtered out)
            baseline = estimate.values
        gain = estimate.values - baseline  # paired over the same held-out images
        gain_se = float(gain.std() / len(gain) ** 0.5) if len(gain) > 1 else float("nan")
        rows.append(
            [
                name,
                f"{params / 1e6:.2f} M",
                f"{seconds:.0f} s",
                f"{estimate.mean:.2f} +- {estimate.standard_error:.2f}",
                f"{float(gain.mean()):+.2f} +- {gain_se:.2f}",
                held_out_kl(model, held_out),
            ]
        )
        print(f"{name}: log p(x) >= {estimate.mean:.2f}", flush=True)
    print()
    print("\n".join(machine_lines(1)))
    print(
        f"- MNIST-10k binarized, {args.epochs} epochs, seed {args.seed}, IS log p(x) with "
        f"K = {args.k} on the first {args.eval_size} held-out images (nats, higher is better; "
        "+- standard error over images); 'vs first' is the paired difference to the first "
        "row on the same images; KL per group on the first 100 held-out images, z_1 first\n"
    )
    header = ["model", "parameters", "training", "held-out log p(x)", "vs first", "KL per group"]
    print(table(header, rows))


if __name__ == "__main__":
    main()
