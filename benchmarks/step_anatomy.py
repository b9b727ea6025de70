"""What our VAE step's difference to a hand-written step is made of: tensor ops or Python.

Usage::

    python benchmarks/step_anatomy.py [--quick] [--threads 2] [--runs 3] [--repeats 60]

``step_time.py`` compares *two model instances* (ours and the hand-written one) in one
process; where their parameters land in memory moves a ratio by up to 3 %, and it cannot say
whether a gap is the tensor operations or the Python around them. This script trains **one**
VAE instance (our ``VAE``, the MLP of ``_steps.py``) with **one** Adam optimizer and changes
only how each step computes its loss:

* ``hand-written loss``: the hand-written step's formula (``_steps.HandVAE.loss``) on our
  model's own layers: the reference, 1.000;
* ``our ops, inline``: the tensor operations our step runs (the KL with ``expm1``; the
  output's views and the diagnostics are made only when read), written inline with no Python
  of ours around them (:func:`lean_loss`; the same objective bit for bit, tested in
  ``tests/test_benchmark_anatomy.py``);
* ``our ops + 40 empty calls``: the same with 40 calls of an empty Python function first: what
  Python frames cost inside a step on this machine;
* ``ours, checks off`` / ``ours, checks on``: ``model(x)`` and
  ``model.compute_loss(x, output).objective`` with ``model.value_checks`` off / on.

So ``our ops, inline`` minus ``hand-written loss`` is what our choice of tensor operations
costs, ``ours, checks off`` minus ``our ops, inline`` what our Python costs, and ``checks on``
minus ``checks off`` what the value checks cost. Every variant follows another variant of the
same instance, so no block starts with another model's cold caches. Blocks of ``--steps``
steps interleave, the order rotated each repetition; a repetition's ratio is a block over the
``hand-written loss`` block of the same repetition, a process's ratio the median over
repetitions, the table's the median over ``--runs`` fresh processes.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import torch
import torch.nn.functional as F
from _common import (
    DEFAULT_DATA,
    REPO,
    InProcess,
    interleaved,
    machine_lines,
    saved_step_batches,
    set_threads,
    table,
    warm_allocator,
)
from _steps import HandVAE, make_ours
from torch import nn

LossFn = Callable[[torch.Tensor], torch.Tensor]
EMPTY_CALLS = 40


def hand_loss(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``_steps.HandVAE.loss`` (``mean_b (BCE_b + KL_b)``) run on our model's layers."""
    layers = SimpleNamespace(
        encoder=model.encoder,
        mu=model.sampling_layer.mu,
        log_var=model.sampling_layer.log_var,
        decoder=model.decoder,
        num_samples=1,
    )
    return HandVAE.loss(layers, x)  # type: ignore[arg-type]


def lean_loss(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Our step's tensor operations, inline: ``mean_b (BCE_b + KL_b)``, the KL with ``expm1``.

    Neither the output's two views (``x_hat [B, 1, D]``, ``z [B, 1, D_z]``) nor the ELBO's
    diagnostics are made: our step makes them only when read, and a training loop that reads
    only the objective never does.
    """
    h = model.encoder(x)
    mu, log_var = model.sampling_layer.mu(h), model.sampling_layer.log_var(h)
    z = mu + torch.exp(0.5 * log_var) * torch.randn_like(mu, memory_format=torch.contiguous_format)
    flat = model.decoder(z)
    nll = F.binary_cross_entropy_with_logits(flat, x, reduction="none").sum(-1)
    kl = (0.5 * (torch.expm1(log_var) - log_var + mu.square())).sum(-1)
    return (nll + kl).mean()


def _empty(value: object) -> object:
    return value


def variants(model: nn.Module) -> dict[str, LossFn]:
    """The loss of each variant, all on ``model`` (ours with checks switched per call)."""

    def with_calls(x: torch.Tensor) -> torch.Tensor:
        for _ in range(EMPTY_CALLS):
            _empty(x)
        return lean_loss(model, x)

    def ours(checks: bool) -> LossFn:
        def loss(x: torch.Tensor) -> torch.Tensor:
            model.value_checks = checks
            return model.compute_loss(x, model(x)).objective

        return loss

    return {
        "hand-written loss": lambda x: hand_loss(model, x),
        "our ops, inline": lambda x: lean_loss(model, x),
        f"our ops + {EMPTY_CALLS} empty calls": with_calls,
        "ours, checks off": ours(False),
        "ours, checks on": ours(True),
    }


def worker(args: argparse.Namespace) -> None:
    """One process: every variant on one model instance, interleaved; prints one JSON line."""
    sys.path.insert(0, str(REPO / "src"))  # this checkout's package, as step_time.py does
    set_threads(args.threads)
    warm_allocator()
    batches = torch.load(args.batches, weights_only=True)
    _, model = make_ours("vae-mlp", batches[0])
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    losses = variants(model)

    def runner(name: str) -> InProcess:
        def step(i: int) -> None:
            loss = losses[name](batches[i % len(batches)])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

        return InProcess(name, step)

    times = interleaved([runner(name) for name in losses], args.steps, args.repeats, warmup=5)
    print(json.dumps(times))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one process, few repetitions")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=3, help="processes")
    parser.add_argument("--repeats", type=int, default=60, help="repetitions per process")
    parser.add_argument("--steps", type=int, default=20, help="steps per block")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--batches", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    if args.quick:
        args.runs, args.repeats, args.steps = 1, 3, 5
    batches = saved_step_batches(args.data)
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "PYTHONWARNINGS": "ignore"}
    command = [sys.executable, __file__, "--worker", "--batches", str(batches)]
    command += ["--threads", str(args.threads), "--repeats", str(args.repeats)]
    command += ["--steps", str(args.steps)]
    results = []
    for _ in range(args.runs):
        done = subprocess.run(command, capture_output=True, text=True, env=env, check=True)
        results.append(json.loads(done.stdout.strip().splitlines()[-1]))
    print("## Anatomy of our VAE step: one model instance, the loss computed five ways\n")
    print("\n".join(machine_lines(args.threads)))
    print(
        f"- VAE MLP 784-500-20, batch 100, Adam; {args.runs} process(es), each "
        f"{args.repeats} interleaved repetitions x {args.steps} steps of every variant\n"
    )
    rows = []
    for name in results[0]:
        ratios = [
            statistics.median(a / b for a, b in zip(r[name], r["hand-written loss"]))
            for r in results
        ]
        step_ms = statistics.median(statistics.median(r[name]) for r in results) * 1e3
        per_process = " / ".join(f"{ratio:.3f}" for ratio in ratios)
        rows.append([name, f"{statistics.median(ratios):.3f}", per_process, f"{step_ms:.3f}"])
    print(table(["variant", "x hand-written loss", "per process", "ms/step"], rows))


if __name__ == "__main__":
    main()
