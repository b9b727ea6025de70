"""Training-step worker for a *foreign* installation (reference pyautoencoder 2.1.0, pythae).

Run by ``step_time.py`` with another venv's Python, so ``import pyautoencoder`` finds that
venv's package and never this repository's (the script's folder holds no ``pyautoencoder``).
It imports nothing from this repository. Protocol on stdin/stdout, one line each:
``N`` -> run N training steps and answer the seconds they took; ``quit`` -> exit.
"""

from __future__ import annotations

import argparse
import sys
import time

import torch
from torch import nn

HIDDEN, LATENT = 500, 20


def mlp(latent: int) -> tuple[nn.Module, nn.Module]:
    encoder = nn.Sequential(nn.Linear(784, HIDDEN), nn.Tanh())
    decoder = nn.Sequential(nn.Linear(latent, HIDDEN), nn.Tanh(), nn.Linear(HIDDEN, 784))
    return encoder, decoder


def conv() -> tuple[nn.Module, nn.Module]:
    encoder = nn.Sequential(
        nn.Conv2d(1, 32, 4, 2, 1), nn.ReLU(), nn.Conv2d(32, 64, 4, 2, 1), nn.ReLU(), nn.Flatten()
    )
    decoder = nn.Sequential(
        nn.Linear(16, 64 * 7 * 7),
        nn.ReLU(),
        nn.Unflatten(1, (64, 7, 7)),
        nn.ConvTranspose2d(64, 32, 4, 2, 1),
        nn.ReLU(),
        nn.ConvTranspose2d(32, 1, 4, 2, 1),
    )
    return encoder, decoder


def reference_step(model_name: str, first: torch.Tensor):  # type: ignore[no-untyped-def]
    """Step of the reference pyautoencoder 2.x API (``VAE``/``AE`` + ``compute_loss``)."""
    from pyautoencoder.vanilla import AE
    from pyautoencoder.variational import VAE

    if model_name == "vae-mlp":
        model = VAE(*mlp(LATENT), latent_dim=LATENT)
    elif model_name == "vae-conv":
        model = VAE(*conv(), latent_dim=16)
    elif model_name == "ae-mlp":
        encoder, decoder = mlp(LATENT)
        model = AE(nn.Sequential(encoder, nn.Linear(HIDDEN, LATENT)), decoder)
    else:
        raise SystemExit(f"the reference has no {model_name}")
    model.build(first)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step(x: torch.Tensor) -> None:
        output = model(x)
        loss = model.compute_loss(x, output, likelihood="bernoulli").objective
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step


def pythae_step(model_name: str, first: torch.Tensor):  # type: ignore[no-untyped-def]
    """Step of pythae's VAE/AE/IWAE with the same networks (``forward(inputs).loss``)."""
    from pythae.models import AE, IWAE, VAE, AEConfig, IWAEConfig, VAEConfig
    from pythae.models.base.base_utils import ModelOutput
    from pythae.models.nn import BaseDecoder, BaseEncoder

    image = model_name.endswith("conv")
    latent = 16 if image else LATENT
    shape = (1, 28, 28) if image else (784,)

    class Encoder(BaseEncoder):
        def __init__(self, variational: bool) -> None:
            super().__init__()
            self.body = conv()[0] if image else mlp(latent)[0]
            features = 64 * 7 * 7 if image else HIDDEN
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
            self.body = conv()[1] if image else mlp(latent)[1]

        def forward(self, z: torch.Tensor) -> ModelOutput:
            return ModelOutput(reconstruction=torch.sigmoid(self.body(z)))

    family = model_name.split("-")[0]
    if family == "vae":
        config = VAEConfig(input_dim=shape, latent_dim=latent, reconstruction_loss="bce")
        model = VAE(config, encoder=Encoder(True), decoder=Decoder())
    elif family == "iwae":
        config = IWAEConfig(
            input_dim=shape, latent_dim=latent, reconstruction_loss="bce", number_samples=5
        )
        model = IWAE(config, encoder=Encoder(True), decoder=Decoder())
    else:
        config = AEConfig(input_dim=shape, latent_dim=latent)
        model = AE(config, encoder=Encoder(False), decoder=Decoder())
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step(x: torch.Tensor) -> None:
        loss = model({"data": x}).loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--impl", choices=["reference", "pythae"], required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--batches", required=True, help="a .pt file with a list of batches")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    batches = torch.load(args.batches)
    if args.model.endswith("conv"):
        batches = [b.reshape(-1, 1, 28, 28) for b in batches]
    make = reference_step if args.impl == "reference" else pythae_step
    step = make(args.model, batches[0])
    import importlib.metadata

    version = importlib.metadata.version("pyautoencoder" if args.impl == "reference" else "pythae")
    print(f"ready {version}", flush=True)
    counter = 0
    for line in sys.stdin:
        command = line.strip()
        if command == "quit":
            break
        n = int(command)
        start = time.perf_counter()
        for _ in range(n):
            step(batches[counter % len(batches)])
            counter += 1
        print(repr(time.perf_counter() - start), flush=True)


if __name__ == "__main__":
    main()
