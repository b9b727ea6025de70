"""Gaussian pieces of the hierarchical VAEs: densities, per-dimension KL, the two merges."""

from __future__ import annotations

import math

import torch

_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)


def _gaussian_log_prob(z: torch.Tensor, mu: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:
    """``log N(z; mu, exp(log_var))`` summed over the last dimension."""
    return (-0.5 * ((z - mu).square() * torch.exp(-log_var) + log_var) - _HALF_LOG_2PI).sum(-1)


def gaussian_kl_per_dim(
    mu_q: torch.Tensor, log_var_q: torch.Tensor, mu_p: torch.Tensor, log_var_p: torch.Tensor
) -> torch.Tensor:
    r"""``KL(N(mu_q, var_q) || N(mu_p, var_p))`` per dimension (elementwise).

    ``0.5 (log var_p - log var_q + (var_q + (mu_q - mu_p)^2) / var_p - 1)``.
    """
    return 0.5 * (
        log_var_p
        - log_var_q
        + (torch.exp(log_var_q) + (mu_q - mu_p).square()) * torch.exp(-log_var_p)
        - 1.0
    )


def precision_weighted_merge(
    mu_a: torch.Tensor, log_var_a: torch.Tensor, mu_b: torch.Tensor, log_var_b: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""The normalised product of two diagonal Gaussians (Sønderby et al. 2016, eq. 18-19).

    .. math::

        \sigma^2 = \frac{1}{\sigma_a^{-2} + \sigma_b^{-2}}, \qquad
        \mu = \sigma^2 (\mu_a \sigma_a^{-2} + \mu_b \sigma_b^{-2}).

    Returns ``(mu, log_var)``; ``log var = -logaddexp(-log var_a, -log var_b)`` keeps it finite
    for extreme variances.
    """
    log_var = -torch.logaddexp(-log_var_a, -log_var_b)
    mu = (mu_a * torch.exp(log_var - log_var_a)) + (mu_b * torch.exp(log_var - log_var_b))
    return mu, log_var


def natural_parameter_merge(
    eta: torch.Tensor, log_precision: torch.Tensor, mu_p: torch.Tensor, log_var_p: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""The precision-weighted merge with the bottom-up estimate in natural parameters.

    The estimate is the Gaussian factor ``exp(eta z - lambda z^2 / 2)`` with precision
    ``lambda = exp(log_precision)`` and ``eta = lambda mu_hat``; multiplied with the prior
    ``N(mu_p, sigma_p^2)`` it gives

    .. math::

        \sigma^2 = rac{1}{\lambda + \sigma_p^{-2}}, \qquad
        \mu = \sigma^2 (\eta + \mu_p \sigma_p^{-2}),

    the same Gaussian as :func:`precision_weighted_merge` at ``mu_a = eta / lambda``,
    ``log var_a = -log_precision`` (Sønderby et al. 2016, eq. 18-19). Why the natural
    parameters: with ``(mu_hat, log sigma_hat^2)`` outputs, a group the decoder does not use
    yet is pushed by its KL towards the prior, ``sigma_hat^2 -> inf``, where
    ``d mu / d mu_hat = sigma^2 / sigma_hat^2 -> 0``: the group's mean can no longer learn
    (sticky posterior collapse). Here ``d mu / d eta = sigma^2 <= sigma_p^2`` stays finite at the
    prior. Returns ``(mu, log_var)``; ``log var = -logaddexp(log_precision, -log var_p)``.
    """
    log_var = -torch.logaddexp(log_precision, -log_var_p)
    mu = eta * torch.exp(log_var) + mu_p * torch.exp(log_var - log_var_p)
    return mu, log_var
