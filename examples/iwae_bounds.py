"""VAE vs IWAE: the K-sample bound L_K and the importance-sampled log-likelihood.

Trains a VAE (single-sample ELBO) and an IWAE (5 importance samples) with the same networks,
then estimates L_K on held-out images with ``evaluation.log_likelihood_estimate``: L_1 is the
ELBO, and L_K rises with K toward log p(x) (Burda et al. 2016). Writes ``iwae_bounds.png``.
Data: MNIST-10k (binarized) when ``../shared/data/mnist`` exists, else the bundled digits.
Run: ``python examples/iwae_bounds.py``.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch

from pyautoencoder.data import DatasetSplit, TensorBatches, digits, mnist_idx
from pyautoencoder.evaluation import log_likelihood_estimate
from pyautoencoder.nets import MLPDecoder, MLPEncoder
from pyautoencoder.variational import IWAE, VAE

MNIST_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"


def load_data(choice: str) -> tuple[str, DatasetSplit]:
    """Binary MNIST-10k when its files are present (or asked for), else binarized digits."""
    if choice == "mnist" or (choice == "auto" and MNIST_DIR.is_dir()):
        return "MNIST-10k", mnist_idx(MNIST_DIR, binarize=True)
    split = digits()  # gray levels in [0, 1]: binarize once so the Bernoulli p(x) is a pmf
    binary = [
        torch.bernoulli(x, generator=torch.Generator().manual_seed(0))
        for x in (split.train_x, split.test_x)
    ]
    return "digits (binarized)", DatasetSplit(binary[0], split.train_y, binary[1], split.test_y)


def train(model: VAE, x: torch.Tensor, epochs: int) -> VAE:
    model.build(x[:2])
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    for _ in range(epochs):
        for (batch,) in TensorBatches(x, batch_size=100, shuffle=True):
            loss = model.compute_loss(batch, model(batch)).objective
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    return model


def main(out: Path, epochs: int, data: str, eval_size: int, ks: list[int]) -> None:
    name, split = load_data(data)
    shape, held_out = tuple(split.train_x.shape[1:]), split.test_x[:eval_size]
    print(f"data: {name}, {len(split.train_x)} training images, {len(held_out)} held out")
    results = {}
    for label, cls, extra in (("VAE", VAE, {}), ("IWAE", IWAE, {"num_samples": 5})):
        torch.manual_seed(0)  # same initial weights for both models
        nets = MLPEncoder(shape, hidden=(256, 128)), MLPDecoder(16, (128, 256), shape)
        model = train(
            cls(*nets, latent_dim=16, likelihood="bernoulli", **extra), split.train_x, epochs
        )
        estimates = [log_likelihood_estimate(model, held_out, k, seed=0) for k in ks]
        results[label] = [e.mean for e in estimates]
        row = "  ".join(f"L_{k}={e.mean:8.2f}" for k, e in zip(ks, estimates))
        ess = float(estimates[-1].effective_sample_size.mean())
        print(f"{label:4s} {row}  (nats; mean ESS at K={ks[-1]}: {ess:.1f})")
    out.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(5, 3.2))
    for label, values in results.items():
        ax.plot(ks, values, marker="o", label=label)
    ax.set(xscale="log", xlabel="importance samples K", ylabel=r"held-out $\mathcal{L}_K$ (nats)")
    ax.set_title(name + r": $\mathcal{L}_1$ = ELBO, $\mathcal{L}_K \to \log p(x)$", fontsize=9)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "iwae_bounds.png", dpi=100)
    plt.close(fig)
    print(f"wrote {out / 'iwae_bounds.png'}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", type=Path, default=Path(os.environ.get("PYAUTOENCODER_EXAMPLES_OUT", "."))
    )
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--data", choices=["auto", "mnist", "digits"], default="auto")
    parser.add_argument("--eval-size", type=int, default=500, help="held-out images to score")
    parser.add_argument("--k", type=int, nargs="+", default=[1, 10, 100, 1000], help="values of K")
    args = parser.parse_args()
    main(args.out, args.epochs, args.data, args.eval_size, args.k)
