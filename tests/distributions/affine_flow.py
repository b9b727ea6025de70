"""A conditional elementwise affine flow: f(z) = z * exp(s) + t, with (s, t) amortised."""

import torch

from pyautoencoder.distributions import FlowPosterior, FlowStep, register_posterior


class AffineStep(FlowStep):
    """f(z) = z * exp(s) + t; the Jacobian is diagonal, log |det J| = sum_d s_d."""

    def __init__(self, latent_dim: int) -> None:
        super().__init__()
        self.num_params = 2 * latent_dim  # s and t, per input, from the posterior's head

    def forward(self, z: torch.Tensor, params: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        log_scale, shift = params.chunk(2, dim=-1)
        log_scale = torch.tanh(log_scale)  # scales in [1/e, e]
        return z * torch.exp(log_scale) + shift, log_scale.sum(dim=-1)


@register_posterior("affine")
class AffineFlow(FlowPosterior):
    """``num_flows`` affine steps."""

    def _make_step(self, latent_dim: int, index: int) -> FlowStep:
        return AffineStep(latent_dim)
