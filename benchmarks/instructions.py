"""How many machine instructions does a training step execute, against the hand-written one?

``step_time.py`` measures time, which on a shared machine resolves differences of a few tenths
of a percent at best and drifts by as much over an hour. A count of the instructions a step
executes repeats to about 15 thousand instructions (0.02 % of a step) and says
*where* a difference comes from. Each variant runs in a process of its own under valgrind's
callgrind (``_instructions_worker.py``: instrumentation switched on only for the measured
steps, after the imports, the model building and three warm-up steps), with the Python of the
venv that holds its library, as in ``step_time.py``. The table gives the instructions per step,
the difference to the hand-written step of the same model and the ratio; ``--top N`` adds the
``N`` functions (C symbols: the interpreter's, torch's, MKL's) whose counts differ most from
the hand-written step's.

Instructions are not time. A step's instructions are mostly vectorised matrix products, which
run many per cycle, while the interpreter's and the dispatcher's run few per cycle and, inside
a step whose matrix products have evicted the caches, miss them: on the Xeon of
``docs/benchmarks.md`` the unchecked VAE step executes 0.22 % more instructions than the
hand-written one and takes about 1.4 % longer. Use the counts to compare two versions of one
step (``--src``) and to find what a difference is made of, the wall clock for what users wait.

One intra-op thread (valgrind runs threads one at a time; a spinning OpenMP worker would add
instructions that depend on the schedule). Needs ``valgrind``, ``callgrind_control`` and
``callgrind_annotate`` on ``PATH``; each variant takes a few minutes (the interpreter runs
about 50x slower under callgrind).

    python benchmarks/instructions.py [--models vae-mlp] [--steps 10] [--top 15]
    python benchmarks/instructions.py --src old=/tmp/old/src   # another checkout's step too
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import NamedTuple

from _common import DEFAULT_DATA, REPO, machine_lines, saved_step_batches, table
from _steps import MODELS

WORKER = Path(__file__).with_name("_instructions_worker.py")
OURS_VARIANTS = ("hand-written", "ours (checks on)", "ours (checks off)")
TOOLS = ("valgrind", "callgrind_control", "callgrind_annotate")


def parse_totals(text: str) -> int:
    """The total instruction count of a callgrind output file: its ``totals:`` line.

    (Its ``summary:`` line, near the top, reads 0 when the instrumentation started off.)
    """
    for line in text.splitlines():
        if line.startswith("totals:"):
            return int(line.split()[1])
    raise ValueError("no totals: line in the callgrind output")


def parse_functions(annotated: str) -> dict[str, int]:
    """``{function: instructions}`` from ``callgrind_annotate`` output (exclusive counts).

    Lines look like ``1,234,567 (12.34%)  file:function [object]``; the object is dropped so
    that runs with different paths to one library compare.
    """
    counts: dict[str, int] = {}
    for line in annotated.splitlines():
        head, _, rest = line.strip().partition(" ")
        if not head or not head[0].isdigit() or "PROGRAM TOTALS" in rest:
            continue
        try:
            count = int(head.replace(",", ""))
        except ValueError:
            continue
        name = rest.split(")", 1)[-1].strip().split(" [", 1)[0]
        if name:
            counts[name] = counts.get(name, 0) + count
    return counts


def top_differences(
    base: dict[str, int], other: dict[str, int], steps: int, n: int
) -> list[tuple[str, float]]:
    """The ``n`` functions whose per-step counts differ most (by size) from ``base``."""
    names: Iterable[str] = set(base) | set(other)
    diffs = [(name, (other.get(name, 0) - base.get(name, 0)) / steps) for name in names]
    diffs.sort(key=lambda item: -abs(item[1]))
    return diffs[:n]


class Variant(NamedTuple):
    """One process to count: its row label, library, Python, ``PYTHONPATH`` and step name."""

    label: str
    impl: str  # "ours", "reference" or "pythae" (``_step_worker``'s names)
    python: Path
    src: str | None  # PYTHONPATH, or None for a foreign venv
    name: str  # the variant's row name in ``_step_worker``


def count(variant: Variant, model: str, batches: Path, steps: int, work: Path) -> Path:
    """Run ``variant``'s steps under callgrind; the path of its output file."""
    signal = Path(tempfile.mkdtemp(dir=work))
    out = signal / "callgrind.out"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    if variant.src is not None:
        env["PYTHONPATH"] = variant.src
    env["OMP_NUM_THREADS"] = "1"
    env["PYTHONWARNINGS"] = "ignore"
    command = ["valgrind", "--tool=callgrind", "--instr-atstart=no"]
    command += [f"--callgrind-out-file={out}", str(variant.python), str(WORKER)]
    command += ["--impl", variant.impl, "--model", model, "--variant", variant.name]
    command += ["--batches", str(batches), "--steps", str(steps), "--signal", str(signal)]
    log = (signal / "log").open("w")
    process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        for wait_for, switch, then in (("ready", "on", "go"), ("done", "off", "stop")):
            while not (signal / wait_for).exists():
                if process.poll() is not None:
                    tail = (signal / "log").read_text()[-600:]
                    raise RuntimeError(f"{variant.label} ({model}) exited early: {tail}")
                time.sleep(0.2)
            subprocess.run(
                ["callgrind_control", "-i", switch, str(process.pid)],
                check=True,
                capture_output=True,
            )
            (signal / then).touch()
        process.wait(timeout=600)
    finally:
        if process.poll() is None:
            process.kill()
        log.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 steps, the VAE only")
    parser.add_argument("--models", default="vae-mlp", help=f"any of {','.join(MODELS)}")
    parser.add_argument("--steps", type=int, default=10, help="measured steps per variant")
    parser.add_argument("--top", type=int, default=0, help="functions that differ most")
    parser.add_argument("--parallel", type=int, default=2, help="processes at a time")
    parser.add_argument("--src", action="append", default=[], help="LABEL=PATH, another src")
    parser.add_argument("--reference-python", type=Path, help="Python of a 2.1.0 venv")
    parser.add_argument("--pythae-python", type=Path, help="Python of a pythae venv")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = parser.parse_args()
    if args.quick:
        args.steps, args.models = 3, "vae-mlp"
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        raise SystemExit(f"instructions.py needs {', '.join(missing)} on PATH (valgrind)")
    batches = saved_step_batches(args.data)
    ours = Path(sys.executable)
    variants = [Variant(name, "ours", ours, str(REPO / "src"), name) for name in OURS_VARIANTS]
    for spec in args.src:
        label, _, path = spec.partition("=")
        variants += [
            Variant(f"{name} [{label}]", "ours", ours, path, name) for name in OURS_VARIANTS[1:]
        ]
    if args.reference_python:
        variants.append(
            Variant("reference 2.1.0", "reference", args.reference_python, None, "reference 2.1.0")
        )
    if args.pythae_python:
        variants.append(Variant("pythae", "pythae", args.pythae_python, None, "pythae"))

    print("## Instructions per training step (callgrind), against the hand-written step\n")
    print("\n".join(machine_lines(1)))
    print(
        f"- batch 100, Adam; {args.steps} measured steps per variant after 3 warm-up steps, "
        "each variant in its own process under callgrind, 1 thread; the foreign libraries' "
        "rows count their own process's step, the hand-written row this checkout's process\n"
    )
    with tempfile.TemporaryDirectory() as work:
        for model in args.models.split(","):
            chosen = [v for v in variants if not (v.impl == "reference" and "iwae" in model)]
            with ThreadPoolExecutor(max_workers=args.parallel) as pool:
                jobs = [
                    pool.submit(count, v, model, batches, args.steps, Path(work)) for v in chosen
                ]
                outs = [job.result() for job in jobs]
            totals = [parse_totals(out.read_text()) / args.steps for out in outs]
            hand = totals[0]
            rows = [
                [v.label, f"{t / 1e6:.3f}", f"{(t - hand) / 1e3:+.1f}", f"{t / hand:.4f}"]
                for v, t in zip(chosen, totals, strict=True)
            ]
            print(f"### {model}\n")
            header = ["variant", "M instructions / step", "vs hand-written (k / step)", "ratio"]
            print(table(header, rows))
            print()
            if args.top:
                annotate = ["callgrind_annotate", "--threshold=100"]
                functions = [
                    parse_functions(
                        subprocess.run(
                            [*annotate, str(out)], capture_output=True, text=True, check=True
                        ).stdout
                    )
                    for out in outs
                ]
                for variant, counts in zip(chosen[1:], functions[1:], strict=True):
                    diffs = top_differences(functions[0], counts, args.steps, args.top)
                    print(f"#### {model}: {variant.label} - hand-written, per step\n")
                    rows = [[name, f"{diff:+,.0f}"] for name, diff in diffs]
                    print(table(["function", "instructions"], rows))
                    print()


if __name__ == "__main__":
    main()
