"""One process of ``step_time.py``: a library's training step against the hand-written one.

Run by ``step_time.py`` with the Python of the venv that holds the library:

* ``--impl ours``: this repository (the shared venv, ``PYTHONPATH=<repo>/src``), two variants
  of one model instance: value checks on (the default) and off (``model.value_checks =
  False``, the per-model switch, set before each of its blocks);
* ``--impl reference``: the published pyautoencoder 2.1.0 (its own venv: same import name);
* ``--impl pythae``: pythae's VAE / AE / IWAE with the same networks (its own venv).

Every process also builds the hand-written PyTorch step of :mod:`_steps` (the same code in
every process) and a second, independent copy of it (``hand-written (control)``): the control's
ratio to the hand-written step is the method's own noise, 1.00 up to it. All variants run
interleaved in blocks of ``--steps`` steps, hand-written and library blocks alternating
(:func:`block_order`) and the order rotated by one each repetition, so a slow
phase of the shared machine hits them alike; the ratio of a repetition compares blocks that ran
back to back. Both clocks are kept: wall time and this process's CPU time. The process prints
one JSON line: per variant the seconds per step of every repetition on both clocks, the
library's version, the load average at start and end and the minor page faults per step.
Before any model is built the process warms the allocator (:func:`_common.warm_allocator`),
the same for every library.

It imports :mod:`_steps` and :mod:`_common` (torch and numpy only at import time) from this
folder, never this repository's package unless ``--impl ours``; ``benchmarks/`` holds no
``pyautoencoder``, so a foreign venv's ``import pyautoencoder`` finds its own.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import time
from collections.abc import Callable
from typing import Any

import torch
from _common import HIDDEN, LATENT, minor_faults, set_threads, warm_allocator
from _steps import IWAE_K, image_batches, make_hand, networks
from torch import nn

Step = Callable[[torch.Tensor], None]


class SwitchedStep:
    """One model's step under a fixed value-check switch, set before each block is timed."""

    def __init__(self, step: Step, model: Any, checks: bool) -> None:  # a BaseAutoencoder
        self.step, self.model, self.checks = step, model, checks

    def prepare(self) -> None:
        self.model.value_checks = self.checks


def ours_steps(model_name: str, first: torch.Tensor) -> dict[str, Step | SwitchedStep]:
    """This repository's step with value checks at their default (on) and switched off.

    Both variants train **one** model instance: the per-model switch is set before each block
    (outside the timed region). Two instances of the same model differ by up to 3 % per step
    in one process, depending on where their parameters and buffers land in memory (measured:
    swapping the switch between two instances moved the on/off gap from -2 % to +4 %); one
    instance leaves only the checks between the two rows.
    """
    from _steps import make_ours

    step, model = make_ours(model_name, first)
    return {
        "ours (checks on)": SwitchedStep(step, model, True),
        "ours (checks off)": SwitchedStep(step, model, False),  # model.value_checks = False
    }


def reference_steps(model_name: str, first: torch.Tensor) -> dict[str, Step | SwitchedStep]:
    """The published pyautoencoder 2.1.0: ``VAE``/``AE`` + ``compute_loss`` (its 2.x API)."""
    from pyautoencoder.vanilla import AE
    from pyautoencoder.variational import VAE

    torch.manual_seed(0)
    encoder, decoder, latent = networks(model_name)
    if model_name.startswith("vae"):
        model = VAE(encoder, decoder, latent_dim=latent)
    elif model_name.startswith("ae"):
        model = AE(nn.Sequential(encoder, nn.Linear(HIDDEN, latent)), decoder)
    else:
        raise SystemExit(f"2.1.0 has no {model_name}")
    model.build(first)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step(x: torch.Tensor) -> None:
        output = model(x)
        loss = model.compute_loss(x, output, likelihood="bernoulli").objective
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return {"reference 2.1.0": step}


def pythae_steps(model_name: str, first: torch.Tensor) -> dict[str, Step | SwitchedStep]:
    """pythae's VAE / AE / IWAE with the same networks; ``model({"data": x}).loss``.

    pythae's decoders return probabilities and its ``"bce"`` loss takes them, so the decoder
    ends in a sigmoid (slightly different arithmetic from the logits form of the others).
    """
    from pythae.models import AE, IWAE, VAE, AEConfig, IWAEConfig, VAEConfig
    from pythae.models.base.base_utils import ModelOutput
    from pythae.models.nn import BaseDecoder, BaseEncoder

    torch.manual_seed(0)
    image = model_name.endswith("conv")
    latent = 16 if image else LATENT
    shape = (1, 28, 28) if image else (784,)
    features = 64 * 7 * 7 if image else HIDDEN

    class Encoder(BaseEncoder):
        def __init__(self, variational: bool) -> None:
            super().__init__()
            self.body = networks(model_name)[0]
            self.mu = nn.Linear(features, latent)
            self.log_var = nn.Linear(features, latent) if variational else None

        def forward(self, x: torch.Tensor) -> ModelOutput:
            h = self.body(x)
            if self.log_var is None:
                return ModelOutput(embedding=self.mu(h))
            return ModelOutput(embedding=self.mu(h), log_covariance=self.log_var(h))

    class Decoder(BaseDecoder):
        def __init__(self) -> None:
            super().__init__()
            self.body = networks(model_name)[1]

        def forward(self, z: torch.Tensor) -> ModelOutput:
            return ModelOutput(reconstruction=torch.sigmoid(self.body(z)))

    family = model_name.split("-")[0]
    model: nn.Module
    if family == "vae":
        config = VAEConfig(input_dim=shape, latent_dim=latent, reconstruction_loss="bce")
        model = VAE(config, encoder=Encoder(True), decoder=Decoder())
    elif family == "iwae":
        iwae = IWAEConfig(
            input_dim=shape, latent_dim=latent, reconstruction_loss="bce", number_samples=IWAE_K
        )
        model = IWAE(iwae, encoder=Encoder(True), decoder=Decoder())
    else:
        model = AE(
            AEConfig(input_dim=shape, latent_dim=latent), encoder=Encoder(False), decoder=Decoder()
        )
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step(x: torch.Tensor) -> None:
        loss = model({"data": x}).loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return {"pythae": step}


