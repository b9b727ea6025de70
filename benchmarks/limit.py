"""Fraction of the machine's limit a training step reaches: its matmul FLOPs over matmul speed.

Usage::

    python benchmarks/limit.py [--quick] [--threads 2] [--models vae-mlp] [--no-compile]

For each model the FLOPs of one training step (forward + backward) are counted with
``torch.utils.flop_counter.FlopCounterMode``; the same step's matrix multiplies (every
FLOP-counted ATen call, with the shapes and memory layouts of the step) are then replayed on
their own in the same run (:mod:`_matmul_limit`). Their time per pass is the *limit*: the step
time if everything besides the matrix multiplies (activations, the loss, the optimizer, Python)
cost nothing. Reported per implementation:

* ``ms/step``: median step time;
* ``GFLOP/s``: step FLOPs / step time;
* ``of limit``: limit time / step time = achieved FLOP/s over the matmul FLOP/s of the same
  shapes measured in the same run (1.0 would mean nothing but matrix multiplies).

Implementations: hand-written PyTorch (Adam with PyTorch's CPU default, the single-tensor
loop, and with ``fused=True``), the hand-written forward + backward alone (no optimizer: with
the fused Adam row it bounds what any step built from these eager ops can reach), our
model's step with value checks off (default and fused Adam: the latter minus ``fit()`` is
the training loop's own cost), and the steps inside ``fit()`` (eager and
``compile=True``; timed between step ends by a callback, so setup, the first value-checked
step and compilation are excluded, and summed over the same number of steps as the other
rows). All are interleaved repetition by repetition with the limit measurement itself.
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
from _fit_runner import FitSteps
from _matmul_limit import FlopOpReplay, capture_flop_ops, count_flops
from _steps import image_batches, make_hand, make_ours

import pyautoencoder


class OptimizerAlone(Runner):
    """``n`` fused Adam steps on the model's parameters with fixed gradients (no forward)."""

    name = "fused Adam step alone"

    def __init__(self, model: torch.nn.Module) -> None:
        self.optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, fused=True)

    def run(self, n: int) -> float:
        start = time.perf_counter()
        for _ in range(n):
            self.optimizer.step()
        return time.perf_counter() - start


FORWARD_BACKWARD = "hand-written forward + backward (no optimizer)"


class Limit(Runner):
    """Runs the replayed matrix multiplies of ``n`` steps."""

    name = "matmul limit"

    def __init__(self, replay: FlopOpReplay) -> None:
        self.replay = replay

    def run(self, n: int) -> float:
        return self.replay.seconds_per_pass(n) * n


def model_rows(model: str, train: torch.Tensor, args: argparse.Namespace) -> list[list[str]]:
    batches = image_batches(model, fixed_batches(train))
    data = torch.cat(batches)
    count = len(batches)
    hand, hand_model = make_hand(model, batches[0])
    hand_fused, _ = make_hand(model, batches[0], {"fused": True})
    ours, _ = make_ours(model, batches[0])
    ours_fused, _ = make_ours(model, batches[0], {"fused": True})

    def hand_pass() -> None:
        hand_model.loss(batches[0]).backward()

    flops = count_flops(hand_pass)
    replay = FlopOpReplay(capture_flop_ops(hand_pass))
    _, adam_model = make_hand(model, batches[0])
    adam_model.loss(batches[0]).backward()  # gradients for the optimizer-only runner
    hand_model.zero_grad(set_to_none=True)
    if replay.flops() != flops:
        raise RuntimeError(f"replayed {replay.flops()} FLOPs, the step counts {flops}")

    def checks_off(step: Callable[[torch.Tensor], None], i: int) -> None:
        pyautoencoder.set_value_checks(False)
        try:
            step(batches[i % count])
        finally:
            pyautoencoder.set_value_checks(True)

    def ours_off(i: int) -> None:
        checks_off(ours, i)

    _, pass_model = make_hand(model, batches[0])

    def forward_backward(i: int) -> None:
        pass_model.zero_grad(set_to_none=True)
        pass_model.loss(batches[i % count]).backward()

    runners: list[Runner] = [
        Limit(replay),
        OptimizerAlone(adam_model),
        InProcess(FORWARD_BACKWARD, forward_backward),
        InProcess("hand-written (Adam default)", lambda i: hand(batches[i % count])),
        InProcess("hand-written (fused Adam)", lambda i: hand_fused(batches[i % count])),
        InProcess("ours, checks off (Adam default)", ours_off),
        InProcess("ours, checks off (fused Adam)", lambda i: checks_off(ours_fused, i)),
        FitSteps("fit()", make_ours(model, batches[0])[1], data),
    ]
    if not args.no_compile:
        compiled = FitSteps(
            "fit(compile=True)", make_ours(model, batches[0])[1], data, compile=True
        )
        compiled.run(3)  # compile outside the timed repetitions
        runners.append(compiled)
    per_run: dict[str, list[float]] = {r.name: [] for r in runners}
    for _ in range(args.runs):
        times = interleaved(runners, args.steps, args.repeats, warmup=args.steps)
        for name, values in times.items():
            per_run[name].append(median(values))
    limit = median(per_run["matmul limit"])
    rows = []
    for runner in runners:
        seconds = median(per_run[runner.name])
        rows.append(
            [
                runner.name,
                ms(seconds),
                spread(per_run[runner.name]) if args.runs > 1 else "",
                "" if isinstance(runner, OptimizerAlone) else f"{flops / seconds / 1e9:.1f}",
                "" if isinstance(runner, OptimizerAlone) else f"{limit / seconds:.3f}",
            ]
        )
    adam = median(per_run[OptimizerAlone.name])
    passes = median(per_run[FORWARD_BACKWARD])
    print(f"### {model}: {flops / 1e6:.1f} MFLOP per step (forward + backward)\n")
    print(table(["implementation", "ms/step", "spread (runs)", "GFLOP/s", "of limit"], rows))
    print(
        f"\nMatrix multiplies plus the fused Adam update alone take {ms(limit + adam)} ms: a "
        f"step with Adam reaches at most {limit / (limit + adam):.3f} of the matmul limit here. "
        f"The hand-written forward + backward alone ({ms(passes)} ms) plus that update would "
        f"reach {limit / (passes + adam):.3f}.\n"
    )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--models", default="vae-mlp,iwae-mlp")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=8)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-compile", action="store_true", help="skip fit(compile=True)")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = parser.parse_args()
    if args.quick:
        args.steps, args.repeats, args.runs = 10, 3, 1
    set_threads(args.threads)
    train, _ = load_mnist_10k(args.data)
    print("## Fraction of the matmul limit\n")
    print("\n".join(machine_lines(args.threads)))
    print(f"- batch 100; {args.runs} run(s) x {args.repeats} repetitions x {args.steps} steps\n")
    for model in args.models.split(","):
        model_rows(model, train, args)


if __name__ == "__main__":
    main()
