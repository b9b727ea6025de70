r"""Statistics of the latent code and the reconstructions: active units, KL per dimension,
reconstruction error."""

from __future__ import annotations

import numbers

import torch
from torch import distributions as D
from torch import nn

from ..distributions._likelihood import get_likelihood
from ..loss._sampled import sampled_log_likelihood
from ._common import (
    DataSource,
    LikelihoodSpec,
    check_posterior_model,
    decode_samples,
    evaluation_mode,
    iterate_inputs,
    model_device,
    posterior_of,
    prior_of,
    resolve_likelihood,
)
from ._results import ActiveUnits, PerExampleEstimate


def _posterior_mean(posterior: D.Distribution) -> torch.Tensor:
    """``E_q[z]`` ``[B, D_z]``, with an error naming the posterior when it has no mean."""
    try:
        return posterior.mean
    except NotImplementedError as error:
        raise TypeError(
            f"the model's posterior ({type(posterior).__name__}) does not implement .mean, "
            "which this statistic needs"
        ) from error


def reconstruction_error(
    model: nn.Module,
    data: DataSource,
    *,
    likelihood: LikelihoodSpec | None = None,
    batch_size: int = 64,
) -> PerExampleEstimate:
    r"""Negative log-likelihood of each example under its reconstruction, in nats.

    .. math::

        \mathrm{err}(x) = -\sum_j \log p(x_j \mid \hat x_j),

    where ``x_hat`` decodes the posterior mean ``E_q[z]`` for models with a posterior (the VAE
    family: deterministic, no sampling noise) and is ``model(x).x_hat`` for deterministic
    autoencoders. With the ``"gaussian"`` likelihood this is half the squared error
    ``0.5 ||x - x_hat||^2``; with ``"bernoulli"`` the binary cross-entropy summed over pixels.

    Parameters
    ----------
    model : nn.Module
        A model with the posterior interface, or one whose ``forward(x)`` returns an output
        with ``x_hat`` shaped like ``x`` (``pyautoencoder.vanilla.AE``).
    data : torch.Tensor or iterable
        As in :func:`log_likelihood_estimate`.
    likelihood : LikelihoodType, str, Likelihood or None
        ``None``: the model's ``likelihood`` attribute, else ``"gaussian"``.
    batch_size : int
        Examples per batch when ``data`` is a tensor.

    Returns
    -------
    PerExampleEstimate
        Per-example errors ``[N]``, their mean and standard error.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    has_posterior = callable(getattr(model, "posterior", None))
    device = model_device(model)
    errors: list[torch.Tensor] = []
    num_dims = 0
    with evaluation_mode(model):
        observation = get_likelihood(resolve_likelihood(model, likelihood))
        for x, condition in iterate_inputs(model, data, batch_size, device):
            num_dims = x[0].numel()
            if has_posterior:
                check_posterior_model(model, "reconstruction_error")
                z = _posterior_mean(posterior_of(model, x, *condition))  # [B, D_z]
                x_hat = decode_samples(model, z.unsqueeze(0), *condition)  # [B, 1, ...]
            else:
                x_hat = _deterministic_reconstruction(model, x)
            errors.append(-sampled_log_likelihood(x, x_hat, observation)[:, 0].double().cpu())
    return PerExampleEstimate.from_values(torch.cat(errors), num_dims)


def _deterministic_reconstruction(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``model(x).x_hat`` as ``[B, 1, ...]``."""
    x_hat = getattr(model(x), "x_hat", None)
    if not isinstance(x_hat, torch.Tensor):
        raise TypeError(
            f"reconstruction_error needs model(x) to return an output with an x_hat tensor or "
            f"a model with posterior(x); {type(model).__name__} has neither"
        )
    return x_hat.unsqueeze(1) if x_hat.dim() == x.dim() else x_hat


