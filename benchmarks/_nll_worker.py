"""pythae's ``VAE.get_nll`` on the networks trained by ``nll_vs_pythae.py`` (pythae's venv).

Reads the weights (safetensors, neutral names) and the held-out images, builds pythae's VAE
with the same networks (its decoder ends in a sigmoid: pythae's ``"bce"`` takes
probabilities), and times ``model.get_nll(x, n_samples=K, batch_size=100)`` called as pythae's
documentation shows it (``--no-grad`` wraps it in ``torch.no_grad()``, which pythae does not
do itself). Prints one JSON line: seconds and the value returned (the mean of the per-image
log-likelihood estimates, whatever the method's name says).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import time

import torch
from _common import set_threads
from _steps import networks
from safetensors.torch import load_file
from torch import nn


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--weights", required=True)
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-grad", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    set_threads(args.threads)
    from pythae.models import VAE, VAEConfig
    from pythae.models.base.base_utils import ModelOutput
    from pythae.models.nn import BaseDecoder, BaseEncoder

    tensors = load_file(args.weights)

    class Encoder(BaseEncoder):
        def __init__(self) -> None:
            super().__init__()
            self.body = networks("vae-mlp")[0]
            self.mu, self.log_var = nn.Linear(500, 20), nn.Linear(500, 20)

        def forward(self, x: torch.Tensor) -> ModelOutput:
            h = self.body(x)
            return ModelOutput(embedding=self.mu(h), log_covariance=self.log_var(h))

    class Decoder(BaseDecoder):
        def __init__(self) -> None:
            super().__init__()
            self.body = networks("vae-mlp")[1]

        def forward(self, z: torch.Tensor) -> ModelOutput:
            return ModelOutput(reconstruction=torch.sigmoid(self.body(z)))

    encoder, decoder = Encoder(), Decoder()
    encoder.body.load_state_dict(
        {k[len("encoder.") :]: v for k, v in tensors.items() if k.startswith("encoder.")}
    )
    encoder.mu.load_state_dict(
        {k[len("mu.") :]: v for k, v in tensors.items() if k.startswith("mu.")}
    )
    encoder.log_var.load_state_dict(
        {k[len("log_var.") :]: v for k, v in tensors.items() if k.startswith("log_var.")}
    )
    decoder.body.load_state_dict(
        {k[len("decoder.") :]: v for k, v in tensors.items() if k.startswith("decoder.")}
    )
    config = VAEConfig(input_dim=(784,), latent_dim=20, reconstruction_loss="bce")
    model = VAE(config, encoder=encoder, decoder=decoder).eval()
    heldout = tensors["heldout"]
    torch.manual_seed(args.seed)
    load = os.getloadavg()[0]
    context = torch.no_grad() if args.no_grad else contextlib.nullcontext()
    start = time.perf_counter()
    with context:
        value = model.get_nll(heldout, n_samples=args.samples, batch_size=100)
    seconds = time.perf_counter() - start
    print(
        json.dumps({"seconds": seconds, "value": float(value), "load": [load, os.getloadavg()[0]]})
    )


if __name__ == "__main__":
    main()
