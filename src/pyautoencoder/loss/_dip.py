r"""The DIP-VAE regulariser (Kumar, Sattigeri & Balakrishnan 2018).

Match the covariance of the aggregate posterior to the identity:

* DIP-VAE-I: ``Cov = Cov_x[mu(x)]`` (covariance of the posterior means over the batch);
* DIP-VAE-II: ``Cov = E_x[diag(sigma^2(x))] + Cov_x[mu(x)]`` (covariance of ``q(z)``),

.. math::

    R = \lambda_{od} \sum_{i \ne j} \mathrm{Cov}_{ij}^2
        + \lambda_d \sum_i (\mathrm{Cov}_{ii} - 1)^2
    \qquad\text{(Kumar et al. 2018, eqs. 7-9)}.

Batch covariances use the population normalisation ``1 / B``.
"""

from __future__ import annotations

from typing import Literal

import torch

DIPVariant = Literal["i", "ii"]


def dip_covariance(mu: torch.Tensor, log_var: torch.Tensor, variant: DIPVariant) -> torch.Tensor:
    r"""The covariance the DIP regulariser matches to ``I`` (Kumar et al. 2018, DIP-VAE-I / -II).

    .. math::

        \mathrm{Cov}_{\text{I}} = \mathrm{Cov}_x[\mu(x)], \qquad
        \mathrm{Cov}_{\text{II}} = \mathbb{E}_x[\mathrm{diag}\,\sigma^2(x)]
            + \mathrm{Cov}_x[\mu(x)],

    with batch moments normalised by ``1 / B``.

    Parameters
    ----------
    mu, log_var : torch.Tensor
        Posterior parameters ``[B, D_z]``.
    variant : {"i", "ii"}
        DIP-VAE-I or DIP-VAE-II.

    Returns
    -------
    torch.Tensor
        ``[D_z, D_z]``.
    """
    centered = mu - mu.mean(dim=0, keepdim=True)
    cov = centered.T @ centered / mu.shape[0]
    if variant == "ii":
        cov = cov + torch.diag(torch.exp(log_var).mean(dim=0))
    return cov


def dip_penalty(
    cov: torch.Tensor, lambda_od: float, lambda_d: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    r"""The DIP penalty of a covariance ``cov [D_z, D_z]`` (Kumar et al. 2018, eqs. 7-9).

    .. math::

        R = \lambda_{od} \sum_{i \ne j} \mathrm{Cov}_{ij}^2
            + \lambda_d \sum_i (\mathrm{Cov}_{ii} - 1)^2.

    Returns
    -------
    tuple of torch.Tensor
        Scalars ``(R, sum_{i != j} Cov_ij^2, sum_i (Cov_ii - 1)^2)``.
    """
    diag = torch.diagonal(cov)
    off_diagonal = cov.square().sum() - diag.square().sum()
    diagonal = (diag - 1.0).square().sum()
    return lambda_od * off_diagonal + lambda_d * diagonal, off_diagonal, diagonal
