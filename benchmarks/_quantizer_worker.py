"""One quantizer of ``quantizers_mnist.py`` in its own process: MNIST-10k quality, step time.

Run by ``quantizers_mnist.py`` (never by hand) as ``python _quantizer_worker.py LIBRARY NAME
DATA EPOCHS REPEATS``, with ``LIBRARY`` = ``ours`` (pyautoencoder, this checkout) or ``peer``
(``vector-quantize-pytorch`` in its own virtual environment). Needs only torch (and the
library): MNIST is read with gzip, no numpy. Prints one JSON line:

* quality: the same MLP encoder/decoder (784-256-256 -> 4 positions x 4 channels -> back),
  Bernoulli likelihood, Adam 1e-3, batch 100, ``EPOCHS`` epochs on the 8,000 training images;
  held-out MSE per pixel and the code usage over the 2,000 held-out images (8,000 positions);
* speed: one quantizer training step (forward, loss, backward) on ``z [32, 64, 8, 8]``
  (2,048 vectors of 64 channels, 1,024 codes), interleaved ``REPEATS`` times with a
  hand-written straight-through VQ step of the same shape in plain PyTorch. The ratio
  quantizer / hand-written cancels the speed of the process's core at that moment.
"""

from __future__ import annotations

import gzip
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

BATCH = 100
HIDDEN = 256
POSITIONS, CHANNELS = 4, 4
CODES = 1024
SPEED_SHAPE = (32, 64, 8, 8)


# ---------------------------------------------------------------------------- quantizers
def ours(name: str, dim: int) -> Callable[[torch.Tensor], tuple[torch.Tensor, Any, Any]]:
    """``z [B, D, S] -> (z_q, indices, loss)`` with a quantizer of this checkout."""
    from pyautoencoder.quantized import (
        FSQ,
        LFQ,
        GumbelQuantizer,
        ResidualQuantizer,
        VectorQuantizer,
    )

    kmeans = {"kmeans_init": True, "dead_code_steps": 20}
    quantizer: nn.Module = {
        "vq-ema": lambda: VectorQuantizer(CODES, dim, dead_code_steps=100),
        "vq-kmeans": lambda: VectorQuantizer(CODES, dim, **kmeans),
        "vq-rotation": lambda: VectorQuantizer(CODES, dim, rotation_trick=True, **kmeans),
        "fsq": lambda: FSQ([8, 5, 5, 5], dim=dim),
        "lfq": lambda: LFQ(10, dim=dim),
        "rvq": lambda: ResidualQuantizer(VectorQuantizer(CODES, dim, **kmeans), 2),
        "gumbel": lambda: GumbelQuantizer(CODES, dim, anneal_rate=1e-3, kl_weight=1e-3),
    }[name]()

    def run(z: torch.Tensor) -> tuple[torch.Tensor, Any, Any]:
        out = quantizer(z)
        return out.z_q, out.indices, out.loss

    run.module = quantizer  # type: ignore[attr-defined]
    return run


def peer(name: str, dim: int) -> Callable[[torch.Tensor], tuple[torch.Tensor, Any, Any]]:
    """The same with ``vector-quantize-pytorch`` (channel-last ``[B, S, D]`` inside)."""
    import vector_quantize_pytorch as vqp

    kmeans = {"kmeans_init": True, "threshold_ema_dead_code": 2}
    common = {"decay": 0.99, "commitment_weight": 0.25}
    quantizer: nn.Module = {
        "vq-kmeans": lambda: vqp.VectorQuantize(dim, CODES, **common, **kmeans),
        "fsq": lambda: vqp.FSQ([8, 5, 5, 5], dim=dim),
        "rvq": lambda: vqp.ResidualVQ(
            dim=dim, num_quantizers=2, codebook_size=CODES, **common, **kmeans
        ),
    }[name]()

    def run(z: torch.Tensor) -> tuple[torch.Tensor, Any, Any]:
        sequence = z.flatten(2).transpose(1, 2)  # [B, D, *S] -> [B, N, D]
        out = quantizer(sequence)
        z_q, indices = out[0], out[1]
        loss = out[2].sum() if len(out) > 2 else z_q.new_zeros(())
        return z_q.transpose(1, 2).reshape(z.shape), indices, loss

    run.module = quantizer  # type: ignore[attr-defined]
    return run


# ---------------------------------------------------------------------------- MNIST quality
def load_mnist(root: Path) -> torch.Tensor:
    with gzip.open(root / "t10k-images-idx3-ubyte.gz", "rb") as f:
        raw = bytearray(f.read())[16:]
    return torch.frombuffer(raw, dtype=torch.uint8).reshape(-1, 784).float() / 255.0


def networks() -> tuple[nn.Module, nn.Module]:
    latent = POSITIONS * CHANNELS
    encoder = nn.Sequential(
        nn.Linear(784, HIDDEN),
        nn.ReLU(),
        nn.Linear(HIDDEN, HIDDEN),
        nn.ReLU(),
        nn.Linear(HIDDEN, latent),
        nn.Unflatten(1, (CHANNELS, POSITIONS)),  # [B, D, S]
        nn.BatchNorm1d(CHANNELS),  # see the module docstring of quantizers_mnist.py
    )
    decoder = nn.Sequential(
        nn.Flatten(),
        nn.Linear(latent, HIDDEN),
        nn.ReLU(),
        nn.Linear(HIDDEN, HIDDEN),
        nn.ReLU(),
        nn.Linear(HIDDEN, 784),
    )
    return encoder, decoder


