"""Write your own autoencoder: subclass BaseAutoencoder in under 40 lines.

A tied-weights linear autoencoder (the decoder reuses the encoder's weight matrix transposed),
trained on the bundled digits. Run: ``python examples/custom_autoencoder.py``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from sklearn.datasets import load_digits
from torch import nn

from pyautoencoder._base import BaseAutoencoder, ModelOutput
from pyautoencoder.loss import LossResult, log_likelihood


# --8<-- [start:model]
@dataclass(slots=True, repr=False)
class CodeOutput(ModelOutput):
    z: torch.Tensor


@dataclass(slots=True, repr=False)
class ReconstructionOutput(ModelOutput):
    x_hat: torch.Tensor


@dataclass(slots=True, repr=False)
class TiedOutput(ModelOutput):
    x_hat: torch.Tensor
    z: torch.Tensor


class TiedAE(BaseAutoencoder):
    """z = W x + b, x_hat = W^T z + c; Gaussian (squared-error) reconstruction."""

    def __init__(self, in_features: int, latent_dim: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(latent_dim, in_features) * in_features**-0.5)
        self.bias_z = nn.Parameter(torch.zeros(latent_dim))
        self.bias_x = nn.Parameter(torch.zeros(in_features))

    def _encode(self, x: torch.Tensor) -> CodeOutput:
        return CodeOutput(z=x @ self.weight.T + self.bias_z)

    def _decode(self, z: torch.Tensor) -> ReconstructionOutput:
        return ReconstructionOutput(x_hat=z @ self.weight + self.bias_x)

    def forward(self, x: torch.Tensor) -> TiedOutput:
        z = self._encode(x).z
        return TiedOutput(x_hat=self._decode(z).x_hat, z=z)

    def compute_loss(self, x: torch.Tensor, output: TiedOutput) -> LossResult:
        log_lik = log_likelihood(x, output.x_hat).flatten(1).sum(1).mean()
        return LossResult(objective=-log_lik, diagnostics={"log_likelihood": log_lik.detach()})


# --8<-- [end:model]


def main(steps: int = 300) -> float:
    torch.manual_seed(0)
    x = torch.tensor(load_digits().data, dtype=torch.float32) / 16.0
    model = TiedAE(in_features=64, latent_dim=8)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(steps):
        loss = model.compute_loss(x, model(x))
        optimizer.zero_grad()
        loss.objective.backward()
        optimizer.step()
    final = float(loss.diagnostics["log_likelihood"])
    print(f"reconstruction log-likelihood after {steps} steps: {final:.3f} nats per image")
    return final


if __name__ == "__main__":
    main()
