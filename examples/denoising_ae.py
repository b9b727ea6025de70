"""A denoising autoencoder removes salt-and-pepper noise it was trained to undo.

Trains ``vanilla.DenoisingAE`` (Vincent et al. 2008): every training batch is corrupted by
flipping a fraction of the pixels to black or white, and the model reconstructs the clean
image. On held-out images it prints the squared error of the noisy input and of the denoised
output, and writes ``denoising.png`` (clean / noisy / denoised). Data: MNIST-10k when
``../shared/data/mnist`` exists, else the bundled digits.
Run: ``python examples/denoising_ae.py``.
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
from pyautoencoder.nets import MLPDecoder, MLPEncoder
from pyautoencoder.vanilla import DenoisingAE

MNIST_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"


def load_data(choice: str) -> tuple[str, DatasetSplit]:
    """MNIST-10k when its files are present (or asked for), else the bundled digits."""
    if choice == "mnist" or (choice == "auto" and MNIST_DIR.is_dir()):
        return "MNIST-10k", mnist_idx(MNIST_DIR)
    return "digits", digits()


def main(out: Path, epochs: int, data: str, noise: float) -> None:
    torch.manual_seed(0)
    name, split = load_data(data)
    shape = tuple(split.train_x.shape[1:])
    model = DenoisingAE(
        MLPEncoder(shape, hidden=(256,), out_features=32),
        MLPDecoder(32, (256,), shape),
        corruption="salt_and_pepper",
        noise_level=noise,
        likelihood="bernoulli",  # the decoder outputs logits
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(epochs):
        for (x,) in TensorBatches(split.train_x, batch_size=64, shuffle=True):
            loss = model.compute_loss(x, model(x)).objective  # corrupts x in training mode
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    model.eval()
    clean = split.test_x
    noisy = model.corrupt(clean)
    denoised = torch.sigmoid(model.decode(model.encode(noisy).z).x_hat)
    noisy_mse, denoised_mse = ((noisy - clean) ** 2).mean(), ((denoised - clean) ** 2).mean()
    print(f"data: {name}; salt-and-pepper noise on {noise:.0%} of the pixels")
    print(f"held-out mean squared error: noisy input {noisy_mse:.4f}, denoised {denoised_mse:.4f}")
    out.mkdir(parents=True, exist_ok=True)
    fig, axes = plt.subplots(3, 8, figsize=(8, 3.3))
    rows = ((clean, "clean"), (noisy, "noisy"), (denoised, "denoised"))
    for r, (images, title) in enumerate(rows):
        for c in range(8):
            axes[r, c].imshow(images[c, 0], cmap="gray_r", vmin=0, vmax=1)
            axes[r, c].axis("off")
        axes[r, 0].set_title(title, loc="left", fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "denoising.png", dpi=100)
    plt.close(fig)
    print(f"wrote {out / 'denoising.png'}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_out = Path(os.environ.get("PYAUTOENCODER_EXAMPLES_OUT", "."))
    parser.add_argument("--out", type=Path, default=default_out)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--data", choices=["auto", "mnist", "digits"], default="auto")
    parser.add_argument("--noise", type=float, default=0.2, help="fraction of corrupted pixels")
    args = parser.parse_args()
    main(args.out, args.epochs, args.data, args.noise)
