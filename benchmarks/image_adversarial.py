"""L2 vs L2 + perceptual vs L2 + perceptual + PatchGAN (VQGAN objective) at the same budget.

Runs ``examples/adversarial_image_ae.py`` (the data, networks, models and scores are defined
there, where users read them) over several seeds: 64 x 64 colour shapes on striped
backgrounds, one conv autoencoder with a 4 x 16 x 16 latent, the same seed, batches and number
of steps for every objective, trained through ``fit()`` (the adversarial model through its
``training_steps()``: two optimizers). Held-out scores (256 images): MSE, 3-scale MS-SSIM and
the sharpness ratio (mean absolute finite difference of the reconstructions over that of the
originals). Prints one row per seed and objective, then mean and standard deviation over seeds,
and writes the figure of the first seed to ``--figure`` when given. Run::

    python benchmarks/image_adversarial.py --seeds 0 1 2 --steps 400
    python benchmarks/image_adversarial.py --quick     # 12 steps, one seed
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import time
from pathlib import Path
from types import ModuleType

from _common import REPO, machine_lines, set_threads, table

METRICS = ("mse", "ms_ssim", "sharpness", "ms_per_step")


def _example() -> ModuleType:
    path = REPO / "examples" / "adversarial_image_ae.py"
    spec = importlib.util.spec_from_file_location("adversarial_image_ae", path)
    assert spec is not None and spec.loader is not None  # a file that exists
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--num-train", type=int, default=4096)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--figure", type=Path, default=None, help="write the first seed's PNG")
    parser.add_argument("--quick", action="store_true", help="12 steps, seed 0, 256 images")
    args = parser.parse_args()
    if args.quick:
        args.steps, args.seeds, args.num_train = 12, [0], 256
    set_threads(args.threads)
    header = machine_lines(args.threads)
    example = _example()
    import lightning.fabric  # noqa: F401  (imported once here, not inside the first timed fit)

    held_out = example.striped_shapes(256, seed=1)

    start = time.perf_counter()
    per_seed: dict[str, list[dict[str, float]]] = {name: [] for name in example.OBJECTIVES}
    rows = []
    for index, seed in enumerate(args.seeds):
        results = example.train_all(args.steps, seed, args.batch_size, args.num_train, held_out)
        for name, (score, _) in results.items():
            per_seed[name].append(score)
            rows.append(
                [
                    name,
                    str(seed),
                    f"{score['mse']:.5f}",
                    f"{score['ms_ssim']:.4f}",
                    f"{score['sharpness']:.3f}",
                    f"{score['ms_per_step']:.0f}",
                ]
            )
        if index == 0 and args.figure is not None:
            images = {name: x_hat for name, (_, x_hat) in results.items()}
            example.plot(held_out, images, args.figure)
    seconds = time.perf_counter() - start

    summary = []
    for name, scores in per_seed.items():
        cells = [name]
        for metric in METRICS:
            values = [s[metric] for s in scores]
            spread = statistics.stdev(values) if len(values) > 1 else float("nan")
            digits = {"mse": 5, "ms_ssim": 4, "sharpness": 3, "ms_per_step": 0}[metric]
            cells.append(f"{statistics.mean(values):.{digits}f} ± {spread:.{digits}f}")
        summary.append(cells)

    print("\n".join(header))
    print(
        f"- striped shapes 3x64x64 ({args.num_train} training, 256 held-out images); conv AE, "
        f"latent 4x16x16; Adam 2e-3, {args.steps} steps of {args.batch_size}; discriminator "
        f"(PatchGAN, 16 base channels, 2 stride-2 layers, batch norm, hinge; adaptive weight "
        f"x 0.5) from step {args.steps // 2}; perceptual (weight 0.1): random-weight conv "
        f"features; seeds {args.seeds}; {seconds:.0f} s"
    )
    print()
    columns = ["objective", "seed", "held-out MSE", "MS-SSIM (3 scales)", "sharpness", "ms/step"]
    print(table(columns, rows))
    print()
    print(f"Mean ± standard deviation over {len(args.seeds)} seed(s):")
    print()
    columns = ["objective", "held-out MSE", "MS-SSIM (3 scales)", "sharpness", "ms/step"]
    print(table(columns, summary))


if __name__ == "__main__":
    main()
