"""How long does the ``pyautoencoder`` command take to start, fail and finish?

Each case runs the command as a fresh process (``python -m pyautoencoder ...``) and times it
from ``Popen`` to exit:

- ``--help`` and an argument error (``train --epochs x``: argparse's one line, exit 2): the
  fixed cost of importing the command, which users pay on every typo;
- ``demo --epochs N``: a whole small demo run, and ``linger``: the time from its last line
  ("demo finished ...") to the process's exit (interpreter shutdown).

``--src LABEL=PATH`` (repeatable) runs every case with ``PYTHONPATH=PATH`` too, e.g. a checkout
of an older commit (``git worktree add /tmp/old <commit>`` then ``--src old=/tmp/old/src``),
interleaved with this checkout's ``src`` so a busy machine slows all variants alike. Prints the
medians and the ratio of each variant to the first one.

    python benchmarks/startup.py [--repeats 5] [--demo-repeats 2] [--demo-epochs 5]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import REPO, machine_lines, median, spread, table

CASES = {
    "--help": ["--help"],
    "argument error": ["train", "--epochs", "x"],
}


def _env(src: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = src
    return env


def _run(src: str, args: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "pyautoencoder", *args],
        env=_env(src),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=False,
    )
    return time.perf_counter() - start


def _run_demo(src: str, epochs: int, out: str) -> tuple[float, float]:
    """``(wall time, linger after the last line)`` of one demo run."""
    command = [sys.executable, "-u", "-m", "pyautoencoder", "demo", "--epochs", str(epochs)]
    command += ["--out", out, "--quiet", "--logger", "none"]
    start = time.perf_counter()
    process = subprocess.Popen(
        command,
        env=_env(src),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert process.stdout is not None
    last_line = start
    for _ in process.stdout:
        last_line = time.perf_counter()
    process.wait()
    end = time.perf_counter()
    if process.returncode != 0:
        raise SystemExit(f"demo failed with exit code {process.returncode} ({src})")
    return end - start, end - last_line


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", action="append", default=[], metavar="LABEL=PATH")
    parser.add_argument("--repeats", type=int, default=5, help="runs of each short case (5)")
    parser.add_argument("--demo-repeats", type=int, default=2, help="demo runs per variant (2)")
    parser.add_argument("--demo-epochs", type=int, default=5, help="epochs of the demo (5)")
    parser.add_argument("--quick", action="store_true", help="2 repeats, 1 demo of 1 epoch")
    args = parser.parse_args()
    if args.quick:
        args.repeats, args.demo_repeats, args.demo_epochs = 2, 1, 1
    variants = {"this checkout": str(REPO / "src")}
    for item in args.src:
        label, _, path = item.partition("=")
        variants[label] = str(Path(path).resolve())

    print("# Start-up of the pyautoencoder command\n")
    print("\n".join(machine_lines(threads=1)))
    print(f"- {args.repeats} runs per short case, {args.demo_repeats} demo runs of "
          f"{args.demo_epochs} epoch(s) per variant, interleaved; medians\n")  # fmt: skip

    times: dict[tuple[str, str], list[float]] = {}
    labels = list(variants)
    for rep in range(args.repeats):
        shift = rep % len(labels)
        for label in labels[shift:] + labels[:shift]:
            for case, case_args in CASES.items():
                times.setdefault((label, case), []).append(_run(variants[label], case_args))
    with tempfile.TemporaryDirectory() as out:
        for rep in range(args.demo_repeats):
            shift = rep % len(labels)
            for label in labels[shift:] + labels[:shift]:
                wall, linger = _run_demo(variants[label], args.demo_epochs, out)
                times.setdefault((label, "demo"), []).append(wall)
                times.setdefault((label, "linger after the last line"), []).append(linger)

    cases = [*CASES, "demo", "linger after the last line"]
    rows = []
    for case in cases:
        base = median(times[(labels[0], case)])
        for label in labels:
            values = times[(label, case)]
            seconds = median(values)
            rows.append([case, label, f"{seconds:.3f}", spread(values), f"{seconds / base:.2f}"])
    print(table(["case", "variant", "seconds", "spread", f"ratio to {labels[0]}"], rows))
    print(f"\nload average at the end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
