"""Checkpoint a ``training.fit`` run, resume it, and get the weights of an unbroken run.

Trains a VAE for ``--epochs`` epochs with checkpoints in ``<out>/resume_demo/run`` (safetensors
weights + trainer state, written atomically), then, as a new process would, builds a fresh
model and resumes the run (``resume=``) to twice as many epochs. A second, uninterrupted run of
that length ends with the same weights: resume restores the optimizer, the RNG states and the
position in the data. Finally the checkpoint is loaded into a third model with
``load_weights``. Data: MNIST-10k when ``../shared/data/mnist`` exists, else the digits.
Run: ``python examples/checkpoint_resume.py``.
"""

from __future__ import annotations

import argparse
import os
import shutil
from pathlib import Path

import torch

from pyautoencoder.data import DatasetSplit, digits, mnist_idx
from pyautoencoder.nets import MLPDecoder, MLPEncoder
from pyautoencoder.training import find_checkpoint, fit, load_weights
from pyautoencoder.variational import VAE

MNIST_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"


def load_data(choice: str) -> tuple[str, DatasetSplit]:
    """MNIST-10k when its files are present (or asked for), else the bundled digits."""
    if choice == "mnist" or (choice == "auto" and MNIST_DIR.is_dir()):
        return "MNIST-10k", mnist_idx(MNIST_DIR)
    return "digits", digits()


def new_model(shape: tuple[int, ...]) -> VAE:
    torch.manual_seed(0)  # the same initial weights every time
    nets = MLPEncoder(shape, hidden=(128,)), MLPDecoder(8, (128,), shape)
    return VAE(*nets, latent_dim=8, likelihood="bernoulli")


def main(out: Path, epochs: int, data: str) -> None:
    name, split = load_data(data)
    shape = tuple(split.train_x.shape[1:])
    root = out / "resume_demo"
    shutil.rmtree(root, ignore_errors=True)  # start from scratch on every run of the script
    options = dict(batch_size=64, lr=1e-3, progress=False, seed=0)
    first = fit(new_model(shape), split.train_x, epochs=epochs, out_dir=root / "run", **options)
    print(f"data: {name}; first run: {first.steps} steps, checkpoint {first.checkpoint}")
    print("  files:", sorted(p.name for p in first.checkpoint.iterdir()))

    resumed = fit(
        new_model(shape),
        split.train_x,
        epochs=2 * epochs,
        out_dir=root / "run",
        resume=root / "run",
        **options,
    )
    print(f"resumed at step {first.steps}, finished at step {resumed.steps}")
    straight = fit(
        new_model(shape), split.train_x, epochs=2 * epochs, out_dir=root / "straight", **options
    )
    pairs = zip(resumed.model.state_dict().values(), straight.model.state_dict().values())
    difference = max(float((a - b).abs().max()) for a, b in pairs)
    print(
        f"resumed vs uninterrupted run ({straight.steps} steps): max |weight difference| "
        f"= {difference:.3g}"
    )

    checkpoint = find_checkpoint(root / "run")  # follows the 'latest' pointer
    restored = new_model(shape)
    restored.build(split.train_x[:2])  # materialise the lazy posterior heads before loading
    load_weights(restored, checkpoint / "model.safetensors")
    x = split.test_x
    with torch.no_grad():
        same = torch.equal(restored.reconstruct(x), resumed.model.reconstruct(x))
    print(f"loaded {checkpoint.name} into a new model; same reconstructions: {same}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_out = Path(os.environ.get("PYAUTOENCODER_EXAMPLES_OUT", "."))
    parser.add_argument("--out", type=Path, default=default_out)
    parser.add_argument("--epochs", type=int, default=3, help="epochs before the interruption")
    parser.add_argument("--data", choices=["auto", "mnist", "digits"], default="auto")
    args = parser.parse_args()
    main(args.out, args.epochs, args.data)
