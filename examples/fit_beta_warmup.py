"""Train with ``training.fit`` and a KL warm-up: beta rises linearly from 0 to 1.

KL annealing (Bowman et al. 2016): with ``beta=LinearWarmup(steps)`` the KL term of the VAE
objective is switched on gradually, so the decoder learns to use the code before the KL pulls
the posterior toward the prior. ``fit`` logs beta with the other training metrics; this script
prints the held-out ELBO after each epoch and plots the logged beta, KL and reconstruction
terms against the step (``beta_warmup.png``). Data: MNIST-10k when ``../shared/data/mnist``
exists, else the bundled digits. Run: ``python examples/fit_beta_warmup.py``.
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

from pyautoencoder.data import DatasetSplit, digits, mnist_idx
from pyautoencoder.nets import MLPDecoder, MLPEncoder
from pyautoencoder.training import LinearWarmup, fit
from pyautoencoder.variational import VAE

MNIST_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"


def load_data(choice: str) -> tuple[str, DatasetSplit]:
    """MNIST-10k when its files are present (or asked for), else the bundled digits."""
    if choice == "mnist" or (choice == "auto" and MNIST_DIR.is_dir()):
        return "MNIST-10k", mnist_idx(MNIST_DIR)
    return "digits", digits()


def main(out: Path, epochs: int, data: str, warmup_epochs: float) -> None:
    name, split = load_data(data)
    shape, batch_size = tuple(split.train_x.shape[1:]), 32
    torch.manual_seed(0)
    nets = MLPEncoder(shape, hidden=(256, 128)), MLPDecoder(16, (128, 256), shape)
    model = VAE(*nets, latent_dim=16, likelihood="bernoulli")
    warmup = max(1, round(warmup_epochs * math.ceil(len(split.train_x) / batch_size)))
    print(f"data: {name}; beta = LinearWarmup({warmup}) (0 -> 1 over {warmup} steps)")
    result = fit(
        model,
        split.train_x,
        split.test_x,
        epochs=epochs,
        batch_size=batch_size,
        lr=1e-3,
        beta=LinearWarmup(warmup),
        log_every_n_steps=5,
        progress=False,
    )
    for event in (e for e in result.history if e["event"] == "val"):
        print(
            f"epoch {event['epoch']:3d} (step {event['step']:5d}): held-out ELBO "
            f"{event['elbo_unweighted']:8.2f} = log-lik {event['log_likelihood']:8.2f} "
            f"- KL {event['kl_divergence']:6.2f}"
        )
    train = [e for e in result.history if e["event"] == "train"]
    steps = [e["step"] for e in train]
    print(f"logged beta: {train[0]['beta']:.3f} at step {steps[0]} -> {train[-1]['beta']:.3f}")
    out.mkdir(parents=True, exist_ok=True)
    fig, (left, right) = plt.subplots(1, 2, figsize=(8, 3))
    left.plot(steps, [e["kl_divergence"] for e in train], color="C0")
    left.set(xlabel="step", ylabel="KL (nats)", title="KL term")
    twin = left.twinx()
    twin.plot(steps, [e["beta"] for e in train], color="C3", linestyle="--")
    twin.set_ylabel("beta (dashed)", color="C3")
    right.plot(steps, [e["log_likelihood"] for e in train], color="C2")
    right.set(xlabel="step", ylabel="nats", title="reconstruction log-likelihood")
    fig.tight_layout()
    fig.savefig(out / "beta_warmup.png", dpi=100)
    plt.close(fig)
    print(f"wrote {out / 'beta_warmup.png'}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_out = Path(os.environ.get("PYAUTOENCODER_EXAMPLES_OUT", "."))
    parser.add_argument("--out", type=Path, default=default_out)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--data", choices=["auto", "mnist", "digits"], default="auto")
    parser.add_argument("--warmup-epochs", type=float, default=3, help="length of the warm-up")
    args = parser.parse_args()
    main(args.out, args.epochs, args.data, args.warmup_epochs)
