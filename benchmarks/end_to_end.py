"""End to end: a hand-written DataLoader loop vs ``fit()`` vs pythae's trainer, 5 and 20 epochs.

Usage::

    python benchmarks/end_to_end.py [--quick] [--epochs 5,20] [--repeats 3] [--threads 2]
                                    [--no-foreign] [--pythae-python PATH]

The Kingma & Welling (2014) MLP VAE (784-500-20, Bernoulli likelihood), batch 100, Adam
lr 1e-3, on the 8,000 training images of binarized MNIST-10k. Each measurement is a fresh
process (``_e2e_worker.py``) that imports torch and reads the data, then starts the clock and
trains; the clock stops when the trained model is in hand. So it counts everything a user pays
beyond torch and the data: the library's imports, set-up (for ``fit()``: its run set-up, the
checked first batch, and what it does after the last step), every step, and, for pythae, its
pipeline's data checks and the final model it writes.

* ``hand-written``: ``DataLoader(TensorDataset(x), batch_size=100, shuffle=True)`` around the
  plain-PyTorch VAE of :mod:`_steps`, ``torch.optim.Adam`` with its defaults;
* ``fit()``: ``fit(model, x, epochs=E, batch_size=100, lr=1e-3)``, everything else default;
* ``pythae``: ``TrainingPipeline(BaseTrainerConfig(num_epochs=E, learning_rate=1e-3,
  per_device_train_batch_size=100, no_cuda=True), VAE(...))(train_data=x)`` in pythae's venv
  (``--pythae-python``, or ``.bench_cache/pythae-venv``).

The processes run one at a time, the three implementations in a rotated order in each
repetition; the table gives the median seconds over ``--repeats`` repetitions and
``hand-written / x``, the speed relative to the hand-written loop (> 1: faster), on the wall
clock and on the process's CPU time (which leaves out waiting for a core on a busy machine).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from _common import DEFAULT_DATA, REPO, machine_lines, median, table

WORKER = Path(__file__).with_name("_e2e_worker.py")
LABELS = {
    "hand": "hand-written DataLoader loop",
    "fit": "fit()",
    "pythae": "pythae TrainingPipeline",
}


def run_once(impl: str, python: Path, epochs: int, args: argparse.Namespace) -> dict[str, float]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    if impl == "fit":
        env["PYTHONPATH"] = str(REPO / "src")
    env["OMP_NUM_THREADS"] = str(args.threads)
    env["PYTHONWARNINGS"] = "ignore"
    command = [str(python), str(WORKER), "--impl", impl, "--epochs", str(epochs)]
    command += ["--threads", str(args.threads), "--data", str(args.data)]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=7200)
    if done.returncode != 0:
        raise RuntimeError(f"{impl} ({epochs} epochs) failed: {done.stderr.strip()[-500:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def pythae_python(args: argparse.Namespace, notes: list[str]) -> Path | None:
    if args.pythae_python is not None:
        return Path(args.pythae_python)
    from step_time import ensure_venv

    return ensure_venv("pythae", notes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1 epoch, one repetition")
    parser.add_argument("--epochs", default="5,20")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-foreign", action="store_true", help="skip pythae")
    parser.add_argument("--pythae-python", type=Path)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = parser.parse_args()
    if args.quick:
        args.epochs, args.repeats = "1", 1
    notes: list[str] = []
    pythons = {"hand": Path(sys.executable), "fit": Path(sys.executable)}
    if not args.no_foreign:
        python = pythae_python(args, notes)
        if python is not None:
            pythons["pythae"] = python
    print("## End to end: from the library's import to the trained model\n")
    print("\n".join(machine_lines(args.threads)))
    print(
        f"- VAE 784-500-20 on 8,000 images, batch 100; {args.repeats} repetition(s), each "
        "implementation a fresh process, one at a time, order rotated; median seconds\n"
    )
    impls = list(pythons)
    for epochs in [int(e) for e in args.epochs.split(",")]:
        seconds: dict[str, list[float]] = {impl: [] for impl in impls}
        cpu: dict[str, list[float]] = {impl: [] for impl in impls}
        loads: list[str] = []
        for rep in range(args.repeats):
            shift = rep % len(impls)
            for impl in impls[shift:] + impls[:shift]:
                try:
                    result = run_once(impl, pythons[impl], epochs, args)
                except (RuntimeError, subprocess.TimeoutExpired) as error:
                    notes.append(str(error))
                    continue
                seconds[impl].append(result["seconds"])
                cpu[impl].append(result["cpu_seconds"])
                start, end = result["load"]  # type: ignore[misc]
                loads.append(f"{impl} {start:.1f}-{end:.1f}")
        hand = median(seconds["hand"]) if seconds["hand"] else float("nan")
        hand_cpu = median(cpu["hand"]) if cpu["hand"] else float("nan")
        rows = []
        for impl in impls:
            if not seconds[impl]:
                continue
            value, value_cpu = median(seconds[impl]), median(cpu[impl])
            each = " / ".join(f"{s:.2f}" for s in seconds[impl])
            each_cpu = " / ".join(f"{s:.2f}" for s in cpu[impl])
            rows.append(
                [
                    LABELS[impl],
                    f"{value:.2f}",
                    each,
                    f"{hand / value:.3f}",
                    f"{value_cpu:.2f}",
                    each_cpu,
                    f"{hand_cpu / value_cpu:.3f}",
                ]
            )
        header = ["implementation", "wall s", "each repetition", "hand-written / x (wall)"]
        header += ["CPU s", "each repetition", "hand-written / x (CPU)"]
        print(f"### {epochs} epoch(s) ({epochs * 80} steps)\n")
        print(table(header, rows))
        print(f"\n- load average at the start and end of each process: {', '.join(loads)}\n")
    for note in notes:
        print(f"- {note}")


if __name__ == "__main__":
    main()
