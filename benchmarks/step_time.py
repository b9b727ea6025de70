"""Training-step time: our VAE / AE / IWAE vs hand-written PyTorch vs pyautoencoder 2.1.0 vs pythae.

Usage::

    python benchmarks/step_time.py [--quick] [--threads 2] [--models vae-mlp,ae-mlp,...]
                                   [--runs 3] [--no-foreign] [--data ../shared/data/mnist]

Models (binarized MNIST-10k training images, batch 100, Adam lr 1e-3, Bernoulli likelihood):

* ``vae-mlp``: Kingma & Welling (2014) MLP, 784-500(tanh)-20, decoder 20-500(tanh)-784;
* ``ae-mlp``: the same networks as a deterministic autoencoder (a linear 500 -> 20 code);
* ``iwae-mlp``: the VAE networks trained on the K = 5 importance-weighted bound;
* ``vae-conv``: two stride-2 convolutions (32, 64 channels) to a 16-d code and back.

Implementations, each with its own model and optimizer, built from the same seed:

* ``hand-written``: plain PyTorch, what a user would write (:mod:`_steps`);
* ``ours (checks on)`` / ``ours (checks off)``: ``model(x)`` + ``model.compute_loss`` of this
  repository, with value checks (NaN/inf, Bernoulli support) on (the default) and off
  (``pyautoencoder.set_value_checks(False)``, what ``fit()`` does after its first batch);
* ``reference 2.1.0``: the published pyautoencoder 2.1.0, same import name, so it runs in
  its own venv (created here under ``.bench_cache/ref-venv``) in a subprocess that is driven
  step-batch by step-batch, interleaved with the in-process runners;
* ``pythae``: pythae's VAE / AE / IWAE with the same networks, in its own venv, when it
  installs (its decoder applies a sigmoid and its loss BCE on probabilities).

Every repetition runs ``--steps`` steps of every implementation in turn (the order rotated each
repetition); the per-step time of a run is the median over repetitions, the table shows the
median over ``--runs`` runs and the spread (half the interquartile range of all repetitions).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import torch
from _common import (
    CACHE,
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
from _steps import MODELS, image_batches, make_hand, make_ours

import pyautoencoder

TORCH_WHEEL_SPEC = f"torch=={torch.__version__.split('+')[0]}"
FOREIGN = {"reference": ("ref-venv", "pyautoencoder==2.1.0"), "pythae": ("pythae-venv", "pythae")}


def ensure_venv(kind: str, log: list[str]) -> Path | None:
    """The Python of a venv holding the foreign package (created on first use), or ``None``.

    ``torch`` is installed first, pinned to this process's version, so that pip does not pull a
    different (CUDA) build when it resolves the package's dependencies.
    """
    folder, requirement = FOREIGN[kind]
    venv = CACHE / folder
    python = venv / "bin" / "python"
    marker = venv / ".installed"
    if marker.exists():
        return python
    failed = venv / ".failed"
    if failed.exists():
        log.append(f"{kind}: did not install earlier ({failed.read_text().strip()[-200:]})")
        return None
    CACHE.mkdir(exist_ok=True)
    try:
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        pip = [str(python), "-m", "pip", "install", "-q"]
        subprocess.run([*pip, TORCH_WHEEL_SPEC], check=True, capture_output=True, text=True)
        subprocess.run([*pip, requirement], check=True, capture_output=True, text=True)
    except subprocess.CalledProcessError as error:
        failed.write_text(f"{error.cmd}: {error.stderr}")
        log.append(f"{kind}: could not install {requirement}: {error.stderr.strip()[-300:]}")
        return None
    marker.write_text(requirement)
    return python


class Foreign(Runner):
    """A step loop in another venv's Python, driven over stdin/stdout (see _step_worker.py)."""

    def __init__(self, name: str, python: Path, impl: str, model: str, batches: Path, threads: int):
        self.name = name
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
        env["OMP_NUM_THREADS"] = str(threads)
        env["PYTHONWARNINGS"] = "ignore"
        worker = Path(__file__).with_name("_step_worker.py")
        command = [str(python), str(worker), "--impl", impl, "--model", model]
        command += ["--batches", str(batches), "--threads", str(threads)]
        self.process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env
        )
        assert self.process.stdout is not None and self.process.stdin is not None
        ready = self.process.stdout.readline().split()
        if not ready or ready[0] != "ready":
            self.process.kill()
            raise RuntimeError(f"{name} worker for {model} did not start")
        self.version = ready[1]

    def run(self, n: int) -> float:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(f"{n}\n")
        self.process.stdin.flush()
        return float(self.process.stdout.readline())

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.write("quit\n")
            self.process.stdin.close()
        self.process.wait(timeout=30)


