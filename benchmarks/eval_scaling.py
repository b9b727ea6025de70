"""Time and peak memory of the importance-sampled log-likelihood vs ``K`` and vs data-set size.

Usage::

    python benchmarks/eval_scaling.py [--quick] [--threads 2] [--chunk-size 64]

:func:`pyautoencoder.evaluation.log_likelihood_estimate` on the held-out images of binarized
MNIST-10k with the Kingma & Welling (2014) MLP VAE (784-500-20, Bernoulli; untrained weights
from a fixed seed: the cost does not depend on the weights). Two sweeps:

* ``K`` (importance samples per image) at a fixed number of images: time should grow linearly
  in ``K`` and peak memory stay flat (the ``logsumexp`` is streamed over chunks of
  ``chunk_size`` samples);
* the number of images at a fixed ``K``: both time and the result tensors grow linearly, the
  working memory stays flat (batches of ``batch_size`` images).

Every configuration runs in a fresh Python process so that its peak resident memory
(``ru_maxrss``) is its own: ``peak MiB`` is that peak minus the resident memory just before the
call (model and data already loaded, one tiny call made so that every kernel is loaded).
``time`` is the median of ``--repeats`` calls; ``us per sample`` = time / (images x K).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import torch
from _common import (
    DEFAULT_DATA,
    LATENT,
    load_mnist_10k,
    machine_lines,
    median,
    mlp_decoder,
    mlp_encoder,
    set_threads,
    table,
)


def current_rss_kib() -> int:
    """Resident memory of this process now, in KiB (``/proc/self/statm``)."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") // 1024


def worker(args: argparse.Namespace) -> None:
    """One configuration: print ``{"seconds": ..., "peak_mib": ...}`` as JSON."""
    from pyautoencoder.evaluation import log_likelihood_estimate
    from pyautoencoder.variational import VAE

    set_threads(args.threads)
    _, held_out = load_mnist_10k(args.data)
    data = held_out[: args.images].clone()
    torch.manual_seed(0)
    model = VAE(mlp_encoder(), mlp_decoder(), LATENT, likelihood="bernoulli")
    model.build(data[:2])
    options = {"batch_size": args.batch_size, "chunk_size": args.chunk_size, "seed": 0}
    log_likelihood_estimate(model, data[:2], num_samples=2, **options)
    before = current_rss_kib()
    times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        log_likelihood_estimate(model, data, num_samples=args.k, **options)
        times.append(time.perf_counter() - start)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    print(json.dumps({"seconds": median(times), "peak_mib": max(peak - before, 0) / 1024}))


def measure(args: argparse.Namespace, images: int, k: int) -> dict[str, float]:
    command = [sys.executable, __file__, "--worker", "--images", str(images), "--k", str(k)]
    command += ["--threads", str(args.threads), "--repeats", str(args.repeats)]
    command += ["--batch-size", str(args.batch_size), "--chunk-size", str(args.chunk_size)]
    command += ["--data", str(args.data)]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    return dict(json.loads(out.strip().splitlines()[-1]))


def sweep(args: argparse.Namespace, configs: list[tuple[int, int]], varied: str) -> None:
    rows = []
    base: dict[str, float] | None = None
    for images, k in configs:
        result = measure(args, images, k)
        base = base or result
        per_sample = result["seconds"] / (images * k) * 1e6
        rows.append(
            [
                str(k) if varied == "K" else str(images),
                f"{result['seconds']:.3f}",
                f"{per_sample:.2f}",
                f"{result['seconds'] / base['seconds']:.2f}",
                f"{result['peak_mib']:.1f}",
            ]
        )
    header = [varied, "time (s)", "us per sample", "x first time", "peak MiB above start"]
    print(table(header, rows))
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--chunk-size", type=int, default=64)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--images", type=int, default=200, help=argparse.SUPPRESS)
    parser.add_argument("--k", type=int, default=100, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    if args.quick:
        args.repeats = 1
    ks = [50, 100, 200] if args.quick else [50, 100, 200, 400, 800, 1600]
    sizes = [125, 250, 500] if args.quick else [250, 500, 1000, 2000]
    fixed_images, fixed_k = (50 if args.quick else 100), 50
    print("## IS log-likelihood: time and memory scaling\n")
    print("\n".join(machine_lines(args.threads)))
    print(
        f"- VAE 784-500-20 (Bernoulli), batch_size {args.batch_size}, chunk_size "
        f"{args.chunk_size}; median of {args.repeats} call(s), each configuration in a fresh "
        "process\n"
    )
    print(f"### vs K ({fixed_images} held-out images)\n")
    sweep(args, [(fixed_images, k) for k in ks], "K")
    print(f"### vs number of images (K = {fixed_k})\n")
    sweep(args, [(n, fixed_k) for n in sizes], "images")


if __name__ == "__main__":
    main()
