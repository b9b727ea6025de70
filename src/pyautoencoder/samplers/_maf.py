r"""A masked autoregressive flow (MAF) fitted to the codes by maximum likelihood.

Papamakarios, Pavlakou & Murray (2017), *Masked Autoregressive Flow for Density Estimation*:
each layer is a Gaussian autoregressive transform whose shift and log-scale come from a MADE
(Germain et al. 2015, *MADE: Masked Autoencoder for Distribution Estimation*), with the
variable order reversed between layers.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .._validation import check_positive_int
from ._base import LatentSampler, register_sampler, seeded_module_init, training_options

_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)


class _MaskedLinear(nn.Linear):
    """``nn.Linear`` whose weight is multiplied by a fixed 0/1 ``mask [out, in]``."""

    mask: torch.Tensor

    def __init__(self, mask: torch.Tensor) -> None:
        super().__init__(mask.shape[1], mask.shape[0])
        self.register_buffer("mask", mask)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight * self.mask, self.bias)


class MADE(nn.Module):
    r"""Masked autoencoder: ``x [N, D] -> (shift [N, D], log_scale [N, D])``, output ``i``
    depending on ``x_1 .. x_{i-1}`` only (Germain et al. 2015, eq. 13: a hidden unit of degree
    ``m`` sees inputs of degree ``<= m``; an output of degree ``d`` sees hidden units of degree
    ``< d``). Hidden degrees cycle through ``1 .. D-1``; with ``D = 1`` both outputs are
    learned constants.
    """

    def __init__(self, dim: int, hidden_features: int, num_hidden_layers: int = 2) -> None:
        super().__init__()
        self.dim = dim
        input_degree = torch.arange(1, dim + 1)
        hidden_degree = torch.arange(hidden_features) % max(dim - 1, 1) + 1
        layers: list[nn.Module] = []
        previous = input_degree
        for _ in range(num_hidden_layers):
            mask = (hidden_degree[:, None] >= previous[None, :]).float()
            layers += [_MaskedLinear(mask), nn.ReLU()]
            previous = hidden_degree
        output_degree = input_degree.repeat(2)  # shift, then log-scale
        layers.append(_MaskedLinear((output_degree[:, None] > previous[None, :]).float()))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        shift, raw = self.net(x).chunk(2, dim=-1)
        return shift, 5.0 * torch.tanh(raw / 5.0)  # soft clamp |log_scale| < 5


class MaskedAutoregressiveFlow(nn.Module):
    r"""A stack of MAF layers mapping data ``x [N, D]`` to noise ``u [N, D]``.

    One layer: ``u_i = (x_i - shift_i(x_{<i})) * exp(-log_scale_i(x_{<i}))`` with
    ``log |det du/dx| = -sum_i log_scale_i`` (Papamakarios et al. 2017, eq. 2-5); the order of
    the variables is reversed after each layer. ``log p(x) = log N(u; 0, I) + sum log|det|``.
    """

    def __init__(self, dim: int, num_flows: int, hidden_features: int) -> None:
        super().__init__()
        self.dim = dim
        self.layers = nn.ModuleList(MADE(dim, hidden_features) for _ in range(num_flows))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(u [N, D], log_det [N])``."""
        log_det = x.new_zeros(x.shape[0])
        for layer in self.layers:
            shift, log_scale = layer(x)
            x = ((x - shift) * torch.exp(-log_scale)).flip(-1)
            log_det = log_det - log_scale.sum(dim=-1)
        return x, log_det

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """``log p(x)``, ``[N]``."""
        u, log_det = self(x)
        return -0.5 * u.square().sum(dim=-1) - self.dim * _HALF_LOG_2PI + log_det

    @torch.no_grad()
    def inverse(self, u: torch.Tensor) -> torch.Tensor:
        """``x [N, D]`` for noise ``u [N, D]``: ``D`` MADE passes per layer (sequential)."""
        for layer in reversed(self.layers):
            target = u.flip(-1)
            x = torch.zeros_like(target)
            for i in range(self.dim):
                shift, log_scale = layer(x)
                x[:, i] = target[:, i] * torch.exp(log_scale[:, i]) + shift[:, i]
            u = x
        return u


@register_sampler("maf")
class FlowSampler(LatentSampler):
    r"""Draw codes from a masked autoregressive flow fitted to the aggregate posterior.

    The codes are standardised (mean ``m``, standard deviation ``s`` per dimension), a
    :class:`MaskedAutoregressiveFlow` is trained on them by maximum likelihood with Adam
    (Papamakarios et al. 2017), and samples are ``m + s * f^{-1}(u)``, ``u ~ N(0, I)``.

    Parameters
    ----------
    num_flows : int
        MAF layers (default 4; ``"maf:K"`` on the command line).
    hidden_features : int
        Hidden units of each MADE (two hidden layers).
    num_steps, batch_size, lr : int, int, float
        Adam steps on minibatches of codes.
    seed : int
        Seeds initialisation and minibatch order (the global RNG is restored afterwards).
    """

    spec_argument = "num_flows"

    def __init__(
        self,
        num_flows: int = 4,
        hidden_features: int = 64,
        num_steps: int = 1500,
        batch_size: int = 256,
        lr: float = 1e-3,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.num_flows = check_positive_int(num_flows, "num_flows")
        self.hidden_features = check_positive_int(hidden_features, "hidden_features")
        options = training_options(num_steps, batch_size, lr, seed)
        self.num_steps, self.batch_size = options["num_steps"], options["batch_size"]
        self.lr, self.seed = options["lr"], options["seed"]
        self.config = {
            "num_flows": self.num_flows,
            "hidden_features": self.hidden_features,
            **options,
        }

    def _allocate(self, latent_dim: int) -> None:
        with seeded_module_init(self.seed):
            self.flow = MaskedAutoregressiveFlow(latent_dim, self.num_flows, self.hidden_features)
        self.register_buffer("shift", torch.zeros(latent_dim))
        self.register_buffer("scale", torch.ones(latent_dim))

    def _fit_codes(self, codes: torch.Tensor) -> None:
        self._allocate(codes.shape[1])
        data = self._standardize(codes)
        optimizer = torch.optim.Adam(self.flow.parameters(), lr=self.lr)
        generator = torch.Generator(device=data.device).manual_seed(self.seed)
        size = min(self.batch_size, data.shape[0])
        with torch.enable_grad():
            for _ in range(self.num_steps):
                index = torch.randint(data.shape[0], (size,), generator=generator)
                loss = -self.flow.log_prob(data[index]).mean()
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """``log q_MAF(z)`` of codes ``[N, D]`` -> ``[N]`` (includes the standardisation)."""
        standardized = (z - self.shift) / self.scale
        return self.flow.log_prob(standardized) - self.scale.log().sum()

    def sample_latents(
        self, num_samples: int, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        u = torch.randn(
            num_samples, self.shift.shape[0], generator=generator, device=self.shift.device
        )
        return self.shift + self.scale * self.flow.inverse(u)