def with_checks(enabled: bool, step):  # type: ignore[no-untyped-def]
    def run(x: torch.Tensor) -> None:
        pyautoencoder.set_value_checks(enabled)
        try:
            step(x)
        finally:
            pyautoencoder.set_value_checks(True)

    return run


def runners_for(
    model: str, batches: list[torch.Tensor], args: argparse.Namespace, foreign: dict[str, Path]
) -> list[Runner]:
    data = image_batches(model, batches)
    count = len(data)
    hand, _ = make_hand(model, data[0])
    ours, _ = make_ours(model, data[0])
    ours_off, _ = make_ours(model, data[0])
    runners: list[Runner] = [
        InProcess("hand-written", lambda i: hand(data[i % count])),
        InProcess("ours (checks on)", lambda i: with_checks(True, ours)(data[i % count])),
        InProcess("ours (checks off)", lambda i: with_checks(False, ours_off)(data[i % count])),
    ]
    saved = CACHE / "step_batches.pt"
    CACHE.mkdir(exist_ok=True)  # --no-foreign creates no venv, so the folder may be missing
    torch.save(batches, saved)
    for impl, python in foreign.items():
        if impl == "reference" and model.startswith("iwae"):
            continue  # 2.1.0 has no IWAE
        label = "reference 2.1.0" if impl == "reference" else "pythae"
        try:
            runners.append(Foreign(label, python, impl, model, saved, args.threads))
        except RuntimeError as error:
            print(f"<!-- {error} -->")
    return runners


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="few steps, one run")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--steps", type=int, default=20, help="steps per repetition")
    parser.add_argument("--repeats", type=int, default=15, help="repetitions per run")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-foreign", action="store_true", help="skip reference and pythae")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = parser.parse_args()
    if args.quick:
        args.steps, args.repeats, args.runs = 5, 4, 1
    set_threads(args.threads)
    train, _ = load_mnist_10k(args.data)
    batches = fixed_batches(train)
    notes: list[str] = []
    foreign: dict[str, Path] = {}
    if not args.no_foreign:
        for kind in FOREIGN:
            python = ensure_venv(kind, notes)
            if python is not None:
                foreign[kind] = python

    print("## Training-step time\n")
    print("\n".join(machine_lines(args.threads)))
    print(
        f"- batch 100, Adam, {args.runs} run(s) x {args.repeats} interleaved repetitions x "
        f"{args.steps} steps; ms per step (median), spread = half IQR of the repetitions\n"
    )
    for model in args.models.split(","):
        runners = runners_for(model, batches, args, foreign)
        per_run: dict[str, list[float]] = {r.name: [] for r in runners}
        every: dict[str, list[float]] = {r.name: [] for r in runners}
        try:
            for _ in range(args.runs):
                times = interleaved(runners, args.steps, args.repeats, warmup=args.steps)
                for name, values in times.items():
                    per_run[name].append(median(values))
                    every[name].extend(values)
        finally:
            for runner in runners:
                runner.close()
        hand = median(per_run["hand-written"])
        reference = median(per_run["reference 2.1.0"]) if "reference 2.1.0" in per_run else None
        rows = []
        for runner in runners:
            value = median(per_run[runner.name])
            name = runner.name
            if isinstance(runner, Foreign):
                name += f" ({runner.version})" if runner.name == "pythae" else ""
            rows.append(
                [
                    name,
                    ms(value),
                    spread(every[runner.name]),
                    f"{value / hand:.3f}",
                    "n/a" if reference is None else f"{value / reference:.3f}",
                ]
            )
        if model.startswith("iwae") and foreign.get("reference"):
            rows.append(["reference 2.1.0", "n/a (no IWAE in 2.1.0)", "", "", ""])
        print(f"### {model}\n")
        print(table(["implementation", "ms/step", "spread", "x hand-written", "x reference"], rows))
        print()
    for note in notes:
        print(f"- {note}")


if __name__ == "__main__":
    main()
