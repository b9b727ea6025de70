"""Quantizers on MNIST-10k and their step time, against ``vector-quantize-pytorch``.

    python benchmarks/quantizers_mnist.py [--epochs 3] [--repeats 20] [--peer-python PY]

Every quantizer runs in its own process (``_quantizer_worker.py``; two at a time) with one
thread: the same MLP encoder/decoder (784-256-256 -> 4 positions x 4 channels -> back;
Bernoulli likelihood, Adam 1e-3, batch 100) trained on the 8,000 MNIST-10k training images,
then the held-out reconstruction MSE per pixel and the code usage over the 2,000 held-out
images (8,000 code positions; codes used = fraction of the codebook chosen at least once,
perplexity = exp of the usage entropy). All quantizers have about 2^10 codes: VQ 1,024, FSQ
[8, 5, 5, 5] = 1,000, LFQ 10 bits = 1,024, RVQ 2 stages x 1,024 (usage per stage), Gumbel
1,024. The encoder ends in ``BatchNorm1d`` over the 4 code channels for every quantizer: without
it FSQ's tanh bound saturates within ~50 Adam steps (pre-activations ~20) and uses 3 codes.

Step time: one quantizer training step (forward, loss, backward) on ``z [32, 64, 8, 8]``
(2,048 vectors of 64 channels, 1,024 codes) interleaved with a hand-written straight-through
VQ step of the same shape in the same process; the table gives both medians and their ratio,
which cancels how fast the process's core was at that moment (the machine is shared). "vs
peer" divides our ratio by ``vector-quantize-pytorch``'s for the same quantizer (run in its
own virtual environment, ``--peer-python``; same shapes, its k-means init and dead-code
threshold for VQ/RVQ).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from _common import DEFAULT_DATA, REPO, machine_lines, table

WORKER = Path(__file__).with_name("_quantizer_worker.py")
OURS = ["vq-ema", "vq-kmeans", "vq-rotation", "fsq", "lfq", "rvq", "gumbel"]
PEER = ["vq-kmeans", "fsq", "rvq"]
LABELS = {
    "vq-ema": "VQ, EMA (reset after 100 steps)",
    "vq-kmeans": "VQ, EMA + k-means + dead-code reset",
    "vq-rotation": "VQ, EMA + k-means + reset, rotation trick",
    "fsq": "FSQ [8, 5, 5, 5]",
    "lfq": "LFQ 10 bits",
    "rvq": "RVQ 2 x VQ (k-means + reset)",
    "gumbel": "Gumbel-softmax",
}


def run_worker(python: str, library: str, name: str, args: argparse.Namespace) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO / "src")}
    command = [python, str(WORKER), library, name, str(args.data), str(args.epochs)]
    completed = subprocess.run(
        [*command, str(args.repeats)], env=env, capture_output=True, text=True, timeout=1800
    )
    if completed.returncode != 0:
        print(f"{library} {name} failed:\n{completed.stderr[-2000:]}", file=sys.stderr)
        nan = float("nan")
        keys = ("mse", "codes_used", "perplexity", "step_ms", "hand_ms", "ratio")
        return {"library": library, "name": name, **dict.fromkeys(keys, nan)}
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    print(f"done: {library} {name}", file=sys.stderr, flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--peer-python", default=str(REPO.parent / "venvs/vqp/bin/python"))
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    if not (args.data / "t10k-images-idx3-ubyte.gz").exists():
        raise SystemExit(f"MNIST test split not found under {args.data}; pass --data")
    jobs = [(sys.executable, "ours", name) for name in OURS]
    if Path(args.peer_python).exists():
        jobs += [(args.peer_python, "peer", name) for name in PEER]
    else:
        print(f"no peer python at {args.peer_python}: peer rows skipped", file=sys.stderr)
    header = machine_lines(1)
    with ThreadPoolExecutor(args.jobs) as pool:
        results = list(pool.map(lambda job: run_worker(*job, args), jobs))
    rows = []
    for r in results:
        peer_version = r.get("version")
        library = (
            "pyautoencoder" if peer_version is None else f"vector-quantize-pytorch {peer_version}"
        )
        versus = "—"
        if r["library"] == "ours" and "version" not in r:
            match = [p for p in results if p["library"] == "peer" and p["name"] == r["name"]]
            if match:
                versus = f"{r['ratio'] / match[0]['ratio']:.2f}x"
        rows.append(
            [
                library,
                LABELS[r["name"]],
                f"{r['mse']:.4f}",
                f"{100 * r['codes_used']:.1f} %",
                f"{r['perplexity']:.0f}",
                f"{r['step_ms']:.2f}",
                f"{r['hand_ms']:.2f}",
                f"{r['ratio']:.2f}",
                versus,
            ]
        )
    print("\n".join(header))
    print(
        f"- MNIST-10k grey levels (train 8,000 / held-out 2,000), {args.epochs} epochs, batch "
        f"100, step times: median of {args.repeats} interleaved steps, 1 thread per process, "
        f"{args.jobs} processes at a time\n"
    )
    print(
        table(
            [
                "library",
                "quantizer",
                "held-out MSE / pixel",
                "codes used (held-out)",
                "perplexity",
                "step (ms)",
                "hand-written VQ step (ms)",
                "ratio to hand-written",
                "ours vs peer",
            ],
            rows,
        )
    )


if __name__ == "__main__":
    main()