def block_order(names: list[str]) -> list[str]:
    """The order blocks run in: hand-written variants alternate with the library's.

    ``[hand-written, ours (checks on), hand-written (control), ours (checks off)]``: the two
    variants of one model instance are never back to back. The first step of a block after
    another model's block pays for cold caches (about 0.6 ms for the VAE, a tenth of a step);
    a block that follows its own instance's does not. Back to back, ``checks off`` followed
    ``checks on`` in three rotations of four, so it ran warm where ``checks on`` ran cold, a
    bias of about 2 % in ``checks off``'s favour with 10-step blocks (measured, session 23).
    Alternated, each of the two follows the other in one rotation of four, alike.
    """
    hands = [name for name in names if name.startswith("hand-written")]
    library = [name for name in names if not name.startswith("hand-written")]
    order: list[str] = []
    for i in range(max(len(hands), len(library))):
        order += hands[i : i + 1] + library[i : i + 1]
    return order


Clocks = dict[str, list[float]]


def interleaved_clocks(
    steps: dict[str, Step | SwitchedStep], batches: list[torch.Tensor], block: int, repeats: int
) -> tuple[Clocks, Clocks, Clocks]:
    """Per-step wall seconds, process-CPU seconds and minor page faults of every variant.

    One value per repetition and clock.

    Each variant first runs ``block`` warm-up steps; then every repetition runs a block of
    ``block`` steps of each variant in turn (:func:`block_order`), the order rotated by one
    per repetition. The CPU
    clock (``time.process_time``: this process's user + system time, all threads) leaves out
    the time the process waited for a core, which dominates the wall clock on a loaded
    machine; the wall clock is what a user waits for. The page faults (``getrusage``) show
    whether the allocator was warm (:func:`_common.warm_allocator`): about 0 per step when it
    is, about a thousand when every large tensor is a fresh ``mmap``.
    """
    names = block_order(list(steps))
    counters = dict.fromkeys(names, 0)

    def run(name: str, n: int) -> tuple[float, float, float]:
        step, i = steps[name], counters[name]
        if isinstance(step, SwitchedStep):
            step.prepare()
            step = step.step
        faults = minor_faults()
        wall, cpu = time.perf_counter(), time.process_time()
        for k in range(n):
            step(batches[(i + k) % len(batches)])
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        counters[name] = i + n
        return wall / n, cpu / n, (minor_faults() - faults) / n

    for name in names:
        run(name, block)
    clocks: tuple[Clocks, Clocks, Clocks] = ({}, {}, {})
    for clock in clocks:
        clock.update({name: [] for name in steps})  # the caller's order
    for rep in range(repeats):
        shift = rep % len(names)
        for name in names[shift:] + names[:shift]:
            for clock, value in zip(clocks, run(name, block), strict=True):
                clock[name].append(value)
    return clocks


_IMPLS = {"ours": ours_steps, "reference": reference_steps, "pythae": pythae_steps}
_PACKAGES = {"ours": "pyautoencoder", "reference": "pyautoencoder", "pythae": "pythae"}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--impl", choices=sorted(_IMPLS), required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--batches", required=True, help="a .pt file with a list of batches")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    set_threads(args.threads)
    warm_allocator()  # before any model is built: every variant, every library, alike
    load_start = os.getloadavg()[0]
    batches = image_batches(args.model, torch.load(args.batches, weights_only=True))
    steps: dict[str, Step | SwitchedStep] = {}
    steps["hand-written"] = make_hand(args.model, batches[0])[0]
    steps["hand-written (control)"] = make_hand(args.model, batches[0])[0]
    steps.update(_IMPLS[args.impl](args.model, batches[0]))

    wall, cpu, faults = interleaved_clocks(steps, batches, args.steps, args.repeats)
    if args.impl == "ours":
        import pyautoencoder

        version = f"{pyautoencoder.__version__} ({os.path.dirname(pyautoencoder.__file__)})"
    else:
        version = importlib.metadata.version(_PACKAGES[args.impl])
    result = {
        "impl": args.impl,
        "version": version,
        "torch": torch.__version__,
        "load": [load_start, os.getloadavg()[0]],
        "times": wall,
        "cpu_times": cpu,
        "page_faults": faults,
    }
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
