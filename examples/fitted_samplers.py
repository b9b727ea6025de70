"""Samplers fitted after training draw better images than a VAE's prior.

Trains a VAE, then fits three densities to the posterior means of the training images
(``pyautoencoder.samplers``): a 10-component Gaussian mixture (``gmm:10``), a masked
autoregressive flow (``maf``) and a second-stage VAE (``two-stage``). It prints, for the prior
and each sampler, the kernel two-sample distance (unbiased MMD^2, RBF kernel) between 1,000
decoded samples and the model's decoded reconstructions of the held-out images (lower is
closer; both pass through the same decoder, so its blur cancels and the distance measures how
well the codes match the held-out codes), with training-image reconstructions as the floor,
and writes ``fitted_samplers.png`` (one row of samples per source). Data: MNIST-10k when
``../shared/data/mnist`` exists, else the bundled digits.
Run: ``python examples/fitted_samplers.py``.
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
from pyautoencoder.loss._mmd import RBFKernel, mmd_unbiased
from pyautoencoder.nets import MLPDecoder, MLPEncoder
from pyautoencoder.samplers import get_sampler
from pyautoencoder.variational import VAE

MNIST_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"
SAMPLERS = ("gmm:10", "maf", "two-stage")


def load_data(choice: str) -> tuple[str, DatasetSplit]:
    """MNIST-10k when its files are present (or asked for), else the bundled digits."""
    if choice == "mnist" or (choice == "auto" and MNIST_DIR.is_dir()):
        return "MNIST-10k", mnist_idx(MNIST_DIR)
    return "digits", digits()


def train_vae(split: DatasetSplit, epochs: int, latent_dim: int) -> VAE:
    shape = tuple(split.train_x.shape[1:])
    model = VAE(
        MLPEncoder(shape, hidden=(256, 256)),
        MLPDecoder(latent_dim, (256, 256), shape),
        latent_dim=latent_dim,
        likelihood="bernoulli",
    )
    model.build(split.train_x[:2])
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    for _ in range(epochs):
        for (x,) in TensorBatches(split.train_x, batch_size=100, shuffle=True):
            loss = model.compute_loss(x, model(x)).objective
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    return model.eval()


def main(out: Path, epochs: int, data: str, fit_steps: int) -> None:
    torch.manual_seed(0)
    name, split = load_data(data)
    model = train_vae(split, epochs, latent_dim=16)
    held_out = torch.sigmoid(model.reconstruct(split.test_x[:1000])).flatten(1)
    floor = torch.sigmoid(model.reconstruct(split.train_x[:1000])).flatten(1)
    kernel = RBFKernel(scales=(0.25, 1.0, 4.0), prior_variance=float(held_out.var(0).mean()))
    generator = torch.Generator().manual_seed(1)
    images = {"prior": torch.sigmoid(model.sample(1000))}
    for spec in SAMPLERS:
        sampler = get_sampler(spec)
        if hasattr(sampler, "num_steps"):
            sampler = type(sampler)(num_steps=fit_steps)
        sampler.fit(model, split.train_x)
        images[spec] = torch.sigmoid(sampler.sample(1000, generator))
    print(f"data: {name}; VAE with 16 latents, {epochs} epochs")
    print(
        f"MMD^2 to held-out reconstructions (floor, training reconstructions: "
        f"{float(mmd_unbiased(floor, held_out, kernel)):.5f})"
    )
    for source, drawn in images.items():
        distance = mmd_unbiased(drawn.flatten(1), held_out, kernel)
        print(f"{source:>10}: MMD^2 = {float(distance):.5f}")
    out.mkdir(parents=True, exist_ok=True)
    fig, axes = plt.subplots(len(images), 10, figsize=(8, 0.9 * len(images) + 0.3))
    for row, (source, drawn) in enumerate(images.items()):
        for col in range(10):
            axes[row, col].imshow(drawn[col].reshape(split.train_x.shape[2:]), cmap="gray_r")
            axes[row, col].axis("off")
        axes[row, 0].set_title(source, loc="left", fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "fitted_samplers.png", dpi=100)
    plt.close(fig)
    print(f"wrote {out / 'fitted_samplers.png'}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_out = Path(os.environ.get("PYAUTOENCODER_EXAMPLES_OUT", "."))
    parser.add_argument("--out", type=Path, default=default_out)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--data", choices=["auto", "mnist", "digits"], default="auto")
    parser.add_argument("--fit-steps", type=int, default=1500, help="Adam steps of maf/two-stage")
    args = parser.parse_args()
    main(args.out, args.epochs, args.data, args.fit_steps)
