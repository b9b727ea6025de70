"""MkDocs hook: run the figure-making examples before the build, so figures are never committed.

The examples write PNGs into ``docs/generated/`` (git-ignored); pages reference them as
``generated/<name>.png``. A failing example fails the build.

Each script runs in its own process with the arguments of :data:`FIGURE_EXAMPLES`: the bundled
digits (``--data digits``) so that the figures are the same on every machine, whether or not
the MNIST files are there, and settings short enough to keep the whole build near a minute on
two CPU cores. The scripts run concurrently, one single-threaded process per core.

Outputs are cached in ``.docs_cache/examples/`` (git-ignored), keyed on the script's source,
its arguments and the package version in ``pyproject.toml``: a build whose examples did not
change copies the cached files instead of running the scripts, so ``mkdocs serve`` starts (and
rebuilds) in seconds. A fresh clone has no cache and runs every script. A change to the library
that keeps the version does not invalidate the cache; ``PYAUTOENCODER_DOCS_FRESH=1`` (or
deleting the folder) runs the scripts again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

log = logging.getLogger("mkdocs.hooks.figures")

# script -> extra command-line arguments (each script's defaults are what users run)
FIGURE_EXAMPLES: dict[str, list[str]] = {
    # the slowest first (about 60 s of CPU: three 64x64 autoencoders, one with a discriminator)
    "adversarial_image_ae.py": ["--steps", "200", "--batch-size", "8", "--num-train", "1024"],
    "beta_vae_shapes.py": ["--epochs", "15"],
    "iwae_bounds.py": ["--data", "digits"],
    "fit_beta_warmup.py": ["--data", "digits", "--epochs", "30", "--warmup-epochs", "10"],
    "vqvae_tokenizer.py": ["--data", "digits", "--epochs", "10"],
    "quantizer_tokenizer.py": ["--data", "digits", "--epochs", "10", "--prior-epochs", "10"],
    "denoising_ae.py": ["--data", "digits"],
    "plot_reconstructions.py": [],
    "fitted_samplers.py": ["--data", "digits"],
}


CACHE = Path(".docs_cache") / "examples"  # relative to the repository root
_DONE = ".complete"


def _version(root: Path) -> str:
    """``version = "..."`` of ``pyproject.toml`` (no ``tomllib``: Python 3.10 builds docs too)."""
    text = (root / "pyproject.toml").read_text(encoding="utf-8")
    match = re.search(r'^version\s*=\s*"([^"]+)"', text, re.MULTILINE)
    return match.group(1) if match else "unknown"


def cache_key(root: Path, script: str, args: list[str]) -> str:
    """Hash of what decides an example's outputs: its source, arguments, package version."""
    digest = hashlib.sha256()
    digest.update((root / "examples" / script).read_bytes())
    digest.update(json.dumps([args, _version(root)]).encode())
    return digest.hexdigest()[:16]


def _execute(root: Path, script: str, args: list[str], out: Path) -> None:
    env = {"OMP_NUM_THREADS": "1", **os.environ, "MPLBACKEND": "Agg"}
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


def _run(root: Path, script: str, args: list[str], out: Path) -> str:
    """Copy the example's cached outputs into ``out``, running it first on a cache miss."""
    start = time.perf_counter()
    stem = Path(script).stem
    entry = root / CACHE / f"{stem}-{cache_key(root, script, args)}"
    fresh = os.environ.get("PYAUTOENCODER_DOCS_FRESH", "") not in ("", "0")
    hit = (entry / _DONE).is_file() and not fresh
    if not hit:
        for old in (root / CACHE).glob(f"{stem}-*"):  # other versions of this script
            shutil.rmtree(old, ignore_errors=True)
        work = entry.with_name(f"{entry.name}.tmp-{os.getpid()}")
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        _execute(root, script, args, work)
        (work / _DONE).write_text("")
        os.replace(work, entry)
    for produced in entry.iterdir():
        if produced.is_file() and produced.name != _DONE:
            shutil.copy2(produced, out / produced.name)
    how = "cached" if hit else "ran"
    return f"examples/{script} ({how}, {time.perf_counter() - start:.1f} s)"


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
