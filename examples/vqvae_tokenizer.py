"""VQ-VAE as an image tokenizer: each image becomes a small grid of codebook indices.

Trains a convolutional VQ-VAE (EMA codebook of 64 codes, dead-code resets), then encodes the
held-out images to integer tokens, reports how much of the codebook they use and its
perplexity, and decodes the tokens back (``model.decode(indices)``). Writes
``vqvae_tokens.png`` (inputs, token maps, images decoded from the tokens). Data: MNIST-10k
when ``../shared/data/mnist`` exists, else the bundled digits.
Run: ``python examples/vqvae_tokenizer.py``.
"""

from __future__ import annotations

import argparse
import math
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch
from torch import nn

from pyautoencoder.data import DatasetSplit, TensorBatches, digits, mnist_idx
from pyautoencoder.quantized import VQVAE

MNIST_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"


def load_data(choice: str) -> tuple[str, DatasetSplit]:
    """MNIST-10k when its files are present (or asked for), else the bundled digits."""
    if choice == "mnist" or (choice == "auto" and MNIST_DIR.is_dir()):
        return "MNIST-10k", mnist_idx(MNIST_DIR)
    return "digits", digits()


def conv_nets(side: int, code_dim: int) -> tuple[nn.Module, nn.Module]:
    """Stride-2 convolutions down to a token grid (28x28 -> 7x7, 8x8 -> 4x4) and back."""
    down = 2 if side >= 28 else 1
    encoder, decoder = [], [nn.Conv2d(code_dim, 32, 3, padding=1), nn.ReLU()]
    for level in range(down):
        encoder += [nn.Conv2d(1 if level == 0 else 32, 32, 4, 2, 1), nn.ReLU()]
        decoder += [nn.ConvTranspose2d(32, 32 if level < down - 1 else 1, 4, 2, 1), nn.ReLU()]
    encoder.append(nn.Conv2d(32, code_dim, 1))
    return nn.Sequential(*encoder), nn.Sequential(*decoder[:-1])  # logits: no final ReLU


def main(out: Path, epochs: int, data: str, num_codes: int) -> None:
    torch.manual_seed(0)
    name, split = load_data(data)
    model = VQVAE(
        *conv_nets(split.train_x.shape[-1], 16),
        num_codes=num_codes,
        code_dim=16,
        dead_code_steps=20,
        likelihood="bernoulli",
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    for _ in range(epochs):
        for (x,) in TensorBatches(split.train_x, batch_size=64, shuffle=True):
            loss = model.compute_loss(x, model(x)).objective
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    model.eval()
    x = split.test_x
    tokens = model.encode(x).indices  # [N, h, w] int64: the tokenizer's output
    decoded = torch.sigmoid(model.decode(tokens).x_hat)  # tokens -> images
    p = torch.bincount(tokens.flatten(), minlength=num_codes).double() / tokens.numel()
    perplexity = math.exp(-(p[p > 0] * p[p > 0].log()).sum())  # exp(entropy of code use)
    error = (decoded - x).abs().mean()
    baseline = (split.train_x.mean(0) - x).abs().mean()  # predict the mean image
    bits = tokens[0].numel() * math.log2(num_codes)
    print(f"data: {name}; one image -> {tuple(tokens.shape[1:])} tokens = {bits:.0f} bits")
    print(f"held-out codes used: {int((p > 0).sum())}/{num_codes}, perplexity {perplexity:.1f}")
    print(f"mean pixel error of decoded tokens {error:.4f} (mean-image baseline {baseline:.4f})")
    out.mkdir(parents=True, exist_ok=True)
    fig, axes = plt.subplots(3, 8, figsize=(8, 3.3))
    rows = [(x, "gray_r", "inputs"), (tokens, "tab20", "tokens"), (decoded, "gray_r", "decoded")]
    for r, (images, cmap, title) in enumerate(rows):
        for c in range(8):
            axes[r, c].imshow(images[c].squeeze(0) if images.dim() == 4 else images[c], cmap=cmap)
            axes[r, c].axis("off")
        axes[r, 0].set_title(title, loc="left", fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "vqvae_tokens.png", dpi=100)
    plt.close(fig)
    print(f"wrote {out / 'vqvae_tokens.png'}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", type=Path, default=Path(os.environ.get("PYAUTOENCODER_EXAMPLES_OUT", "."))
    )
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--data", choices=["auto", "mnist", "digits"], default="auto")
    parser.add_argument("--num-codes", type=int, default=64)
    args = parser.parse_args()
    main(args.out, args.epochs, args.data, args.num_codes)
