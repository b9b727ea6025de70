"""The Ladder VAE (Sønderby et al. 2016): bottom-up estimates merged with the top-down prior."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ..distributions._likelihood import Likelihood, LikelihoodType
from ..objectives._base import Objective
from ..registry import register_model
from ._gaussian_groups import natural_parameter_merge
from ._top_down import (
    _mlp,
    _TopDownVAE,
)


@register_model("ladder_vae", latent="features", latent_arg="latent_dims")
class LadderVAE(_TopDownVAE):
    r"""Ladder VAE (Sønderby, Raiko, Maaløe, Sønderby & Winther 2016).

    A deterministic bottom-up pass gives every group a Gaussian estimate from ``x``: the
    encoder's features ``h_1`` feed the bottom group, ``h_{l+1} = MLP(h_l)`` the ones above.
    The top group's posterior is that estimate, ``q(z_L | x) = N(mu_hat_L, sigma_hat_L^2)``
    (their eq. 17, read off ``h_L`` by a linear head as in :class:`VAE`); below, the top-down
    pass merges the estimate with the prior ``p(z_l | z_{l+1}) = N(mu_p, sigma_p^2)`` by the
    precision-weighted product of the two Gaussians (eq. 18-19). ``p(z_l | z_{l+1})`` is an
    MLP of ``z_{l+1}`` and the decoder reads ``z_1``.

    What differs from the paper: the merged estimates are read off in natural parameters
    (``eta = mu_hat / sigma_hat^2``, ``log(1 / sigma_hat^2)``; :func:`natural_parameter_merge`),
    the same family of posteriors. With ``(mu_hat, log sigma_hat^2)`` outputs the gradient of
    the merged mean vanishes as an unused group's estimate widens towards the prior, and on
    binarized MNIST such groups never recovered (held-out log p(x) 34 nats below the VAE after
    5 epochs, warm-up or not; ``docs/hierarchical.md``). No batch norm (the paper's other
    remedy), so train and eval passes are the same function. The encoder's features feed the
    bottom group directly, so a one-group ``LadderVAE`` is a :class:`VAE` (tested at equal
    weights).

    Parameters
    ----------
    encoder : nn.Module
        ``x [B, ...] -> features [B, F]`` (the heads and bottom-up layers are lazy).
    decoder : nn.Module
        ``z_1 [N, latent_dims[0]] -> x_hat [N, ...]``.
    latent_dims : int or sequence of int
        Group sizes, ``z_1`` (bottom) first; ``L = len(latent_dims)``. An int means
        ``num_groups`` groups of that size.
    num_groups : int
        Number of groups when ``latent_dims`` is an int (default 2).
    hidden_dim : int
        Width of the bottom-up MLPs above the first group and of the top-down networks.
    likelihood : str, LikelihoodType or Likelihood
        Observation model (default ``"gaussian"``, as for :class:`VAE`).
    objective : Objective, optional
        Default :class:`~pyautoencoder.objectives.ELBO`.
    """

    def __init__(
        self,
        encoder: nn.Module,
        decoder: nn.Module,
        latent_dims: int | Sequence[int],
        *,
        num_groups: int = 2,
        hidden_dim: int = 128,
        likelihood: LikelihoodType | str | Likelihood = LikelihoodType.GAUSSIAN,
        objective: Objective | None = None,
    ) -> None:
        super().__init__(
            encoder, decoder, latent_dims, num_groups=num_groups,
            hidden_dim=hidden_dim, likelihood=likelihood, objective=objective,
        )  # fmt: skip
        width = self.hidden_dim
        self.bottom_up = nn.ModuleList(
            nn.Sequential(nn.LazyLinear(width), nn.SiLU(), nn.Linear(width, width), nn.SiLU())
            for _ in self.latent_dims[1:]
        )
        # (mu_hat, log sigma_hat^2) at the top, (eta, log precision) below.
        self.estimate_heads = nn.ModuleList(nn.LazyLinear(2 * d) for d in self.latent_dims)
        self.top_down = nn.ModuleList(
            nn.Sequential(_mlp(d, width, width), nn.SiLU()) for d in self.latent_dims[1:]
        )

    def _bottom_up(self, h: torch.Tensor) -> list[torch.Tensor]:
        features = [h]
        for block in self.bottom_up:
            features.append(block(features[-1]))
        return features

    def _posterior(
        self, group: int, state: torch.Tensor | None, feature: torch.Tensor,
        mu_p: torch.Tensor, log_var_p: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
        first, second = self.estimate_heads[group](feature).chunk(2, dim=-1)
        if group == len(self.latent_dims) - 1:
            return first, second  # mu_hat, log sigma_hat^2
        return natural_parameter_merge(first, second, mu_p, log_var_p)

    def _next_state(self, group: int, state: torch.Tensor | None, z: torch.Tensor) -> torch.Tensor:
        return self.top_down[group - 1](z) if group > 0 else z

    def _decoder_input(self, state: torch.Tensor, z_bottom: torch.Tensor) -> torch.Tensor:
        return z_bottom
