"""Run every speed benchmark and collect their tables into one markdown file.

Usage::

    python benchmarks/run_all.py [--quick] [--out .bench_cache/latest.md] [--only step_time,limit]

Each script runs in its own process, one after the other (never in parallel: they time the
machine). The output file starts with the command lines used; copy its tables into
``docs/benchmarks.md`` together with a note on the machine and how busy it was.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

from _common import CACHE

SCRIPTS = (
    "step_time",
    "step_anatomy",
    "end_to_end",
    "nll_vs_pythae",
    "limit",
    "fit_throughput",
    "eval_scaling",
    "compile",
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", type=Path, default=CACHE / "latest.md")
    parser.add_argument("--only", default=",".join(SCRIPTS))
    args = parser.parse_args()
    here = Path(__file__).resolve().parent
    sections = []
    for name in args.only.split(","):
        command = [sys.executable, str(here / f"{name}.py")] + (["--quick"] if args.quick else [])
        start = time.perf_counter()
        result = subprocess.run(command, capture_output=True, text=True)
        elapsed = time.perf_counter() - start
        header = f"<!-- {' '.join(Path(c).name for c in command)}: {elapsed:.0f} s -->"
        body = result.stdout if result.returncode == 0 else f"```\n{result.stderr[-2000:]}\n```"
        sections.append(f"{header}\n{body}")
        print(f"{name}: {elapsed:.0f} s, exit {result.returncode}", file=sys.stderr)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n\n".join(sections))
    print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