def usage(indices: torch.Tensor, codebooks: int, num_codes: int) -> tuple[float, float]:
    """Codes used (fraction) and perplexity over all held-out indices, mean over codebooks."""
    flat = indices.reshape(-1, codebooks) if codebooks > 1 else indices.reshape(-1, 1)
    used, perplexities = [], []
    for q in range(flat.shape[1]):
        counts = torch.bincount(flat[:, q].long(), minlength=num_codes).double()
        probs = counts / counts.sum()
        used.append(float((counts > 0).double().mean()))
        perplexities.append(float(torch.special.entr(probs).sum().exp()))
    return statistics.mean(used), statistics.mean(perplexities)


def quality(make: Callable[..., Any], name: str, data: Path, epochs: int) -> dict[str, float]:
    images = load_mnist(data)
    index = torch.arange(images.shape[0])
    train, test = images[index % 5 != 0], images[index % 5 == 0]
    torch.manual_seed(0)
    encoder, decoder = networks()
    quantize = make(name, CHANNELS)
    parameters = [*encoder.parameters(), *decoder.parameters(), *quantize.module.parameters()]
    optimizer = torch.optim.Adam(parameters, lr=1e-3)
    generator = torch.Generator().manual_seed(1)
    quantize.module.train()
    for _ in range(epochs):
        order = torch.randperm(train.shape[0], generator=generator)
        for i in range(0, train.shape[0], BATCH):
            x = train[order[i : i + BATCH]]
            z_q, _, loss = quantize(encoder(x))
            nll = F.binary_cross_entropy_with_logits(decoder(z_q), x, reduction="sum") / x.shape[0]
            optimizer.zero_grad(set_to_none=True)
            (nll + loss).backward()
            optimizer.step()
    quantize.module.eval()
    squared, all_indices = 0.0, []
    with torch.no_grad():
        for i in range(0, test.shape[0], BATCH):
            x = test[i : i + BATCH]
            z_q, indices, _ = quantize(encoder(x))
            squared += float((torch.sigmoid(decoder(z_q)) - x).square().sum())
            all_indices.append(indices)
    indices = torch.cat(all_indices)
    codebooks = 2 if name == "rvq" else 1
    used, perplexity = usage(indices, codebooks, 1000 if name == "fsq" else CODES)
    return {"mse": squared / test.numel(), "codes_used": used, "perplexity": perplexity}


# ---------------------------------------------------------------------------- step time
def hand_written_step(codebook: torch.Tensor) -> Callable[[torch.Tensor], None]:
    """Nearest code by squared distance, straight-through, commitment loss, backward."""

    def step(z: torch.Tensor) -> None:
        flat = z.movedim(1, -1).reshape(-1, z.shape[1])  # [N, D]
        distances = (
            flat.square().sum(1, keepdim=True) - 2 * flat @ codebook.T + codebook.square().sum(1)
        )
        codes = codebook[distances.argmin(1)]
        quantized = flat + (codes - flat).detach()
        loss = 0.25 * (flat - codes.detach()).square().sum(1).mean() + quantized.square().mean()
        loss.backward()

    return step


def speed(make: Callable[..., Any], name: str, repeats: int) -> dict[str, float]:
    torch.manual_seed(0)
    quantize = make(name, SPEED_SHAPE[1])
    quantize.module.train()
    z = torch.randn(SPEED_SHAPE, requires_grad=True)

    def ours_step(x: torch.Tensor) -> None:
        z_q, _, loss = quantize(x)
        (loss + z_q.square().mean()).backward()

    reference = hand_written_step(torch.randn(CODES, SPEED_SHAPE[1]))
    for _ in range(5):  # warm-up (k-means initialisation happens here)
        ours_step(z)
        reference(z)
    times: dict[str, list[float]] = {"quantizer": [], "hand": []}
    for _ in range(repeats):
        for key, step in (("quantizer", ours_step), ("hand", reference)):
            start = time.perf_counter()
            step(z)
            times[key].append(time.perf_counter() - start)
    quantizer_ms = 1e3 * statistics.median(times["quantizer"])
    hand_ms = 1e3 * statistics.median(times["hand"])
    return {"step_ms": quantizer_ms, "hand_ms": hand_ms, "ratio": quantizer_ms / hand_ms}


def main() -> None:
    library, name, data, epochs, repeats = sys.argv[1:6]
    torch.set_num_threads(1)
    make = ours if library == "ours" else peer
    result: dict[str, Any] = {"library": library, "name": name}
    if int(epochs) > 0:
        result.update(quality(make, name, Path(data), int(epochs)))
    if int(repeats) > 0:
        result.update(speed(make, name, int(repeats)))
    if library == "peer":
        import importlib.metadata

        result["version"] = importlib.metadata.version("vector-quantize-pytorch")
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
