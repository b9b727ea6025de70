"""MkDocs hook: run the figure-making examples before the build, so figures are never committed.

The examples write PNGs into ``docs/generated/`` (git-ignored); pages reference them as
``generated/<name>.png``. A failing example fails the build.

Each script runs in its own process with the arguments of :data:`FIGURE_EXAMPLES`: the bundled
digits (``--data digits``) so that the figures are the same on every machine, whether or not
the MNIST files are there, and settings short enough to keep the whole build near a minute on
two CPU cores. The scripts run concurrently, one single-threaded process per core.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

log = logging.getLogger("mkdocs.hooks.figures")

# script -> extra command-line arguments (each script's defaults are what users run)
FIGURE_EXAMPLES: dict[str, list[str]] = {
    "beta_vae_shapes.py": ["--epochs", "15"],  # the slowest first
    "iwae_bounds.py": ["--data", "digits"],
    "fit_beta_warmup.py": ["--data", "digits", "--epochs", "30", "--warmup-epochs", "10"],
    "vqvae_tokenizer.py": ["--data", "digits", "--epochs", "10"],
    "denoising_ae.py": ["--data", "digits"],
    "plot_reconstructions.py": [],
}


def _run(root: Path, script: str, args: list[str], out: Path) -> str:
    env = {"OMP_NUM_THREADS": "1", **os.environ, "MPLBACKEND": "Agg"}
    start = time.perf_counter()
    completed = subprocess.run(
        [sys.executable, str(root / "examples" / script), "--out", str(out), *args],
        env=env,
        cwd=root,
        capture_output=True,
        text=True,
    )
    if completed.returncode != 0:
        raise RuntimeError(
            f"examples/{script} failed (exit {completed.returncode}):\n{completed.stderr[-3000:]}"
        )
    return f"examples/{script} ({time.perf_counter() - start:.1f} s)"


def on_pre_build(config: Any) -> None:
    docs_dir = Path(config["docs_dir"])
    root = docs_dir.parent
    out = docs_dir / "generated"
    out.mkdir(exist_ok=True)
    workers = min(len(FIGURE_EXAMPLES), os.cpu_count() or 1)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        jobs = [pool.submit(_run, root, s, a, out) for s, a in FIGURE_EXAMPLES.items()]
        for job in jobs:
            log.info("figures: %s", job.result())
