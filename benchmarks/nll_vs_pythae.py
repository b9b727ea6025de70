"""Evaluation as users feel it: ``log_likelihood_estimate`` vs pythae's ``get_nll``, same networks.

Usage::

    python benchmarks/nll_vs_pythae.py [--quick] [--epochs 10] [--samples 1000] [--repeats 3]
                                       [--threads 2] [--pythae-python PATH]

Trains the Kingma & Welling (2014) MLP VAE (784-500-20, Bernoulli) with ``fit()`` on the 8,000
training images of binarized MNIST-10k, writes its weights and the 2,000 held-out images to a
safetensors file (``.bench_cache/nll_vae.safetensors``), and estimates the held-out
``log p(x)`` with ``K`` importance samples per image (Burda et al. 2016, eq. 8; the posterior
as proposal) both ways:

* ``log_likelihood_estimate(model, heldout, num_samples=K)`` of this repository, in this
  process (defaults: ``batch_size=64``, ``chunk_size=64``);
* pythae's ``VAE.get_nll(heldout, n_samples=K, batch_size=100)`` on a pythae VAE holding the
  same weights (decoder ending in a sigmoid, pythae's ``"bce"`` on probabilities), in pythae's
  venv (``_nll_worker.py``), called as its documentation shows and once more inside
  ``torch.no_grad()`` (pythae does not switch gradients off itself).

pythae's method is named NLL but returns the mean of the per-image log-likelihood estimates
(``logsumexp(log w) - log K``, a negative number); the table compares values. The estimates
use different random draws, so they agree up to Monte Carlo noise: the table also shows two
runs of ours with different seeds. Repetitions alternate ours and pythae's; times are medians.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import time
from pathlib import Path

import torch
from _common import CACHE, DEFAULT_DATA, load_mnist_10k, machine_lines, median, set_threads, table
from _steps import networks

WORKER = Path(__file__).with_name("_nll_worker.py")


def train_model(train: torch.Tensor, epochs: int) -> torch.nn.Module:
    from pyautoencoder.training import fit
    from pyautoencoder.variational import VAE

    torch.manual_seed(0)
    encoder, decoder, latent = networks("vae-mlp")
    model = VAE(encoder, decoder, latent, likelihood="bernoulli")
    fit(model, train, epochs=epochs, batch_size=100, lr=1e-3, progress=False)
    return model.eval()


def save_weights(model: torch.nn.Module, heldout: torch.Tensor, path: Path) -> None:
    """Neutral names: ``encoder.*``, ``mu.*``, ``log_var.*``, ``decoder.*``, and ``heldout``."""
    from safetensors.torch import save_file

    tensors = {"heldout": heldout.contiguous()}
    for key, value in model.state_dict().items():
        name = key.replace("sampling_layer.", "")
        tensors[name] = value.detach().contiguous()
    path.parent.mkdir(exist_ok=True)
    save_file(tensors, str(path))


def pythae_once(python: Path, path: Path, args: argparse.Namespace, no_grad: bool) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["OMP_NUM_THREADS"] = str(args.threads)
    env["PYTHONWARNINGS"] = "ignore"
    command = [str(python), str(WORKER), "--weights", str(path), "--samples", str(args.samples)]
    command += ["--threads", str(args.threads)] + (["--no-grad"] if no_grad else [])
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=7200)
    if done.returncode != 0:
        raise RuntimeError(f"pythae get_nll failed: {done.stderr.strip()[-500:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1 epoch, K=50, 200 images")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-foreign", action="store_true")
    parser.add_argument("--pythae-python", type=Path)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = parser.parse_args()
    if args.quick:
        args.epochs, args.samples, args.images, args.repeats = 1, 50, 200, 1
    set_threads(args.threads)
    from pyautoencoder.evaluation import log_likelihood_estimate

    train, heldout = load_mnist_10k(args.data)
    heldout = heldout[: args.images]
    model = train_model(train, args.epochs)
    path = CACHE / "nll_vae.safetensors"
    save_weights(model, heldout, path)
    notes: list[str] = []
    python = None
    if not args.no_foreign:
        if args.pythae_python is not None:
            python = args.pythae_python
        else:
            from step_time import ensure_venv

            python = ensure_venv("pythae", notes)
    rows: dict[str, dict[str, list[float]]] = {}
    loads: list[str] = []

    def add(name: str, seconds: float, value: float) -> None:
        entry = rows.setdefault(name, {"seconds": [], "value": []})
        entry["seconds"].append(seconds)
        entry["value"].append(value)

    for rep in range(args.repeats):
        for seed in (0, 1) if rep == 0 else (0,):
            load = os.getloadavg()[0]
            start = time.perf_counter()
            estimate = log_likelihood_estimate(model, heldout, args.samples, seed=seed)
            seconds = time.perf_counter() - start
            add(f"ours, log_likelihood_estimate (seed {seed})", seconds, float(estimate.mean))
            loads.append(f"ours {load:.1f}-{os.getloadavg()[0]:.1f}")
        if python is None:
            continue
        for no_grad in (False, True):
            try:
                result = pythae_once(Path(python), path, args, no_grad)
            except (RuntimeError, subprocess.TimeoutExpired) as error:
                notes.append(str(error))
                continue
            name = "pythae get_nll" + (" in torch.no_grad()" if no_grad else " (as documented)")
            add(name, result["seconds"], result["value"])
            loads.append(f"pythae {result['load'][0]:.1f}-{result['load'][1]:.1f}")
    ours = median(rows["ours, log_likelihood_estimate (seed 0)"]["seconds"])
    reference_value = rows["ours, log_likelihood_estimate (seed 0)"]["value"][0]
    print("## Held-out log-likelihood: log_likelihood_estimate vs pythae's get_nll\n")
    print("\n".join(machine_lines(args.threads)))
    print(
        f"- VAE 784-500-20 trained with fit() for {args.epochs} epoch(s); K = {args.samples} "
        f"importance samples on {args.images} held-out MNIST-10k images; "
        f"{args.repeats} repetition(s), median seconds\n"
    )
    table_rows = []
    for name, entry in rows.items():
        value = entry["value"][0]
        seconds = median(entry["seconds"])
        table_rows.append(
            [
                name,
                f"{seconds:.2f}",
                " / ".join(f"{s:.2f}" for s in entry["seconds"]),
                f"{seconds / ours:.2f}",
                f"{value:.3f}",
                f"{value - reference_value:+.3f}",
            ]
        )
    header = ["estimator", "seconds", "each", "x ours", "mean log p(x) (nats)", "minus ours"]
    print(table(header, table_rows))
    print(f"\n- load average at the start and end of each call: {', '.join(loads)}")
    for note in notes:
        print(f"- {note}")


if __name__ == "__main__":
    main()
