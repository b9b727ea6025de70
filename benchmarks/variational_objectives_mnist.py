"""Objectives and posteriors on binarized MNIST-10k: held-out log p(x), same networks and budget.

Usage::

    python benchmarks/variational_objectives_mnist.py [--epochs 5] [--eval-images 500]
        [--importance-samples 1000] [--models vae,iwae,...] [--threads 1] [--data DIR]
        [--quick]

One intra-op thread by default: on a shared 2-core machine two threads per process thrash
(a VAE step took 1.4 s with 2 threads against 24 ms with 1 at load average 13).

Data: the official MNIST test split (10,000 images), binarized once with
``Bernoulli(intensity / 255)`` (``torch.Generator().manual_seed(0)``, index order); training
images are those with ``index % 5 != 0`` (8,000), held-out ``index % 5 == 0`` (2,000), of which
the first ``--eval-images`` are scored ("MNIST-10k", see the data folder's README).

Every model is one ``VAE`` with the same MLP encoder (784-200-tanh-200-tanh features, as in
Burda et al. 2016) and decoder (20-200-tanh-200-tanh-784 Bernoulli logits), D_z = 20, Adam
(lr 1e-3), batch 100, seed 0, ``--epochs`` passes over the 8,000 training images. Only the
objective or the posterior changes:

* ``VAE``: ``ELBO()``, one posterior sample, closed-form KL;
* ``IWAE k=50``: ``ImportanceWeightedBound(50)`` (Burda et al. 2016);
* ``MIWAE 5x10``, ``PIWAE 5x10``, ``CIWAE beta=0.5, k=50`` (Rainforth et al. 2018): 50 samples
  per input as well (MIWAE/PIWAE: 5 averaged bounds of 10 importance samples each);
* ``planar flow K=8``, ``IAF K=4``: ``ELBO()`` with ``PlanarFlow(8)`` (Rezende & Mohamed
  2015) / ``InverseAutoregressiveFlow(4)`` (Kingma et al. 2016) posteriors, one sample, Monte
  Carlo KL;
* optional (``--models``): ``radial``, ``full`` (full-covariance Gaussian), ``iaf-iwae``.

The budget is the number of passes over the data, not the compute: the importance-weighted
objectives decode 50 samples per input per step (their train time is in the table).

Reported on the held-out images (nats per image, higher is better): ``log p(x)``, the
importance-sampled estimate with ``--importance-samples`` posterior samples
(:func:`pyautoencoder.evaluation.log_likelihood_estimate`, seed 0) and its standard error over
images; ``ELBO`` (:func:`pyautoencoder.evaluation.elbo`, 10 samples); and the gap between them
(an estimate of ``KL(q(z | x) || p(z | x))``, low by as much as the IS estimate is below
log p(x): smaller means a posterior closer to the true one).
Objectives that are not available in the installed package are skipped with a note.

Run time (2026-12-03, 2-core Xeon shared with seven other jobs at load average 12-17, defaults):
27 min wall clock, 6 min of CPU time; the 50-sample objectives are 80 % of it (PIWAE alone
10.5 min of wall clock). Use ``--models`` for a subset.
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable
from pathlib import Path

import torch
from _common import DEFAULT_DATA, load_mnist_10k, machine_lines, set_threads, table
from torch import nn

import pyautoencoder
from pyautoencoder import evaluation, objectives
from pyautoencoder.distributions import (
    FullCovarianceGaussianPosterior,
    InverseAutoregressiveFlow,
    PlanarFlow,
    RadialFlow,
)
from pyautoencoder.variational import VAE

LATENT = 20
HIDDEN = 200
BATCH = 100
SAMPLES = 50  # importance samples per input of the importance-weighted objectives


def encoder() -> nn.Module:
    return nn.Sequential(nn.Linear(784, HIDDEN), nn.Tanh(), nn.Linear(HIDDEN, HIDDEN), nn.Tanh())


def decoder() -> nn.Module:
    return nn.Sequential(
        nn.Linear(LATENT, HIDDEN),
        nn.Tanh(),
        nn.Linear(HIDDEN, HIDDEN),
        nn.Tanh(),
        nn.Linear(HIDDEN, 784),
    )


def _vae(**kwargs: object) -> VAE:
    return VAE(encoder(), decoder(), LATENT, likelihood="bernoulli", **kwargs)  # type: ignore[arg-type]


def _objective(name: str, *args: object, **kwargs: object) -> Callable[[], VAE] | None:
    """A factory of a VAE trained on ``objectives.<name>``, or ``None`` if it does not exist."""
    cls = getattr(objectives, name, None)
    if cls is None:
        return None
    return lambda: _vae(objective=cls(*args, **kwargs))


MODELS: dict[str, tuple[str, Callable[[], Callable[[], VAE] | None]]] = {
    "vae": ("VAE", lambda: _vae),
    "iwae": (f"IWAE k={SAMPLES}", lambda: _objective("ImportanceWeightedBound", SAMPLES)),
    "miwae": ("MIWAE 5x10", lambda: _objective("MIWAE", num_importance=10, num_averaged=5)),
    "piwae": ("PIWAE 5x10", lambda: _objective("PIWAE", num_importance=10, num_averaged=5)),
    "ciwae": (
        f"CIWAE beta=0.5, k={SAMPLES}",
        lambda: _objective("CIWAE", beta=0.5, num_samples=SAMPLES),
    ),
    "planar": ("VAE, planar flow K=8", lambda: lambda: _vae(posterior=PlanarFlow(8))),
    "iaf": ("VAE, IAF K=4", lambda: lambda: _vae(posterior=InverseAutoregressiveFlow(4))),
    "radial": ("VAE, radial flow K=8", lambda: lambda: _vae(posterior=RadialFlow(8))),
    "full": (
        "VAE, full-covariance Gaussian",
        lambda: lambda: _vae(posterior=FullCovarianceGaussianPosterior()),
    ),
    "iaf-iwae": (
        f"IWAE k={SAMPLES}, IAF K=4",
        lambda: (
            lambda: _vae(
                posterior=InverseAutoregressiveFlow(4),
                objective=objectives.ImportanceWeightedBound(SAMPLES),
            )
        ),
    ),
}
DEFAULT_MODELS = "vae,iwae,miwae,piwae,ciwae,planar,iaf"


def train(model: VAE, data: torch.Tensor, epochs: int) -> float:
    """``epochs`` passes of Adam over ``data`` in shuffled batches; returns the seconds."""
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(1)
    start = time.perf_counter()
    model.train()
    with pyautoencoder.value_checks(False):
        for _ in range(epochs):
            order = torch.randperm(data.shape[0], generator=gen)
            for i in range(0, data.shape[0], BATCH):
                x = data[order[i : i + BATCH]]
                optimizer.zero_grad(set_to_none=True)
                model.compute_loss(x, model(x)).objective.backward()
                optimizer.step()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--eval-images", type=int, default=500)
    parser.add_argument("--importance-samples", type=int, default=1000)
    parser.add_argument("--models", default=DEFAULT_MODELS, help=f"any of {', '.join(MODELS)}")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: 1 epoch, 50 images, K = 50"
    )
    args = parser.parse_args()
    if args.quick:
        args.epochs, args.eval_images, args.importance_samples = 1, 50, 50
    set_threads(args.threads)
    train_x, held_out = load_mnist_10k(args.data)
    test_x = held_out[: args.eval_images]
    print("## Objectives and posteriors: held-out log p(x) on binarized MNIST-10k\n")
    print("\n".join(machine_lines(args.threads)))
    print(
        f"- {args.epochs} epochs on 8,000 training images, batch {BATCH}, Adam 1e-3, MLP "
        f"784-{HIDDEN}-{HIDDEN}-{LATENT} (tanh), Bernoulli; log p(x): K = "
        f"{args.importance_samples} importance samples on the first {test_x.shape[0]} held-out "
        "images; nats per image\n",
        flush=True,
    )
    rows: list[list[str]] = []
    skipped: list[str] = []
    base: float | None = None
    for key in args.models.split(","):
        if key not in MODELS:
            raise SystemExit(f"unknown model {key!r}; expected some of {', '.join(MODELS)}")
        label, make = MODELS[key]
        factory = make()
        if factory is None:
            skipped.append(label)
            continue
        torch.manual_seed(0)
        model = factory()
        model.build(train_x[:BATCH])
        seconds = train(model, train_x, args.epochs)
        start = time.perf_counter()
        log_px = evaluation.log_likelihood_estimate(
            model,
            test_x,
            num_samples=args.importance_samples,
            batch_size=100,
            chunk_size=100,
            seed=0,
        )
        elbo = evaluation.elbo(model, test_x, num_samples=10, batch_size=100, seed=0)
        eval_seconds = time.perf_counter() - start
        value, error, bound = float(log_px.mean), float(log_px.standard_error), float(elbo.mean)
        if not (math.isfinite(value) and math.isfinite(bound)):
            raise SystemExit(f"{label}: a non-finite result")
        base = value if base is None else base
        rows.append(
            [
                label,
                f"{value:.2f} ± {error:.2f}",
                f"{value - base:+.2f}",
                f"{bound:.2f}",
                f"{value - bound:.2f}",
                f"{seconds:.0f}",
                f"{eval_seconds:.0f}",
            ]
        )
        print(f"done: {label} (train {seconds:.0f} s, eval {eval_seconds:.0f} s)", flush=True)
    print()
    header = [
        "model",
        "log p(x)",
        "vs first row",
        "ELBO",
        "log p(x) - ELBO",
        "train (s)",
        "eval (s)",
    ]
    print(table(header, rows))
    if skipped:
        print(f"\nnot in this version of pyautoencoder.objectives: {', '.join(skipped)}")


if __name__ == "__main__":
    main()
