"""Eager vs ``torch.compile`` training steps for each model; compile time reported separately.

Usage::

    python benchmarks/compile.py [--quick] [--threads 2] [--models vae-mlp,ae-mlp,...]

For every model of ``step_time.py`` (binarized MNIST-10k, batch 100, Bernoulli likelihood) and
our implementation with value checks off, three steps are timed, each with its own copy of the
model and fused Adam:

* ``eager``: ``model(x)``, ``compute_loss``, ``backward``, ``optimizer.step()``;
* ``compiled loss``: forward + ``compute_loss`` under ``torch.compile(fullgraph=True)`` (backward
  compiled by AOTAutograd), the optimizer eager — what ``fit(compile=True)`` does;
* ``compiled loss + optimizer``: the optimizer step compiled too
  (``torch.compile(optimizer.step)``).

``compile s`` is the wall time of the first call(s) minus one eager step (Inductor's C++ code
generation on this machine); ``ms/step`` the median of interleaved repetitions afterwards.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

import torch
from _common import (
    DEFAULT_DATA,
    InProcess,
    Runner,
    fixed_batches,
    interleaved,
    load_mnist_10k,
    machine_lines,
    median,
    ms,
    set_threads,
    spread,
    table,
)
from _steps import MODELS, image_batches, make_ours

import pyautoencoder


def build(
    model_name: str, first: torch.Tensor, compile_loss: bool, compile_optimizer: bool
) -> Callable[[torch.Tensor], None]:
    _, model = make_ours(model_name, first)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, fused=True)
    loss_kwargs = {"likelihood": "bernoulli"} if model_name.startswith("ae") else {}

    def objective(x: torch.Tensor) -> torch.Tensor:
        return model.compute_loss(x, model(x), **loss_kwargs).objective  # type: ignore[operator]

    loss_fn = torch.compile(objective, fullgraph=True) if compile_loss else objective
    optimizer_step = torch.compile(optimizer.step) if compile_optimizer else optimizer.step

    def step(x: torch.Tensor) -> None:
        loss = loss_fn(x)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer_step()

    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = parser.parse_args()
    if args.quick:
        args.models, args.steps, args.repeats = "vae-mlp", 5, 3
    set_threads(args.threads)
    pyautoencoder.set_value_checks(False)
    train, _ = load_mnist_10k(args.data)
    print("## Eager vs torch.compile\n")
    print("\n".join(machine_lines(args.threads)))
    print(f"- value checks off, fused Adam; {args.repeats} repetitions x {args.steps} steps\n")
    variants = {
        "eager": (False, False),
        "compiled loss": (True, False),
        "compiled loss + optimizer": (True, True),
    }
    for model_name in args.models.split(","):
        batches = image_batches(model_name, fixed_batches(train))
        runners: list[Runner] = []
        compile_seconds: dict[str, float] = {}
        for label, (compile_loss, compile_optimizer) in variants.items():
            torch._dynamo.reset()
            step = build(model_name, batches[0], compile_loss, compile_optimizer)
            start = time.perf_counter()
            for i in range(3):  # first calls compile (and recompile once for the Adam state)
                step(batches[i])
            compile_seconds[label] = time.perf_counter() - start
            runners.append(InProcess(label, lambda i, s=step, b=batches: s(b[i % len(b)])))
        times = interleaved(runners, args.steps, args.repeats, warmup=args.steps)
        eager = median(times["eager"])
        rows = []
        for runner in runners:
            value = median(times[runner.name])
            first = compile_seconds[runner.name] - 3 * value
            rows.append(
                [
                    runner.name,
                    ms(value),
                    spread(times[runner.name]),
                    f"{eager / value:.2f}",
                    "" if runner.name == "eager" else f"{first:.1f}",
                ]
            )
        print(f"### {model_name}\n")
        print(table(["step", "ms/step", "spread", "speed-up", "compile s"], rows))
        print()


if __name__ == "__main__":
    main()
