"""Figures of a VAE trained on the bundled digits: reconstructions and samples from the prior.

Writes ``reconstructions.png`` and ``prior_samples.png`` to ``--out`` (default: the folder in
``$PYAUTOENCODER_EXAMPLES_OUT``, else the current folder). The docs build runs this script and
shows the figures on the Getting started page. Run: ``python examples/plot_reconstructions.py``.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch
from sklearn.datasets import load_digits
from torch import nn

from pyautoencoder.variational import VAE


def train_vae(epochs: int, latent_dim: int = 8) -> tuple[VAE, torch.Tensor]:
    torch.manual_seed(0)
    images = torch.tensor(load_digits().data, dtype=torch.float32) / 16.0  # [N, 64]
    encoder = nn.Sequential(nn.Linear(64, 128), nn.ReLU())
    decoder = nn.Sequential(nn.Linear(latent_dim, 128), nn.ReLU(), nn.Linear(128, 64))
    model = VAE(encoder, decoder, latent_dim=latent_dim)
    model.build(images[:2])
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(epochs):
        for batch in images[torch.randperm(len(images))].split(64):
            loss = model.compute_loss(batch, model(batch), likelihood="bernoulli")
            optimizer.zero_grad(set_to_none=True)
            loss.objective.backward()
            optimizer.step()
    return model, images


def image_grid(rows: list[torch.Tensor], titles: list[str], path: Path) -> None:
    """Plot each row of 8x8 images (``[n, 64]`` in [0, 1]) as one row of a grid."""
    n = rows[0].shape[0]
    fig, axes = plt.subplots(len(rows), n, figsize=(n * 0.8, len(rows) * 0.9))
    for r, (row, title) in enumerate(zip(rows, titles)):
        for c in range(n):
            axes[r, c].imshow(row[c].reshape(8, 8), cmap="gray_r", vmin=0, vmax=1)
            axes[r, c].axis("off")
        axes[r, 0].set_title(title, loc="left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(out: Path, epochs: int = 20) -> None:
    model, images = train_vae(epochs)
    out.mkdir(parents=True, exist_ok=True)
    with torch.no_grad():
        inputs = images[:10]
        recon = torch.sigmoid(model.decode(model.encode(inputs).z).x_hat[:, 0])
        prior_z = torch.randn(2, 10, model.latent_dim)
        samples = torch.sigmoid(model.decode(prior_z.reshape(20, 1, -1)).x_hat[:, 0])
    image_grid(
        [inputs, recon], ["inputs", "reconstructions (posterior mean)"], out / "reconstructions.png"
    )
    image_grid(
        [samples[:10], samples[10:]], ["samples from N(0, I)", ""], out / "prior_samples.png"
    )
    print(f"wrote {out / 'reconstructions.png'} and {out / 'prior_samples.png'}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_out = os.environ.get("PYAUTOENCODER_EXAMPLES_OUT", ".")
    parser.add_argument("--out", type=Path, default=Path(default_out))
    parser.add_argument("--epochs", type=int, default=20)
    args = parser.parse_args()
    main(args.out, args.epochs)
