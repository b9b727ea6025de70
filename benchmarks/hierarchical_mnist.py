"""Hierarchical VAEs against one-layer VAEs on binarized MNIST-10k: held-out IS log p(x).

Usage::

    python benchmarks/hierarchical_mnist.py [--epochs 10,30,50] [--k 1000] [--eval-size 500]
        [--models vae,ladder,...] [--seed 0] [--binarize dynamic|static] [--warmup 0]
        [--batch-norm] [--weight-decay 0] [--objective elbo|iw:K] [--hidden-dim 128]
        [--decoder-dim 32] [--shift 0]

Data: MNIST-10k (see ``benchmarks/_common.py``): 8,000 training images, 2,000 held-out images
binarized once (``load_mnist_10k``'s held-out half, whatever ``--binarize`` says). Training
images are binarized dynamically by default, the protocol of Burda et al. (2016) and Sønderby
et al. (2016): every batch is re-sampled ``Bernoulli(intensity)`` when it is drawn, from a
generator seeded by ``--seed``; ``--binarize static`` trains on the images binarized once (the
protocol before session 22, on which every hierarchical model overfits the 8,000 images within
30 epochs). Held-out images are scored with the importance-sampled estimate
``log_likelihood_estimate`` (``K`` samples of each model's own posterior; for the hierarchical
models the full top-down posterior).

Every model has the same encoder body (784-512-ReLU-256-ReLU features), the same decoder
(32-256-ReLU-512-ReLU-784 Bernoulli logits: the VAE's ``z``, the Ladder VAE's bottom group
``z_1``, a linear map of ``HierarchicalVAE``'s final top-down state), Adam (lr 1e-3), batch
100, the same KL warm-up (``--warmup`` epochs, linear from 0; none by default), the same
regularisers and objective (``--batch-norm``: a BatchNorm1d before every hidden ReLU of the
shared encoder and decoder, Sønderby et al. 2016; ``--weight-decay``: AdamW; ``--objective
iw:K``: every model but the IWAE K=50 trains on the K-sample importance-weighted bound;
``--shift S``: every training image is translated by a random integer offset in ``[-S, S]``
pixels on both axes before it is binarized, drawn from a generator seeded by ``--seed``), the
same seed (``--seed``: initial weights and training noise; the batch order is fixed) and the
same epochs: ``--epochs 10,30,50`` trains each model once for 50 epochs and scores it after
10, 30 and 50 (nothing depends on the total, so that is the score of a 10-, 30- and 50-epoch
run). The hierarchical models (``HierarchicalVAE`` with 2 x 16, 4 x 8 and 8 x 4 groups) add
their own small top-down networks (``--hidden-dim``, 128 by default; ``--decoder-dim``: how many
features of the final state their decoder reads, 32 by default), so the table prints every
model's parameter count, and the held-out KL of every latent group; "VAE 640-320 (z 32)" is the
VAE with wider shared networks (784-640-320 / 32-320-640-784, 1.45 M parameters, as many as the
8 x 4 model), the parameter-matched one-layer baseline. One thread.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (
    DEFAULT_DATA,
    load_mnist_10k,
    load_mnist_10k_dynamic,
    machine_lines,
    set_threads,
    table,
)

import pyautoencoder
from pyautoencoder.evaluation import log_likelihood_estimate
from pyautoencoder.objectives import ELBO, ImportanceWeightedBound, Objective
from pyautoencoder.variational import IWAE, VAE, HierarchicalVAE, LadderVAE

BATCH = 100


def _activation(width: int, batch_norm: bool) -> list[nn.Module]:
    return [nn.BatchNorm1d(width), nn.ReLU()] if batch_norm else [nn.ReLU()]


def encoder(batch_norm: bool = False, widths: tuple[int, int] = (512, 256)) -> nn.Module:
    return nn.Sequential(
        nn.Linear(784, widths[0]),
        *_activation(widths[0], batch_norm),
        nn.Linear(widths[0], widths[1]),
        *_activation(widths[1], batch_norm),
    )


def decoder(
    latent: int = 32, batch_norm: bool = False, widths: tuple[int, int] = (256, 512)
) -> nn.Module:
    return nn.Sequential(
        nn.Linear(latent, widths[0]),
        *_activation(widths[0], batch_norm),
        nn.Linear(widths[0], widths[1]),
        *_activation(widths[1], batch_norm),
        nn.Linear(widths[1], 784),
    )


def models(
    batch_norm: bool = False,
    objective: Callable[[], Objective] | None = None,
    hidden_dim: int = 128,
    decoder_dim: int = 32,
) -> dict[str, Callable[[], nn.Module]]:
    """The compared models. ``batch_norm``: a BatchNorm1d before every hidden ReLU of the
    shared encoder and decoder (Sønderby et al. 2016); ``objective``: a factory of the training
    objective of every model but the IWAE (which keeps its own K = 50 bound); ``None``: the ELBO;
    ``hidden_dim``: width of the hierarchical models' top-down (and Ladder bottom-up) networks;
    ``decoder_dim``: how many features ``HierarchicalVAE``'s decoder reads (a linear map of its
    final top-down state; the decoder's input width, 32 like every other model's by default).
    """

    def kw() -> dict[str, Any]:
        extra = {} if objective is None else {"objective": objective()}
        return {"likelihood": "bernoulli", **extra}

    def enc() -> nn.Module:
        return encoder(batch_norm)

    def dec(latent: int = 32) -> nn.Module:
        return decoder(latent, batch_norm)

    return {
        "VAE (z 32)": lambda: VAE(enc(), dec(), 32, **kw()),
        "VAE (z 16)": lambda: VAE(enc(), dec(16), 16, **kw()),
        # as many parameters as the 8 x 4 HierarchicalVAE (1.45 M): wider shared networks
        "VAE 640-320 (z 32)": lambda: VAE(
            encoder(batch_norm, (640, 320)), decoder(32, batch_norm, (320, 640)), 32, **kw()
        ),
        "IWAE K=50 (z 32)": lambda: IWAE(enc(), dec(), 32, num_samples=50, likelihood="bernoulli"),
        "LadderVAE (32 + 16)": lambda: LadderVAE(
            enc(), dec(), [32, 16], hidden_dim=hidden_dim, **kw()
        ),
        "HierarchicalVAE (2 x 16)": lambda: HierarchicalVAE(
            enc(),
            dec(decoder_dim),
            [16, 16],
            decoder_dim=decoder_dim,
            hidden_dim=hidden_dim,
            **kw(),
        ),
        "HierarchicalVAE (4 x 8)": lambda: HierarchicalVAE(
            enc(), dec(decoder_dim), [8] * 4, decoder_dim=decoder_dim, hidden_dim=hidden_dim, **kw()
        ),
        "HierarchicalVAE (8 x 4)": lambda: HierarchicalVAE(
            enc(), dec(decoder_dim), [4] * 8, decoder_dim=decoder_dim, hidden_dim=hidden_dim, **kw()
        ),
    }


def shifted(images: torch.Tensor, shift: int, generator: torch.Generator) -> torch.Tensor:
    """``images [B, 784]`` (28 x 28), each translated by its own random integer offset in
    ``[-shift, shift]`` pixels on both axes, zeros shifted in (``shift = 0``: as they are)."""
    if shift == 0:
        return images
    rows = images.shape[0]
    padded = nn.functional.pad(images.view(rows, 28, 28), (shift,) * 4)  # [B, 28+2s, 28+2s]
    offsets = torch.randint(0, 2 * shift + 1, (rows, 2), generator=generator)
    grid = torch.arange(28)
    down = (offsets[:, :1] + grid)[:, :, None]  # [B, 28, 1]
    across = (offsets[:, 1:] + grid)[:, None, :]  # [B, 1, 28]
    return padded[torch.arange(rows)[:, None, None], down, across].reshape(rows, 784)


def train(
    model: nn.Module,
    x: torch.Tensor,
    epochs: list[int],
    binarize: torch.Generator | None,
    warmup_epochs: int = 0,
    weight_decay: float = 0.0,
    shift: int = 0,
    shift_seed: int = 0,
) -> Iterator[tuple[int, float]]:
    """Train ``model`` to ``max(epochs)``, yielding ``(epoch, seconds)`` after each listed one.

    ``binarize``: re-sample every batch ``Bernoulli(x)`` from this generator (``x`` holds
    intensities), or ``None`` to train on ``x`` as it is. ``warmup_epochs``: the KL weight rises
    linearly from 0 to 1 over this many epochs (a fixed number of steps, not a fraction of the
    run, so a score after 30 epochs of a 50-epoch run is the score of a 30-epoch run).
    ``weight_decay``: AdamW's decoupled weight decay (Loshchilov & Hutter 2019); 0 is Adam.
    ``shift``: every training image is translated by a random integer offset in ``[-shift,
    shift]`` pixels on both axes (drawn from a generator seeded by ``shift_seed``) before it
    is binarized; 0 (default): no augmentation, and no draws.
    """
    model.build(x[:BATCH].round())  # type: ignore[operator]
    optimizer = (
        torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=weight_decay)
        if weight_decay
        else torch.optim.Adam(model.parameters(), lr=1e-3)
    )
    generator = torch.Generator().manual_seed(1)
    offsets = torch.Generator().manual_seed(2000 + shift_seed)
    warmup_steps = warmup_epochs * -(-x.shape[0] // BATCH)
    step = 0
    seconds = 0.0
    with pyautoencoder.value_checks(False):
        for epoch in range(1, max(epochs) + 1):
            model.train()
            start = time.perf_counter()
            order = torch.randperm(x.shape[0], generator=generator)
            for i in range(0, x.shape[0], BATCH):
                batch = shifted(x[order[i : i + BATCH]], shift, offsets)
                if binarize is not None:
                    batch = torch.bernoulli(batch, generator=binarize)
                beta = min(1.0, (step + 1) / warmup_steps) if warmup_steps else 1.0
                output = model(batch)  # type: ignore[operator]
                loss = model.compute_loss(batch, output, beta=beta).objective  # type: ignore[operator]
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                step += 1
            seconds += time.perf_counter() - start
            if epoch in epochs:
                yield epoch, seconds


def held_out_kl(model: nn.Module, x: torch.Tensor) -> str:
    """Mean held-out KL (nats) of every latent group, ``l = 1`` (next to ``x``) first."""
    was_training = model.training
    model.eval()  # batch norm (--batch-norm) reads its running statistics
    with torch.no_grad(), torch.random.fork_rng(devices=[]):  # leaves the training noise as is
        torch.manual_seed(0)
        output = model(x[:BATCH], S=1)  # type: ignore[operator]
        kl = model.kl_per_dim(output).mean(dim=0)  # type: ignore[operator]
    model.train(was_training)
    slices = getattr(model, "group_slices", [slice(None)])
    return " / ".join(f"{float(kl[s].sum()):.1f}" for s in slices)


def epoch_list(text: str) -> list[int]:
    """``"10,30,50"`` -> ``[10, 30, 50]`` (positive, ascending)."""
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated epochs, got {text!r}") from None
    if not values or min(values) < 1 or values != sorted(set(values)):
        raise argparse.ArgumentTypeError(f"expected ascending positive epochs, got {text!r}")
    return values


def objective_spec(text: str) -> int:
    """``"elbo"`` -> 0, ``"iw:K"`` -> ``K`` (the importance-weighted bound's samples)."""
    if text.strip().lower() == "elbo":
        return 0
    kind, _, count = text.partition(":")
    if kind.strip().lower() == "iw" and count.strip().isdigit() and int(count) >= 1:
        return int(count)
    raise argparse.ArgumentTypeError(f"expected 'elbo' or 'iw:K' with K >= 1, got {text!r}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--epochs",
        type=epoch_list,
        default=[10],
        help="comma-separated epoch counts: each model trains once to the largest and is "
        "scored after each (e.g. 10,30,50)",
    )
    parser.add_argument("--k", type=int, default=1000, help="importance samples per image")
    parser.add_argument("--eval-size", type=int, default=500, help="held-out images scored")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument(
        "--models", default="", help="comma-separated substrings of the model names to run"
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seed of the initial weights and training noise (sampling and binarization)",
    )
    parser.add_argument(
        "--binarize",
        choices=["dynamic", "static"],
        default="dynamic",
        help="training images: re-sampled Bernoulli(intensity) per batch, or binarized once",
    )
    parser.add_argument(
        "--warmup", type=int, default=0, help="epochs of linear KL warm-up (every model)"
    )
    parser.add_argument(
        "--objective",
        type=objective_spec,
        default=0,
        metavar="elbo|iw:K",
        help="training objective of every model but the IWAE K=50: the ELBO (default) or the "
        "K-sample importance-weighted bound",
    )
    parser.add_argument(
        "--weight-decay",
        type=float,
        default=0.0,
        help="AdamW weight decay (every model); 0 (default): Adam",
    )
    parser.add_argument(
        "--hidden-dim",
        type=int,
        default=128,
        help="width of the hierarchical models' top-down networks (default 128)",
    )
    parser.add_argument(
        "--decoder-dim",
        type=int,
        default=32,
        help="features of the final top-down state that HierarchicalVAE's decoder reads "
        "(its decoder's input width; default 32, as every other model's)",
    )
    parser.add_argument(
        "--batch-norm",
        action="store_true",
        help="BatchNorm1d before every hidden ReLU of the shared encoder and decoder",
    )
    parser.add_argument(
        "--shift",
        type=int,
        default=0,
        help="translate every training image by a random offset in [-S, S] pixels on both "
        "axes (every model; default 0: no augmentation)",
    )
    args = parser.parse_args()
    if args.shift < 0 or args.shift > 27:
        parser.error(f"--shift must be in [0, 27] pixels, got {args.shift}")
    if args.decoder_dim < 1:
        parser.error(f"--decoder-dim must be >= 1, got {args.decoder_dim}")
    if args.hidden_dim < 1:
        parser.error(f"--hidden-dim must be >= 1, got {args.hidden_dim}")
    if args.weight_decay < 0:
        parser.error(f"--weight-decay must be >= 0, got {args.weight_decay}")
    iw_samples = args.objective

    def objective() -> Objective:
        return ImportanceWeightedBound(iw_samples) if iw_samples else ELBO()

    set_threads(1)
    machine = machine_lines(1)  # the load at start, before this script's own work
    if args.binarize == "dynamic":
        train_x, test_x = load_mnist_10k_dynamic(args.data)
    else:
        train_x, test_x = load_mnist_10k(args.data)
    held_out = test_x[: args.eval_size]
    wanted = [w.strip().lower() for w in args.models.split(",") if w.strip()]
    rows: dict[int, list[list[str]]] = {epoch: [] for epoch in args.epochs}
    baseline: dict[int, torch.Tensor] = {}
    for name, make in models(args.batch_norm, objective, args.hidden_dim, args.decoder_dim).items():
        if wanted and not any(w in name.lower() for w in wanted):
            continue
        torch.manual_seed(args.seed)
        model = make()
        binarize = None
        if args.binarize == "dynamic":
            binarize = torch.Generator().manual_seed(1000 + args.seed)
        trained = train(
            model,
            train_x,
            args.epochs,
            binarize,
            args.warmup,
            args.weight_decay,
            args.shift,
            args.seed,
        )
        for epoch, seconds in trained:
            estimate = log_likelihood_estimate(model, held_out, args.k, chunk_size=100, seed=0)
            params = sum(p.numel() for p in model.parameters())
            # the first model run (the VAE with z 32 unless filtered out) is the baseline
            first = baseline.setdefault(epoch, estimate.values)
            gain = estimate.values - first  # paired over the same held-out images
            gain_se = float(gain.std() / len(gain) ** 0.5) if len(gain) > 1 else float("nan")
            rows[epoch].append(
                [
                    name,
                    f"{params / 1e6:.2f} M",
                    f"{seconds:.0f} s",
                    f"{estimate.mean:.2f} +- {estimate.standard_error:.2f}",
                    f"{float(gain.mean()):+.2f} +- {gain_se:.2f}",
                    held_out_kl(model, held_out),
                ]
            )
            print(f"{name}, {epoch} epochs: log p(x) >= {estimate.mean:.2f}", flush=True)
    print()
    print("\n".join(machine))
    warmup = f"{args.warmup} epochs of linear KL warm-up" if args.warmup else "no KL warm-up"
    trained_with = (
        f"the {iw_samples}-sample importance-weighted bound" if iw_samples else "the ELBO"
    )
    optimizer = f"AdamW (weight decay {args.weight_decay:g})" if args.weight_decay else "Adam"
    print(
        f"- trained with {trained_with} (every model but the IWAE K=50), {optimizer}, "
        f"batch norm {'on' if args.batch_norm else 'off'}, top-down width {args.hidden_dim}, "
        f"HierarchicalVAE decoder input {args.decoder_dim}, "
        + (f"random shifts of up to {args.shift} px" if args.shift else "no shifts")
    )
    print(
        f"- MNIST-10k, training images binarized {args.binarize}ally, {warmup}, seed "
        f"{args.seed}, IS log p(x) with K = {args.k} on the first {args.eval_size} held-out "
        "images (binarized once; nats, higher is better; +- standard error over images); "
        "'vs first' is the paired difference to the first row on the same images; KL per "
        "group on the first 100 held-out images, z_1 first"
    )
    header = ["model", "parameters", "training", "held-out log p(x)", "vs first", "KL per group"]
    for epoch in args.epochs:
        print(f"\n{epoch} epochs\n")
        print(table(header, rows[epoch]))


if __name__ == "__main__":
    main()
