r"""A full-covariance Gaussian mixture fitted by expectation-maximisation, in torch.

Used by :class:`~pyautoencoder.vanilla.RAE` as its ex-post density estimator of the codes
(Ghosh et al. 2020, sec. 4). EM as in Bishop (2006), *Pattern Recognition and Machine
Learning*, sec. 9.2.2, with k-means++ initial means (Arthur & Vassilvitskii 2007) and
``reg_covar * I`` added to every covariance (as scikit-learn does) so that they stay positive
definite. Runs in float64; this is a fitting routine, not a training step, so it reads
convergence values on the host.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch


@dataclass
class GaussianMixtureFit:
    """A fitted mixture: ``weights [K]``, ``means [K, D]``, ``scale_tril [K, D, D]`` (Cholesky
    factors of the covariances), the final mean log-likelihood per point, the number of EM
    iterations and whether the change in it fell below ``tol``."""

    weights: torch.Tensor
    means: torch.Tensor
    scale_tril: torch.Tensor
    mean_log_likelihood: float
    num_iterations: int
    converged: bool


def _component_log_density(
    data: torch.Tensor, means: torch.Tensor, scale_tril: torch.Tensor
) -> torch.Tensor:
    """``log N(x_n | mu_k, L_k L_k^T)``: ``data [N, D]`` -> ``[N, K]``."""
    dim = data.shape[1]
    diff = data.unsqueeze(0) - means.unsqueeze(1)  # [K, N, D]
    solved = torch.linalg.solve_triangular(
        scale_tril, diff.transpose(1, 2), upper=False
    )  # [K, D, N]
    mahalanobis = solved.square().sum(dim=1)  # [K, N]
    log_det = torch.diagonal(scale_tril, dim1=-2, dim2=-1).log().sum(dim=-1)  # [K]
    log_norm = 0.5 * dim * math.log(2.0 * math.pi) + log_det
    return (-0.5 * mahalanobis - log_norm.unsqueeze(1)).T


def _m_step(
    data: torch.Tensor, resp: torch.Tensor, reg_covar: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Weights ``[K]``, means ``[K, D]``, Cholesky factors ``[K, D, D]`` from ``resp [N, K]``."""
    counts = resp.sum(dim=0) + 10.0 * torch.finfo(resp.dtype).eps  # [K]
    means = (resp.T @ data) / counts.unsqueeze(1)  # [K, D]
    diff = data.unsqueeze(0) - means.unsqueeze(1)  # [K, N, D]
    cov = torch.einsum("nk,knd,kne->kde", resp, diff, diff) / counts.view(-1, 1, 1)
    eye = torch.eye(data.shape[1], dtype=data.dtype, device=data.device)
    scale_tril = torch.linalg.cholesky(cov + reg_covar * eye)
    return counts / data.shape[0], means, scale_tril


def _kmeans_plus_plus(data: torch.Tensor, k: int, generator: torch.Generator) -> torch.Tensor:
    """``k`` initial means ``[k, D]``: each next one drawn with probability ~ squared distance."""
    n = data.shape[0]
    first = torch.randint(n, (1,), generator=generator, device=data.device)
    centers = [data[first[0]]]
    closest = (data - centers[0]).square().sum(dim=1)  # [N]
    for _ in range(1, k):
        probs = closest if bool(closest.sum() > 0) else torch.ones_like(closest)
        pick = torch.multinomial(probs, 1, generator=generator)
        centers.append(data[pick[0]])
        closest = torch.minimum(closest, (data - centers[-1]).square().sum(dim=1))
    return torch.stack(centers)


def fit_gaussian_mixture(
    data: torch.Tensor,
    num_components: int,
    *,
    max_iter: int = 200,
    tol: float = 1e-6,
    reg_covar: float = 1e-6,
    seed: int = 0,
) -> GaussianMixtureFit:
    """Fit ``sum_k w_k N(mu_k, Sigma_k)`` to ``data [N, D]`` by EM (float64).

    Initialisation: k-means++ means, hard assignment to the nearest one, one M-step. Then EM
    until the mean log-likelihood per point changes by less than ``tol`` or ``max_iter``
    iterations. ``seed`` seeds a private generator (the global RNG is not touched).

    Raises
    ------
    ValueError
        ``data`` is not ``[N, D]`` with ``N >= num_components``, or holds NaN/inf.
    """
    if data.dim() != 2:
        raise ValueError(f"data must be [N, D], got shape {tuple(data.shape)}")
    if data.shape[0] < num_components:
        raise ValueError(
            f"fitting {num_components} components needs at least {num_components} points, "
            f"got {data.shape[0]}"
        )
    if not bool(torch.isfinite(data).all()):
        raise ValueError("data must be finite to fit a Gaussian mixture, got NaN or inf")
    x = data.detach().to(torch.float64)
    generator = torch.Generator(device=x.device).manual_seed(seed)
    centers = _kmeans_plus_plus(x, num_components, generator)
    nearest = torch.cdist(x, centers).argmin(dim=1)
    resp = torch.nn.functional.one_hot(nearest, num_components).to(x.dtype)  # [N, K]
    weights, means, scale_tril = _m_step(x, resp, reg_covar)
    previous = -math.inf
    current = -math.inf
    converged = False
    iteration = 0
    for iteration in range(1, max_iter + 1):  # noqa: B007 (reported afterwards)
        joint = _component_log_density(x, means, scale_tril) + weights.log()  # [N, K]
        log_norm = torch.logsumexp(joint, dim=1, keepdim=True)  # [N, 1]
        current = float(log_norm.mean())
        resp = (joint - log_norm).exp()
        weights, means, scale_tril = _m_step(x, resp, reg_covar)
        if abs(current - previous) < tol:
            converged = True
            break
        previous = current
    return GaussianMixtureFit(weights, means, scale_tril, current, iteration, converged)
