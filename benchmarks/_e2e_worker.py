"""One process of ``end_to_end.py``: train the MNIST-10k VAE one way, print the time as JSON.

``--impl hand`` (a plain PyTorch ``DataLoader`` loop, :mod:`_steps`), ``fit``
(:func:`pyautoencoder.training.fit`, with this repository on ``PYTHONPATH``) or ``pythae``
(pythae's ``TrainingPipeline``, in pythae's venv). Every process first imports torch and reads
the data (the same prelude for all); the clock then runs from before the library's import to
the trained model in hand, so it counts what a user pays: imports, set-up, the first-batch
checks, the steps and what the trainer does after the last one. Wall and process CPU time
(``time.process_time``, all threads) are both reported.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time

import torch
from _common import BATCH, load_mnist_10k, set_threads
from _steps import HandVAE, networks


def hand(train: torch.Tensor, epochs: int) -> None:
    """The 2.x README loop around a plain-PyTorch VAE: shuffled ``DataLoader``, default Adam."""
    from torch.utils.data import DataLoader, TensorDataset

    torch.manual_seed(0)
    model = HandVAE("vae-mlp")
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loader = DataLoader(TensorDataset(train), batch_size=BATCH, shuffle=True)
    for _ in range(epochs):
        for (x,) in loader:
            loss = model.loss(x)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()


def ours(train: torch.Tensor, epochs: int) -> None:
    """``fit(model, x, epochs=..., batch_size=100, lr=1e-3)``; every other option its default."""
    from pyautoencoder.training import fit
    from pyautoencoder.variational import VAE

    torch.manual_seed(0)
    encoder, decoder, latent = networks("vae-mlp")
    model = VAE(encoder, decoder, latent, likelihood="bernoulli")
    fit(model, train, epochs=epochs, batch_size=BATCH, lr=1e-3)


def pythae(train: torch.Tensor, epochs: int) -> None:
    """pythae's ``TrainingPipeline`` (its ``BaseTrainer``) on its VAE with the same networks."""
    from pythae.models import VAE, VAEConfig
    from pythae.models.base.base_utils import ModelOutput
    from pythae.models.nn import BaseDecoder, BaseEncoder
    from pythae.pipelines import TrainingPipeline
    from pythae.trainers import BaseTrainerConfig
    from torch import nn

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

    torch.manual_seed(0)
    config = VAEConfig(input_dim=(784,), latent_dim=20, reconstruction_loss="bce")
    model = VAE(config, encoder=Encoder(), decoder=Decoder())
    with tempfile.TemporaryDirectory() as out:
        trainer = BaseTrainerConfig(
            output_dir=out,
            num_epochs=epochs,
            learning_rate=1e-3,
            per_device_train_batch_size=BATCH,
            no_cuda=True,
        )
        TrainingPipeline(training_config=trainer, model=model)(train_data=train)


_IMPLS = {"hand": hand, "fit": ours, "pythae": pythae}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--impl", choices=sorted(_IMPLS), required=True)
    parser.add_argument("--epochs", type=int, required=True)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--data", required=True)
    args = parser.parse_args()
    set_threads(args.threads)
    train, _ = load_mnist_10k(args.data)
    load = os.getloadavg()[0]
    start, cpu = time.perf_counter(), time.process_time()
    _IMPLS[args.impl](train, args.epochs)
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu
    result = {"impl": args.impl, "seconds": seconds, "cpu_seconds": cpu_seconds}
    print(json.dumps({**result, "load": [load, os.getloadavg()[0]]}))


if __name__ == "__main__":
    main()
