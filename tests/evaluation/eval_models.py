"""Models shared by the evaluation tests: a linear-Gaussian latent-variable model whose
marginal likelihood, ELBO and posterior are known in closed form.

Imported by name (``from eval_models import ...``) rather than through a ``conftest.py``:
several test folders have one, and ``from conftest import`` would pick up whichever was
imported last.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import distributions as D
from torch import nn

from pyautoencoder._base import BaseAutoencoder, ModelOutput
from pyautoencoder.distributions._likelihood import Likelihood
from pyautoencoder.loss import LossResult


class FixedVarianceGaussian(Likelihood):
    """Normalised Gaussian likelihood ``N(x; x_hat, sigma^2)`` with a known ``sigma``."""

    def __init__(self, sigma: float) -> None:
        super().__init__()
        self.sigma = sigma

    def log_prob(self, x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
        return D.Normal(x_hat, self.sigma).log_prob(x)


@dataclass(slots=True, repr=False)
class _Decoded(ModelOutput):
    x_hat: torch.Tensor


class LinearGaussianModel(BaseAutoencoder):
    r"""``z ~ N(0, I)``, ``x | z ~ N(W z + b, sigma^2 I)``; ``q(z | x) = N(A x + c, diag(s^2))``.

    Marginal: ``x ~ N(b, W W^T + sigma^2 I)``. Everything is float64.
    """

    def __init__(
        self, W: torch.Tensor, b: torch.Tensor, A: torch.Tensor, c: torch.Tensor, s: torch.Tensor
    ) -> None:
        super().__init__()
        self.W = nn.Parameter(W)
        self.b = nn.Parameter(b)
        self.A = nn.Parameter(A)
        self.c = nn.Parameter(c)
        self.log_s = nn.Parameter(s.log())
        self.modes_seen: list[bool] = []

    @property
    def prior(self) -> D.Distribution:
        zeros = torch.zeros(self.W.shape[1], dtype=self.W.dtype)
        return D.Independent(D.Normal(zeros, torch.ones_like(zeros)), 1)

    def posterior(self, x: torch.Tensor) -> D.Distribution:
        self.modes_seen.append(self.training)
        mu = x @ self.A.T + self.c
        return D.Independent(D.Normal(mu, self.log_s.exp().expand_as(mu)), 1)

    def _encode(self, x: torch.Tensor) -> ModelOutput:
        return _Decoded(x_hat=self.posterior(x).mean)

    def _decode(self, z: torch.Tensor) -> _Decoded:
        return _Decoded(x_hat=z @ self.W.T + self.b)  # [B, K, D_x]

    def forward(self, x: torch.Tensor) -> _Decoded:
        return self._decode(self.posterior(x).rsample().unsqueeze(1))

    def compute_loss(self, x: torch.Tensor, output: ModelOutput) -> LossResult:
        raise NotImplementedError("not needed by the evaluation tests")

    # Closed forms (float64) ---------------------------------------------------------------
    def marginal(self, sigma: float) -> D.MultivariateNormal:
        cov = self.W @ self.W.T + sigma**2 * torch.eye(self.W.shape[0], dtype=self.W.dtype)
        return D.MultivariateNormal(self.b, covariance_matrix=cov)

    def closed_form_elbo(self, x: torch.Tensor, sigma: float) -> torch.Tensor:
        """``E_q[log p(x|z)] - KL(q || p)`` per example ``[N]``."""
        mu = x @ self.A.T + self.c
        var = self.log_s.exp().square()  # [D_z]
        residual = x - (mu @ self.W.T + self.b)
        trace = (self.W.square() * var).sum()  # tr(W diag(var) W^T)
        d_x = x.shape[1]
        expected_log_lik = -0.5 * d_x * math.log(2 * math.pi * sigma**2) - (
            residual.square().sum(dim=1) + trace
        ) / (2 * sigma**2)
        kl = 0.5 * (mu.square() + var - 1 - var.log()).sum(dim=1)
        return expected_log_lik - kl


def make_linear_gaussian(
    latent_dim: int = 2, data_dim: int = 3, sigma: float = 0.5, exact: bool = False
) -> LinearGaussianModel:
    """A random linear-Gaussian model whose posterior is the exact one's mean map scaled by
    0.8 with standard deviations 1.3 times the exact marginal ones (``exact=False``)."""
    gen = torch.Generator().manual_seed(1234)
    W = torch.randn(data_dim, latent_dim, generator=gen, dtype=torch.float64)
    b = torch.randn(data_dim, generator=gen, dtype=torch.float64)
    # Exact posterior: Sigma = (I + W^T W / sigma^2)^-1, mu = Sigma W^T (x - b) / sigma^2.
    precision = torch.eye(latent_dim, dtype=torch.float64) + W.T @ W / sigma**2
    cov = torch.linalg.inv(precision)
    A = cov @ W.T / sigma**2
    c = -A @ b
    s = cov.diagonal().sqrt()
    if not exact:
        A, c, s = 0.8 * A, 0.8 * c, 1.3 * s
    return LinearGaussianModel(W, b, A, c, s)


def sample_data(model: LinearGaussianModel, n: int, sigma: float, seed: int = 0) -> torch.Tensor:
    """``n`` draws ``[n, D_x]`` from the model's marginal."""
    torch.manual_seed(seed)
    with torch.no_grad():
        return model.marginal(sigma).sample((n,))
