"""bf16 autocast vs fp32 training of the ResNet VAE at 64x64 on the CPU, with channels_last.

Four copies of ``create_model("vae", (1, 64, 64), 32, net="resnet", channels=(16, 32, 64))``
(same seed, same batches of ``pyautoencoder.data.shapes()``, Adam 1e-3) train side by side
(``--latent maps``: the VAE with latent maps ``[4, h, w]``, ``latent_dim`` left out):

* ``fp32``: plain float32;
* ``bf16``: forward and loss under ``torch.autocast("cpu", dtype=torch.bfloat16)``, backward and
  the Adam update in float32 (the weights stay float32): what ``fit(..., precision="bf16-mixed")``
  does through Lightning Fabric;
* ``fp32 + channels_last`` and ``bf16 + channels_last``: the same with the model's weights and
  the input batches in ``torch.channels_last`` memory format.

The variants run in interleaved blocks of ``--block`` steps, the order rotated by one each
round, so a slow phase of a shared machine hits all of them alike; ms/step is the median over
rounds of a block's time per step, and a variant's ratio the median over rounds of its block
time over the fp32 block of the same round. ``finite`` says whether every step's loss and every
final weight is finite; the final loss is the mean training loss of the last block and the
held-out loss the negative ELBO (per image, nats) of 256 held-out images, evaluated in fp32.

A last row trains a fresh copy through ``fit(precision="bf16-mixed")`` for the same number of
steps (one run, its wall time per step, setup included) and checks that Fabric really
autocasts: a forward hook records the dtype of the decoder's last convolution's output during
training. Run::

    python benchmarks/bf16_training.py              # 1,000 steps per variant, blocks of 50
    python benchmarks/bf16_training.py --quick      # 40 steps, blocks of 10
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import torch
from _common import machine_lines, set_threads, table
from torch import nn

from pyautoencoder.data import shapes
from pyautoencoder.nets import create_model
from pyautoencoder.training import NonFiniteLossError, fit

LATENT = 32
VARIANTS = ("fp32", "bf16", "fp32 + channels_last", "bf16 + channels_last")


@dataclass
class _Run:
    """One variant: its model, optimizer, settings and what it measured."""

    name: str
    model: nn.Module
    optimizer: torch.optim.Optimizer
    bf16: bool
    channels_last: bool
    block_seconds: list[float] = field(default_factory=list)
    all_finite: torch.Tensor = field(default_factory=lambda: torch.ones((), dtype=torch.bool))
    last_losses: list[torch.Tensor] = field(default_factory=list)


def _model(channels: tuple[int, ...], seed: int, latent: str) -> nn.Module:
    """The ResNet VAE: a flat ``latent_dim = 32`` code, or (``"maps"``) latent maps
    ``[4, h, w]`` (the KL-f autoencoder's spatial posterior; needs a library with it)."""
    torch.manual_seed(seed)
    latent_dim = LATENT if latent == "flat" else None
    return create_model(
        "vae", (1, 64, 64), latent_dim, net="resnet", channels=channels, latent_channels=4
    )


def _make_run(name: str, channels: tuple[int, ...], seed: int, lr: float, latent: str) -> _Run:
    model = _model(channels, seed, latent)
    channels_last = "channels_last" in name
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    return _Run(name, model, optimizer, name.startswith("bf16"), channels_last)


def _autocast(enabled: bool) -> contextlib.AbstractContextManager[None]:
    return torch.autocast("cpu", dtype=torch.bfloat16, enabled=enabled)


def _block(run: _Run, batches: torch.Tensor) -> None:
    """Train ``run`` on ``batches`` ``[n, B, 1, 64, 64]``; store the block's wall time."""
    losses = []
    start = time.perf_counter()
    for x in batches:
        if run.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with _autocast(run.bf16):
            output = run.model(x)
            loss = run.model.compute_loss(x, output).objective  # type: ignore[operator]
        run.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        run.optimizer.step()
        losses.append(loss.detach().float())
    run.block_seconds.append(time.perf_counter() - start)
    stacked = torch.stack(losses)
    run.all_finite &= torch.isfinite(stacked).all()
    run.last_losses = losses


def _held_out_loss(model: nn.Module, images: torch.Tensor) -> float:
    model.eval()
    torch.manual_seed(0)
    with torch.no_grad():
        x = images.contiguous()
        loss = model.compute_loss(x, model(x)).objective  # type: ignore[operator]
    model.train()
    return float(loss)


def _weights_finite(model: nn.Module) -> bool:
    return all(bool(torch.isfinite(p).all()) for p in model.parameters())


@contextlib.contextmanager
def _output_dtypes(module: nn.Module, seen: set[torch.dtype]) -> Iterator[None]:
    """Record the dtype of ``module``'s outputs while training (not in eval mode)."""

    def hook(mod: nn.Module, args: object, output: torch.Tensor) -> None:
        if mod.training:
            seen.add(output.dtype)

    handle = module.register_forward_hook(hook)
    try:
        yield
    finally:
        handle.remove()


def _dtype_names(seen: set[torch.dtype]) -> str:
    return ", ".join(sorted(str(d).removeprefix("torch.") for d in seen)) or "none seen"


def _last_conv(model: nn.Module) -> nn.Module:
    convs = [m for m in model.decoder.modules() if isinstance(m, nn.Conv2d)]  # type: ignore[union-attr]
    return convs[-1]


def _fit_row(
    channels: tuple[int, ...],
    seed: int,
    lr: float,
    train: torch.Tensor,
    held_out: torch.Tensor,
    steps: int,
    batch_size: int,
    log_every: int,
    latent: str,
) -> tuple[list[str], str]:
    model = _model(channels, seed, latent)
    seen: set[torch.dtype] = set()
    try:
        with _output_dtypes(_last_conv(model), seen):
            result = fit(
                model,
                train,
                max_steps=steps,
                epochs=None,
                batch_size=batch_size,
                lr=lr,
                precision="bf16-mixed",
                log_every_n_steps=log_every,
                progress=False,
                loggers=False,
                seed=seed,
            )
    except NonFiniteLossError as error:
        return ["fit(precision='bf16-mixed')", "-", "-", f"NO ({error})", "-", "-"], _dtype_names(
            seen
        )
    losses = [e["loss"] for e in result.history if e["event"] == "train"]
    finite = all(torch.isfinite(torch.tensor(losses))) and _weights_finite(result.model)
    row = [
        "fit(precision='bf16-mixed')",
        f"{1e3 * result.wall_time / result.steps:.1f}",
        "-",
        "yes" if finite else "NO",
        f"{losses[-1]:.2f}",
        f"{_held_out_loss(result.model, held_out):.2f}",
    ]
    return row, _dtype_names(seen)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1000, help="steps per variant")
    parser.add_argument("--block", type=int, default=50, help="steps per interleaved block")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--channels", default="16,32,64", help="ResNet stage widths")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument(
        "--latent", choices=("flat", "maps"), default="flat", help="flat code or latent maps"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--no-fit", action="store_true", help="skip the fit() row")
    parser.add_argument("--quick", action="store_true", help="40 steps in blocks of 10")
    args = parser.parse_args()
    steps, block = (40, 10) if args.quick else (args.steps, args.block)
    if steps % block:
        parser.error(f"--steps must be a multiple of --block, got {steps} and {block}")
    channels = tuple(int(c) for c in args.channels.split(","))
    set_threads(args.threads)
    header = machine_lines(args.threads)

    data = shapes()
    train, held_out = data.train_x, data.test_x[:256]
    order = torch.randint(
        0, len(train), (steps, args.batch_size), generator=torch.Generator().manual_seed(0)
    )
    runs = [_make_run(name, channels, args.seed, args.lr, args.latent) for name in VARIANTS]
    start = time.perf_counter()
    for round_index in range(steps // block):
        batches = train[order[round_index * block : (round_index + 1) * block]]
        shift = round_index % len(runs)
        for run in runs[shift:] + runs[:shift]:
            _block(run, batches)
    loop_seconds = time.perf_counter() - start

    rows = []
    reference = runs[0].block_seconds
    for run in runs:
        ratios = [t / r for t, r in zip(run.block_seconds, reference)]
        finite = bool(run.all_finite) and _weights_finite(run.model)
        rows.append(
            [
                f"hand loop, {run.name}",
                f"{1e3 * statistics.median(run.block_seconds) / block:.1f}",
                f"{statistics.median(ratios):.2f}",
                "yes" if finite else "NO",
                f"{float(torch.stack(run.last_losses).mean()):.2f}",
                f"{_held_out_loss(run.model, held_out):.2f}",
            ]
        )
    dtypes = "not run"
    if not args.no_fit:
        fit_row, dtypes = _fit_row(
            channels,
            args.seed,
            args.lr,
            train,
            held_out,
            steps,
            args.batch_size,
            block,
            args.latent,
        )
        rows.append(fit_row)

    print("\n".join(header))
    latent = f"latent {LATENT}" if args.latent == "flat" else "latent maps 4 x h x w"
    print(
        f"- ResNet VAE {channels}, {latent}, shapes 1x64x64, batch {args.batch_size}, "
        f"Adam {args.lr:g}; {steps} steps per variant in blocks of {block} "
        f"(interleaved, {loop_seconds:.0f} s in all)"
    )
    print(f"- dtype of the decoder's last conv output inside fit(precision='bf16-mixed'): {dtypes}")
    print()
    columns = ["run", "ms/step", "ratio to fp32", "finite", "final loss", "held-out loss"]
    print(table(columns, rows))


if __name__ == "__main__":
    main()
