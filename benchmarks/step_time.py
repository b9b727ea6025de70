"""Training-step time of each library as a ratio to a hand-written PyTorch step in its own process.

Usage::

    python benchmarks/step_time.py [--quick] [--threads 2] [--models vae-mlp,ae-mlp,...]
                                   [--runs 3] [--no-foreign] [--data ../shared/data/mnist]
                                   [--reference-python PATH] [--pythae-python PATH]

Models (binarized MNIST-10k training images, batch 100, Adam lr 1e-3, Bernoulli likelihood):

* ``vae-mlp``: Kingma & Welling (2014) MLP, 784-500(tanh)-20, decoder 20-500(tanh)-784;
* ``ae-mlp``: the same networks as a deterministic autoencoder (a linear 500 -> 20 code);
* ``iwae-mlp``: the VAE networks trained on the K = 5 importance-weighted bound;
* ``vae-conv``: two stride-2 convolutions (32, 64 channels) to a 16-d code and back.

**Method.** Each library runs in a process of its own (``_step_worker.py``) next to the
hand-written PyTorch step of the same model, written once in :mod:`_steps` and run unchanged in
every process, and a second copy of it (the *control*). Inside a process the variants run in
interleaved blocks of ``--steps`` steps, hand-written and library blocks alternating and the
order rotated each repetition (so that every block follows another model's block: the first
step after a switch of models pays for cold caches, and the two rows of one instance must not
share that cost unequally); the ratio of one
repetition is a library's block time over the hand-written block of the same repetition, and a
run's ratio is the median over repetitions. Nothing is driven across a process boundary while
it is timed. The control row (an identical hand-written step) shows the noise of the method:
its ratio is 1.00 up to it. The processes run one at a time (never two at once on the shared
cores), in an order rotated each run; the tables give the median over ``--runs`` runs and each
run's ratio. Every process first warms glibc's allocator (``_common.warm_allocator``: one
16 MiB block allocated and freed raises the dynamic mmap threshold, as loading a data set
does), so that no variant pays a page fault per 4 KiB of every large tensor; the page faults
per step are printed under each table (about 0 when warm). Without it every step of every
variant paid ~1,100 faults (5.3 instead of 3.9 ms for the hand-written VAE step), a shared
cost that shrank every ratio toward 1 (sessions 21-24's tables). Libraries:

* ``ours``: this repository (``PYTHONPATH=<repo>/src`` with this Python), value checks on
  (the default) and off (``model.value_checks = False``, the per-model switch): one model
  instance, the switch set before each block, so that only the checks differ between the two
  rows (two instances differ by up to 3 % per step from where their memory lands);
* ``reference 2.1.0``: ``pip install pyautoencoder==2.1.0``, same import name, so its own venv
  (``--reference-python``, or one created under ``.bench_cache/ref-venv`` on first use);
* ``pythae``: pythae's VAE / AE / IWAE with the same networks in its own venv
  (``--pythae-python`` or ``.bench_cache/pythae-venv``); its decoder applies a sigmoid and its
  loss BCE on probabilities.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch
from _common import (
    CACHE,
    DEFAULT_DATA,
    REPO,
    machine_lines,
    median,
    ms,
    saved_step_batches,
    set_threads,
    table,
)
from _steps import MODELS

TORCH_WHEEL_SPEC = f"torch=={torch.__version__.split('+')[0]}"
FOREIGN = {"reference": ("ref-venv", "pyautoencoder==2.1.0"), "pythae": ("pythae-venv", "pythae")}
WORKER = Path(__file__).with_name("_step_worker.py")


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
        subprocess.run([*pip, requirement, "numpy"], check=True, capture_output=True, text=True)
    except subprocess.CalledProcessError as error:
        failed.write_text(f"{error.cmd}: {error.stderr}")
        log.append(f"{kind}: could not install {requirement}: {error.stderr.strip()[-300:]}")
        return None
    marker.write_text(requirement)
    return python


def run_worker(
    impl: str, python: Path, model: str, batches: Path, args: argparse.Namespace
) -> dict[str, object]:
    """Run one worker process to completion and return its JSON result."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    if impl == "ours":
        env["PYTHONPATH"] = str(REPO / "src")
    env["OMP_NUM_THREADS"] = str(args.threads)
    env["PYTHONWARNINGS"] = "ignore"
    command = [str(python), str(WORKER), "--impl", impl, "--model", model]
    command += ["--batches", str(batches), "--threads", str(args.threads)]
    command += ["--steps", str(args.steps), "--repeats", str(args.repeats)]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=3600)
    if done.returncode != 0:
        raise RuntimeError(f"{impl} worker for {model} failed: {done.stderr.strip()[-500:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def paired_ratios(times: dict[str, list[float]], name: str) -> list[float]:
    """Per repetition: ``name``'s block time over the hand-written block of that repetition."""
    return [a / b for a, b in zip(times[name], times["hand-written"])]


def half_iqr(values: list[float]) -> float:
    q = np.percentile(np.asarray(values), [25, 75])
    return float(q[1] - q[0]) / 2


def model_table(model: str, results: list[dict[str, object]], clock: str) -> list[list[str]]:
    """Rows: one per variant, ratio to hand-written (median of runs) and each run's ratio."""
    per_variant: dict[str, dict[str, list[float]]] = {}
    for result in results:
        times: dict[str, list[float]] = result[clock]  # type: ignore[assignment]
        for name in times:
            if name == "hand-written" and result["impl"] != "ours":
                continue
            label = (
                name
                if result["impl"] == "ours" or name != "hand-written (control)"
                else (f"hand-written (control, {result['impl']} process)")
            )
            entry = per_variant.setdefault(label, {"ratio": [], "ms": [], "hand_ms": [], "iqr": []})
            ratios = paired_ratios(times, name)
            entry["ratio"].append(median(ratios))
            entry["iqr"].append(half_iqr(ratios))
            entry["ms"].append(median(times[name]))
            entry["hand_ms"].append(median(times["hand-written"]))
    rows = []
    for label, entry in per_variant.items():
        rows.append(
            [
                label,
                f"{median(entry['ratio']):.3f}",
                " / ".join(f"{r:.3f}" for r in entry["ratio"]),
                f"±{median(entry['iqr']):.3f}",
                ms(median(entry["ms"])),
                ms(median(entry["hand_ms"])),
            ]
        )
    return rows


def fault_summary(results: list[dict[str, object]]) -> str:
    """The largest per-process median of minor page faults per step, for every variant."""
    worst: dict[str, float] = {}
    for result in results:
        faults: dict[str, list[float]] = result.get("page_faults", {})  # type: ignore[assignment]
        for name, values in faults.items():
            label = (
                name
                if result["impl"] == "ours" or not name.startswith("hand")
                else (f"{name} ({result['impl']} process)")
            )
            worst[label] = max(worst.get(label, 0.0), median(values))
    return ", ".join(f"{name} {value:.1f}" for name, value in worst.items()) or "not recorded"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="few steps, one run")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--steps", type=int, default=20, help="steps per block")
    parser.add_argument("--repeats", type=int, default=40, help="repetitions per process")
    parser.add_argument("--runs", type=int, default=3, help="processes per library and model")
    parser.add_argument("--no-foreign", action="store_true", help="skip reference and pythae")
    parser.add_argument("--reference-python", type=Path, help="Python of a 2.1.0 venv")
    parser.add_argument("--pythae-python", type=Path, help="Python of a pythae venv")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = parser.parse_args()
    if args.quick:
        args.steps, args.repeats, args.runs = 5, 4, 1
    set_threads(args.threads)
    saved = saved_step_batches(args.data)
    notes: list[str] = []
    pythons: dict[str, Path] = {"ours": Path(sys.executable)}
    if not args.no_foreign:
        given = {"reference": args.reference_python, "pythae": args.pythae_python}
        for kind in FOREIGN:
            python = given[kind] or ensure_venv(kind, notes)
            if python is not None:
                pythons[kind] = python

    print("## Training-step time: ratio to a hand-written step in the same process\n")
    print("\n".join(machine_lines(args.threads)))
    print(
        f"- batch 100, Adam; per library and model {args.runs} process(es), each "
        f"{args.repeats} interleaved repetitions x {args.steps} steps of every variant; "
        "ratio = a variant's block time / the hand-written block of the same repetition, median "
        "over repetitions, then over processes; ± = half IQR of the repetitions' ratios\n"
    )
    for model in args.models.split(","):
        impls = [i for i in pythons if not (i == "reference" and model.startswith("iwae"))]
        results: list[dict[str, object]] = []
        loads: list[str] = []
        for run in range(args.runs):
            shift = run % len(impls)
            for impl in impls[shift:] + impls[:shift]:
                try:
                    result = run_worker(impl, pythons[impl], model, saved, args)
                except (RuntimeError, subprocess.TimeoutExpired) as error:
                    notes.append(str(error))
                    continue
                results.append(result)
                start, end = result["load"]  # type: ignore[misc]
                loads.append(f"{impl} {start:.1f}-{end:.1f}")
        versions = sorted({f"{r['impl']} {r['version']}" for r in results if r["impl"] != "ours"})
        for clock, what in (("times", "wall clock"), ("cpu_times", "process CPU time")):
            rows = model_table(model, results, clock)
            print(f"### {model}, {what}\n")
            header = [
                "variant",
                "x hand-written",
                "per process",
                "±",
                "ms/step",
                "hand-written ms/step (same process)",
            ]
            print(table(header, rows))
            print()
        print(f"- load average during each process: {', '.join(loads)}")
        print(f"- minor page faults per step (largest process median): {fault_summary(results)}")
        if versions:
            print(f"- versions: {', '.join(versions)}")
        if model.startswith("iwae") and "reference" in pythons:
            print("- reference 2.1.0: no IWAE")
        print()
    for note in notes:
        print(f"- {note}")


if __name__ == "__main__":
    main()
