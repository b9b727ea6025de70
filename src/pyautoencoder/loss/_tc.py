r"""The beta-TCVAE decomposition of the KL term (Chen, Li, Grosse & Duvenaud 2018).

Averaged over the data, the KL term of the ELBO splits into (Chen et al. 2018, eq. 2)

.. math::

    \underbrace{\log q(z\mid x) - \log q(z)}_{\text{index-code MI}}
    + \underbrace{\log q(z) - \textstyle\sum_d \log q(z_d)}_{\text{total correlation}}
    + \underbrace{\textstyle\sum_d \log q(z_d) - \log p(z)}_{\text{dimension-wise KL}},

evaluated at ``z ~ q(z | x)``. The aggregate posterior ``q(z) = (1/N) sum_n q(z | x_n)`` and
its marginals are estimated from the minibatch ``x_1..x_M`` of a data set of size ``N``:

* minibatch-weighted sampling (MWS, eq. 4):
  ``log q(z_i) ~= logsumexp_j log q(z_i | x_j) - log(N M)``;
* minibatch-stratified sampling (MSS, Appendix C.2): importance weights ``1/N`` for the
  sample's own input, ``(N - M + 1) / (N (M - 1))`` for one other input (here the next one,
  cyclically) and ``1 / (M - 1)`` for the remaining ``M - 2``; needs ``M >= 2``.

The same estimator is used for each marginal ``q(z_d)``. The three terms sum to the
single-sample KL estimate ``log q(z | x) - log p(z)`` exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch

from ..distributions._kl import diagonal_gaussian_log_density

Sampling = Literal["mws", "mss"]


@dataclass
class TCDecomposition:
    """The three terms of the KL decomposition (Chen et al. 2018, eq. 2), per input.

    Each field is ``[B]`` (averaged over the ``S`` samples), in nats; their sum is the
    Monte Carlo estimate of ``KL(q(z | x) || p(z))``.

    Attributes
    ----------
    mutual_information : torch.Tensor
        ``log q(z | x) - log q(z)``, the index-code mutual information.
    total_correlation : torch.Tensor
        ``log q(z) - sum_d log q(z_d)``.
    dimension_wise_kl : torch.Tensor
        ``sum_d log q(z_d) - log p(z)``.
    """

    mutual_information: torch.Tensor
    total_correlation: torch.Tensor
    dimension_wise_kl: torch.Tensor


def log_importance_weights(
    batch_size: int, dataset_size: int, sampling: Sampling, like: torch.Tensor
) -> torch.Tensor:
    """Log importance weights ``log r_ij`` ``[M, M]`` of the aggregate-posterior estimate.

    ``q(z_i) ~= sum_j r_ij q(z_i | x_j)`` over a minibatch of ``M`` inputs from a data set of
    ``N = dataset_size`` (Chen et al. 2018): ``"mws"`` (eq. 4) uses ``r_ij = 1 / (N M)``;
    ``"mss"`` (Appendix C.2) uses ``1 / N`` on the diagonal, ``(N - M + 1) / (N (M - 1))`` at
    ``j = i + 1 (mod M)`` and ``1 / (M - 1)`` elsewhere (rows sum to 1). ``like`` gives the
    dtype and device.
    """
    n, m = float(dataset_size), batch_size
    if sampling == "mws":
        return torch.full((m, m), -math.log(n * m), dtype=like.dtype, device=like.device)
    weights = torch.full((m, m), 1.0 / (m - 1), dtype=like.dtype, device=like.device)
    index = torch.arange(m, device=like.device)
    weights[index, (index + 1) % m] = (n - m + 1) / (n * (m - 1))
    weights[index, index] = 1.0 / n
    return weights.log()


def tc_decomposition(
    z: torch.Tensor,
    mu: torch.Tensor,
    log_var: torch.Tensor,
    log_prior: torch.Tensor,
    dataset_size: int,
    sampling: Sampling = "mws",
) -> TCDecomposition:
    """Estimate MI, TC and dimension-wise KL (see the module docstring).

    Parameters
    ----------
    z : torch.Tensor
        Posterior samples ``[B, S, D_z]``; sample ``z[i, s]`` was drawn from ``q(z | x_i)``.
    mu, log_var : torch.Tensor
        Posterior parameters ``[B, D_z]``.
    log_prior : torch.Tensor
        ``log p(z)`` at the samples, ``[B, S]``.
    dataset_size : int
        ``N``.
    sampling : {"mws", "mss"}
        The estimator of ``q(z)``.
    """
    batch = z.shape[0]
    # log q(z_is,d | x_j): [B(i), S, B(j), D_z]
    log_q_dims = diagonal_gaussian_log_density(z.unsqueeze(2), mu[None, None], log_var[None, None])
    log_w = log_importance_weights(batch, dataset_size, sampling, z)[:, None, :]  # [B, 1, B]
    log_qz = torch.logsumexp(log_q_dims.sum(dim=-1) + log_w, dim=2)  # [B, S]
    log_qz_dims = torch.logsumexp(log_q_dims + log_w.unsqueeze(-1), dim=2)  # [B, S, D_z]
    own = torch.arange(batch, device=z.device)
    log_q_own = log_q_dims[own, :, own].sum(dim=-1)  # [B, S]: log q(z_i | x_i)
    log_prod_marginals = log_qz_dims.sum(dim=-1)  # [B, S]
    return TCDecomposition(
        mutual_information=(log_q_own - log_qz).mean(dim=1),
        total_correlation=(log_qz - log_prod_marginals).mean(dim=1),
        dimension_wise_kl=(log_prod_marginals - log_prior).mean(dim=1),
    )
