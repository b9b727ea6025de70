"""A tokenizer that can generate: any quantizer, its code usage, and a prior over its tokens.

Trains a convolutional VQ-VAE whose quantizer is given as a spec string (``--quantizer
fsq:8,5,5`` by default; ``vq:256``, ``lfq:8``, ``rvq:2`` ...), measures the held-out code usage
over the whole split (``pyautoencoder.evaluation.code_usage``), fits an autoregressive
``CodePrior`` to the training tokens (``train_code_prior``: ``fit()`` on the index grids) and
reports its held-out NLL in bits per token, then draws new token grids and decodes them
(``model.sample``). Writes ``quantizer_usage.png`` (codes by usage) and
``quantizer_samples.png`` (decoded prior samples). Data: MNIST-10k when
``../shared/data/mnist`` exists, else the bundled digits.
Run: ``python examples/quantizer_tokenizer.py --quantizer fsq:8,5,5``.
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
from pyautoencoder.evaluation import code_usage
from pyautoencoder.quantized import VQVAE, train_code_prior

MNIST_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"


def load_data(choice: str) -> tuple[str, DatasetSplit]:
    """MNIST-10k when its files are present (or asked for), else the bundled digits."""
    if choice == "mnist" or (choice == "auto" and MNIST_DIR.is_dir()):
        return "MNIST-10k", mnist_idx(MNIST_DIR)
    return "digits", digits()


def conv_nets(side: int, code_dim: int) -> tuple[nn.Module, nn.Module]:
    """Stride-2 convolutions down to a token grid (28x28 -> 7x7, 8x8 -> 4x4) and back; the
    encoder ends in BatchNorm so that bounded quantizers (FSQ) start inside their range."""
    down = 2 if side >= 28 else 1
    encoder, decoder = [], [nn.Conv2d(code_dim, 32, 3, padding=1), nn.ReLU()]
    for level in range(down):
        encoder += [nn.Conv2d(1 if level == 0 else 32, 32, 4, 2, 1), nn.ReLU()]
        decoder += [nn.ConvTranspose2d(32, 32 if level < down - 1 else 1, 4, 2, 1), nn.ReLU()]
    encoder += [nn.Conv2d(32, code_dim, 1), nn.BatchNorm2d(code_dim)]
    return nn.Sequential(*encoder), nn.Sequential(*decoder[:-1])  # logits: no final ReLU


def main(out: Path, epochs: int, prior_epochs: int, data: str, quantizer: str) -> None:
    torch.manual_seed(0)
    name, split = load_data(data)
    code_dim = 8
    model = VQVAE(
        *conv_nets(split.train_x.shape[-1], code_dim),
        code_dim=code_dim,
        quantizer=quantizer,  # a spec string: any Quantizer object works the same way
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

    # 1. Code usage over the whole held-out split (not one batch).
    usage = code_usage(model, split.test_x)
    grid = tuple(model.encode(split.test_x[:1]).indices.shape[1:])
    print(f"data: {name}; quantizer {quantizer}: {model.num_codes} codes, tokens {grid}")
    print(
        f"held-out codes used: {100 * usage.codes_used:.1f} %, perplexity "
        f"{usage.perplexity:.1f}, dead codes {usage.dead_codes}"
    )

    # 2. A prior over the token grids, trained with fit() on the training tokens.
    _, result = train_code_prior(
        model, split.train_x, split.test_x, epochs=prior_epochs, accelerator="cpu"
    )
    bits = result.val_metrics["bits_per_code"]
    print(
        f"code prior: held-out NLL {bits:.3f} bits per token "
        f"(uniform: {math.log2(model.num_codes):.3f})"
    )

    # 3. Generate: tokens from the prior, decoded.
    torch.manual_seed(1)
    samples = torch.sigmoid(model.sample(32))  # [32, 1, H, W]
    out.mkdir(parents=True, exist_ok=True)
    counts = usage.counts.sum(dim=0).sort(descending=True).values
    fig, ax = plt.subplots(figsize=(6, 2.5))
    ax.bar(range(len(counts)), (counts / counts.sum()).numpy(), width=1.0)
    ax.set_xlabel("code (sorted by use)")
    ax.set_ylabel("share of held-out tokens")
    ax.set_title(f"{quantizer}: {100 * usage.codes_used:.0f} % of codes used", fontsize=9)
    fig.tight_layout()
    fig.savefig(out / "quantizer_usage.png", dpi=100)
    plt.close(fig)
    fig, axes = plt.subplots(4, 8, figsize=(8, 4.2))
    for axis, image in zip(axes.flat, samples, strict=True):
        axis.imshow(image.squeeze(0), cmap="gray_r")
        axis.axis("off")
    fig.tight_layout()
    fig.savefig(out / "quantizer_samples.png", dpi=100)
    plt.close(fig)
    print(f"wrote {out / 'quantizer_usage.png'} and {out / 'quantizer_samples.png'}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", type=Path, default=Path(os.environ.get("PYAUTOENCODER_EXAMPLES_OUT", "."))
    )
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--prior-epochs", type=int, default=10)
    parser.add_argument("--data", choices=["auto", "mnist", "digits"], default="auto")
    parser.add_argument("--quantizer", default="fsq:8,5,5")
    args = parser.parse_args()
    main(args.out, args.epochs, args.prior_epochs, args.data, args.quantizer)