def active_units(
    model: nn.Module, data: DataSource, threshold: float = 0.01, *, batch_size: int = 256
) -> ActiveUnits:
    r"""Count the latent dimensions the model uses (Burda et al. 2016, Sec. 5.2, eq. 16).

    A unit ``d`` is active when its posterior mean varies across the data:

    .. math::

        A_d = \mathrm{Cov}_x\big(\mathbb E_{q(z \mid x)}[z_d]\big) > 10^{-2}.

    The variance is the unbiased one over the ``N`` examples, accumulated batch by batch in
    float64 with Chan et al.'s pairwise update (no second pass, no cancellation).

    Parameters
    ----------
    model : nn.Module
        A model with the posterior interface (``posterior(x).mean`` is used).
    data : torch.Tensor or iterable
        At least two examples.
    threshold : float
        The activity threshold; 0.01 as in the paper.
    batch_size : int
        Examples per batch when ``data`` is a tensor.
    """
    model = check_posterior_model(model, "active_units")
    if isinstance(threshold, bool) or not isinstance(threshold, numbers.Real) or threshold < 0:
        raise ValueError(f"threshold must be a real number >= 0, got {threshold!r}")
    device = model_device(model)
    count = 0
    mean = torch.zeros(0, dtype=torch.float64)
    sum_sq = torch.zeros(0, dtype=torch.float64)  # sum of squared deviations from the mean
    with evaluation_mode(model):
        for x, condition in iterate_inputs(model, data, batch_size, device):
            # [B, D_z]; latent maps [B, C, h, w] count each of their C h w values as a unit
            codes = _posterior_mean(posterior_of(model, x, *condition)).flatten(1).double().cpu()
            n_b = codes.shape[0]
            mean_b = codes.mean(dim=0)
            sum_sq_b = (codes - mean_b).square().sum(dim=0)
            if count == 0:
                count, mean, sum_sq = n_b, mean_b, sum_sq_b
                continue
            delta = mean_b - mean
            total = count + n_b
            sum_sq = sum_sq + sum_sq_b + delta.square() * count * n_b / total
            mean = mean + delta * n_b / total
            count = total
    if count < 2:
        raise ValueError(f"active_units needs at least 2 examples, got {count}")
    variances = sum_sq / (count - 1)
    active = variances > threshold
    return ActiveUnits(
        variances=variances,
        active=active,
        num_active=int(active.sum()),
        threshold=float(threshold),
    )


def kl_per_dimension(model: nn.Module, data: DataSource, *, batch_size: int = 256) -> torch.Tensor:
    r"""Average ``KL(q(z_d | x) || p(z_d))`` of each latent dimension ``[D_z]`` (float64, nats).

    .. math::

        \mathrm{KL}_d = \frac1N \sum_{n=1}^N
            \mathrm{KL}\big(q(z_d \mid x_n) \,\|\, p(z_d)\big),

    closed form per dimension for a factorised posterior and prior (for the diagonal Gaussian
    posterior and ``N(0, I)`` prior, ``0.5 (mu^2 + sigma^2 - 1 - log sigma^2)``; Kingma &
    Welling 2014, Appendix B). The dimensions sum to the average total KL. Dimensions near 0
    nats have collapsed to the prior (posterior collapse).

    Raises
    ------
    TypeError
        When the posterior or the prior is not factorised over dimensions (an
        ``Independent`` over a distribution with batch shape ``[..., D_z]``), e.g. a mixture
        prior, whose per-dimension KL is not defined.
    """
    model = check_posterior_model(model, "kl_per_dimension")
    device = model_device(model)
    total: torch.Tensor | None = None
    count = 0
    with evaluation_mode(model):
        prior_base = _factor(prior_of(model), "prior")
        for x, condition in iterate_inputs(model, data, batch_size, device):
            posterior_base = _factor(posterior_of(model, x, *condition), "posterior")
            try:
                kl = D.kl_divergence(posterior_base, prior_base)  # [B, D_z]
            except NotImplementedError as error:
                raise TypeError(
                    "kl_per_dimension needs a closed-form KL between the posterior's and the "
                    f"prior's factors, got {type(posterior_base).__name__} and "
                    f"{type(prior_base).__name__}"
                ) from error
            batch_sum = kl.flatten(1).double().sum(dim=0).cpu()  # [D_z] (latent maps flattened)
            total = batch_sum if total is None else total + batch_sum
            count += kl.shape[0]
    if total is None:  # pragma: no cover - iterate_batches raises on empty data
        raise ValueError("data must hold at least one example")
    return total / count


def _factor(distribution: D.Distribution, role: str) -> D.Distribution:
    """The per-dimension base of ``Independent(base, 1)``; ``TypeError`` otherwise.

    Latent maps: ``Independent(base, 3)`` over ``[C, h, w]`` (a base with scalar events).
    """
    if isinstance(distribution, D.Independent) and (
        distribution.reinterpreted_batch_ndims == 1 or distribution.base_dist.event_shape == ()
    ):
        return distribution.base_dist
    raise TypeError(
        f"kl_per_dimension needs a {role} factorised over latent dimensions "
        f"(Independent(base, 1)), got {type(distribution).__name__}"
    )
