"""Examples per second of ``fit()`` on MNIST-10k vs a plain ``DataLoader`` loop of the same model.

Usage::

    python benchmarks/fit_throughput.py [--quick] [--threads 2] [--epochs 3] [--repeats 3]

Model: the Kingma & Welling (2014) MLP VAE (784-500-20, Bernoulli likelihood), batch 100,
Adam lr 1e-3, on the 8,000 training images of binarized MNIST-10k.

* ``DataLoader loop``: what the 2.x README does — ``DataLoader(TensorDataset(x), batch_size=100,
  shuffle=True)``, ``model(x)``, ``compute_loss``, ``backward``, ``torch.optim.Adam`` (PyTorch's
  defaults), value checks at their default (on);
* ``DataLoader loop, hand-written VAE``: the same loop around the plain-PyTorch model;
* ``fit()``: :func:`pyautoencoder.training.fit` with the tensor in memory (index-sliced
  batches, fused Adam, value checks on the first batch only);
* ``fit(compile=True)``: the same with ``torch.compile`` on the step.

``examples/s`` counts every call end to end (``fit``'s setup and, for the compiled run, any
compilation it does), ``steady examples/s`` only the training steps after the first (from a
step-end callback, so setup, the checked first step and compilation are left out). Runs are
interleaved repetition by repetition; medians over repetitions.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

import torch
from _common import (
    BATCH,
    DEFAULT_DATA,
    load_mnist_10k,
    machine_lines,
    median,
    set_threads,
    spread,
    table,
)
from _fit_runner import FIT_DEFAULTS, StepClock
from _steps import make_hand, make_ours
from torch.utils.data import DataLoader, TensorDataset


def loader_loop(step: Callable[[torch.Tensor], None], data: torch.Tensor, epochs: int) -> float:
    """Seconds of ``epochs`` passes of a shuffled ``DataLoader`` over ``data``."""
    loader = DataLoader(TensorDataset(data), batch_size=BATCH, shuffle=True)
    start = time.perf_counter()
    for _ in range(epochs):
        for (x,) in loader:
            step(x)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-compile", action="store_true")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = parser.parse_args()
    if args.quick:
        args.epochs, args.repeats = 1, 1
    set_threads(args.threads)
    from pyautoencoder.training import fit

    train, _ = load_mnist_10k(args.data)
    examples = args.epochs * train.shape[0]
    first = train[:BATCH]
    ours_step, _ = make_ours("vae-mlp", first)
    hand_step, _ = make_hand("vae-mlp", first)
    fit_model = make_ours("vae-mlp", first)[1]
    compiled_model = make_ours("vae-mlp", first)[1]

    def run_fit(model: torch.nn.Module, **options: object) -> tuple[float, list[float]]:
        clock = StepClock()
        options = {**FIT_DEFAULTS, "epochs": args.epochs, **options}
        start = time.perf_counter()
        fit(model, train, callbacks=[clock], **options)
        elapsed = time.perf_counter() - start
        torch.set_num_threads(args.threads)
        return elapsed, clock.intervals()

    runs: dict[str, Callable[[], tuple[float, list[float]]]] = {
        "DataLoader loop, our VAE": lambda: (loader_loop(ours_step, train, args.epochs), []),
        "DataLoader loop, hand-written VAE": lambda: (
            loader_loop(hand_step, train, args.epochs),
            [],
        ),
        "fit()": lambda: run_fit(fit_model),
    }
    if not args.no_compile:
        runs["fit(compile=True)"] = lambda: run_fit(compiled_model, compile=True)
    total: dict[str, list[float]] = {name: [] for name in runs}
    steady: dict[str, list[float]] = {name: [] for name in runs}
    first_call: dict[str, float] = {}
    for rep in range(args.repeats + 1):  # repetition 0 warms up (and compiles)
        names = list(runs)
        shift = rep % len(names)
        for name in names[shift:] + names[:shift]:
            elapsed, intervals = runs[name]()
            if rep == 0:
                first_call[name] = elapsed
                continue
            total[name].append(examples / elapsed)
            if intervals:
                steady[name].append(BATCH / median(intervals))
    baseline = median(total["DataLoader loop, our VAE"])
    rows = []
    for name in runs:
        value = median(total[name])
        rows.append(
            [
                name,
                f"{value:,.0f}",
                spread(total[name]),
                f"{median(steady[name]):,.0f}" if steady[name] else "",
                f"{first_call[name]:.1f}",
                f"{value / baseline:.2f}",
            ]
        )
    print("## fit() throughput on MNIST-10k\n")
    print("\n".join(machine_lines(args.threads)))
    print(
        f"- VAE 784-500-20, batch {BATCH}, {args.epochs} epoch(s) of {train.shape[0]} images "
        f"per call, {args.repeats} repetition(s) after a warm-up call\n"
    )
    header = [
        "training loop",
        "examples/s",
        "spread",
        "steady examples/s",
        "first call (s)",
        "x DataLoader loop",
    ]
    print(table(header, rows))


if __name__ == "__main__":
    main()
