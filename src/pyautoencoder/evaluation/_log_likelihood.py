r"""Importance-sampled ``log p(x)`` and the ELBO of a model with a posterior.

Both draw ``z_k ~ q(z | x)`` in chunks of ``chunk_size`` samples, so the largest tensor has
``B * chunk_size`` rows whatever the number of samples ``K``.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator

import torch
from torch import distributions as D
from torch import nn

from ..distributions._likelihood import Likelihood, get_likelihood
from ..loss._sampled import sampled_log_likelihood
from ._common import (
    DataSource,
    LikelihoodSpec,
    check_count,
    check_latents,
    check_posterior_model,
    decode_samples,
    draw_latents,
    evaluation_mode,
    iterate_inputs,
    make_generator,
    model_device,
    posterior_of,
    prior_of,
    resolve_likelihood,
    seeded_global_rng,
    uses_generator,
)
from ._results import ELBOEstimate, LogLikelihoodEstimate, mean_and_standard_error


def _sample_chunks(
    model: nn.Module,
    x: torch.Tensor,
    posterior: D.Distribution,
    prior: D.Distribution,
    num_samples: int,
    chunk_size: int,
    likelihood: Likelihood,
    generator: torch.Generator | None,
    condition: tuple[torch.Tensor, ...] = (),
) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    r"""Yield ``(log p(x|z), log p(z), log q(z|x))`` chunk by chunk, each ``[B, C]`` float64.

    ``C <= chunk_size``; the chunks together hold ``num_samples`` draws ``z_k ~ q(z | x)``
    per example (``q(z | x, y)`` and ``p(x | z, y)`` with a ``condition`` ``(y,)``).
    """
    rng = (
        contextlib.nullcontext()
        if uses_generator(posterior)
        else seeded_global_rng(generator, x.device)
    )
    with rng:
        for start in range(0, num_samples, chunk_size):
            count = min(chunk_size, num_samples - start)
            z = draw_latents(posterior, count, generator)  # [C, B, D_z]
            check_latents(z, posterior, count)
            x_hat = decode_samples(model, z, *condition)  # [B, C, ...]
            log_lik = sampled_log_likelihood(x, x_hat, likelihood)  # [B, C]
            log_prior = prior.log_prob(z).transpose(0, 1)  # [B, C]
            log_q = posterior.log_prob(z).transpose(0, 1)  # [B, C]
            yield log_lik.double(), log_prior.double(), log_q.double()


def _model_chunks(
    model: nn.Module,
    x: torch.Tensor,
    num_samples: int,
    chunk_size: int,
    likelihood: Likelihood,
    generator: torch.Generator | None,
) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """Like :func:`_sample_chunks` for a model that draws its own samples (``sample_log_terms``:
    hierarchical VAEs, whose posterior is not one distribution over one ``z``)."""
    with seeded_global_rng(generator, x.device):
        for start in range(0, num_samples, chunk_size):
            count = min(chunk_size, num_samples - start)
            terms = model.sample_log_terms(x, count, likelihood)  # type: ignore[operator]
            yield tuple(t.double() for t in terms)


def _chunks(
    model: nn.Module,
    x: torch.Tensor,
    num_samples: int,
    chunk_size: int,
    likelihood: Likelihood,
    generator: torch.Generator | None,
    condition: tuple[torch.Tensor, ...] = (),
) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """``(log p(x|z), log p(z), log q(z|x))`` chunks, from the model's own sampler if it has one."""
    if callable(getattr(model, "sample_log_terms", None)):
        return _model_chunks(model, x, num_samples, chunk_size, likelihood, generator)
    posterior = posterior_of(model, x, *condition)
    prior = prior_of(model)
    return _sample_chunks(
        model, x, posterior, prior, num_samples, chunk_size, likelihood, generator, condition
    )


def log_likelihood_estimate(
    model: nn.Module,
    data: DataSource,
    num_samples: int = 1000,
    *,
    batch_size: int = 64,
    chunk_size: int = 64,
    likelihood: LikelihoodSpec | None = None,
    generator: torch.Generator | None = None,
    seed: int | None = None,
) -> LogLikelihoodEstimate:
    r"""Importance-sampled estimate of ``log p(x)`` with the posterior as proposal.

    For each example, with ``z_k ~ q(z | x)`` i.i.d.,

    .. math::

        \hat{\mathcal L}_K(x) = \log \frac1K \sum_{k=1}^K
            \frac{p(x \mid z_k)\, p(z_k)}{q(z_k \mid x)}
        = \operatorname{logsumexp}_k \log w_k - \log K,

    the ``K``-sample importance-weighted bound of Burda, Grosse & Salakhutdinov (2016, eq. 8).
    Its expectation is a lower bound on ``log p(x)`` that is the ELBO at ``K = 1``, increases
    with ``K`` and converges to ``log p(x)`` as ``K -> infinity`` (their Theorem 1); used with
    large ``K`` (Burda et al. use 5000) it is the standard log-likelihood estimate of a VAE.

    The ``logsumexp`` is streamed over chunks of ``chunk_size`` samples,
    ``acc <- logaddexp(acc, logsumexp_chunk(log w))`` in float64, so the largest tensor has
    ``batch_size * chunk_size`` rows (``z [C, B, D_z]``, ``x_hat [B, C, ...]``) whatever ``K``.

    Runs under ``torch.no_grad()`` with every submodule in eval mode (their modes are restored
    afterwards).

    Parameters
    ----------
    model : nn.Module
        A model with the posterior interface: ``posterior(x)`` (batch ``[B]``, event
        ``[D_z]``), ``prior`` (event ``[D_z]``) and ``_decode(z [B, K, D_z]).x_hat``.
    data : torch.Tensor or iterable
        ``[N, ...]`` (split into ``batch_size`` batches) or an iterable of batches (tensors or
        ``(x, ...)`` tuples, e.g. a ``DataLoader``). A conditional model (CVAE) needs batches
        ``(x, y)``: its bound is on ``log p(x | y)``, with ``q(z | x, y)`` and
        ``p(x | z, y)``.
    num_samples : int
        ``K >= 1``.
    batch_size : int
        Examples per batch when ``data`` is a tensor.
    chunk_size : int
        Samples decoded at once; bounds the peak memory.
    likelihood : LikelihoodType, str, Likelihood or None
        The observation model ``p(x | z)``; ``None`` takes the model's ``likelihood``
        attribute when it has one, else ``"gaussian"`` (the 2.x default, whose constant
        ``-0.5 log(2 pi)`` per dimension is omitted: add ``-0.5 D log(2 pi)`` for a density).
    generator, seed :
        The randomness: a ``torch.Generator`` on the model's device, or a seed for a new one
        (not both). Diagonal-Gaussian and full-covariance Gaussian posteriors are sampled as
        ``mu + L eps`` with ``eps`` from this generator and leave the global RNG untouched;
        other posteriors use ``rsample`` on a forked global RNG seeded from it. With neither,
        the global RNG is used. Results are reproducible for a fixed seed, ``batch_size`` and
        ``chunk_size``.

    Returns
    -------
    LogLikelihoodEstimate
        Per-example values ``[N]``, their mean, standard error and bits/dim, and the effective
        sample size of each example's weights.
    """
    model = check_posterior_model(model, "log_likelihood_estimate")
    num_samples = check_count(num_samples, "num_samples")
    chunk_size = check_count(chunk_size, "chunk_size")
    device = model_device(model)
    rng = make_generator(generator, seed, device)
    values: list[torch.Tensor] = []
    sizes: list[torch.Tensor] = []
    num_dims = 0
    with evaluation_mode(model):
        observation = get_likelihood(resolve_likelihood(model, likelihood))
        for x, condition in iterate_inputs(model, data, batch_size, device):
            num_dims = x[0].numel()
            lse_w = torch.full((x.shape[0],), -math.inf, dtype=torch.float64, device=device)
            lse_w2 = lse_w.clone()
            chunks = _chunks(model, x, num_samples, chunk_size, observation, rng, condition)
            for log_lik, log_prior, log_q in chunks:
                log_w = log_lik + log_prior - log_q  # [B, C]
                lse_w = torch.logaddexp(lse_w, log_w.logsumexp(dim=1))
                lse_w2 = torch.logaddexp(lse_w2, (2.0 * log_w).logsumexp(dim=1))
            values.append((lse_w - math.log(num_samples)).cpu())
            sizes.append(torch.exp(2.0 * lse_w - lse_w2).cpu())
    per_example = torch.cat(values)
    mean, standard_error = mean_and_standard_error(per_example)
    return LogLikelihoodEstimate(
        values=per_example,
        mean=mean,
        standard_error=standard_error,
        num_dims=num_dims,
        num_samples=num_samples,
        effective_sample_size=torch.cat(sizes),
    )


def elbo(
    model: nn.Module,
    data: DataSource,
    num_samples: int = 1,
    *,
    batch_size: int = 64,
    chunk_size: int = 64,
    likelihood: LikelihoodSpec | None = None,
    generator: torch.Generator | None = None,
    seed: int | None = None,
) -> ELBOEstimate:
    r"""The evidence lower bound of every example (Kingma & Welling 2014, eq. 3 and 7).

    .. math::

        \mathrm{ELBO}(x) = \frac1S \sum_{s=1}^S \log p(x \mid z_s)
            - \mathrm{KL}(q(z \mid x) \,\|\, p(z)), \qquad z_s \sim q(z \mid x).

    The KL is closed form when ``torch.distributions.kl_divergence`` knows the pair (diagonal
    Gaussian posterior and ``N(0, I)`` prior: Kingma & Welling 2014, Appendix B); otherwise it
    is the Monte Carlo estimate :math:`\frac1S\sum_s \log q(z_s \mid x) - \log p(z_s)` with
    the same samples. Unlike a model's ``compute_loss`` there is no ``beta``: this is the
    bound on ``log p(x)``.

    Parameters are those of :func:`log_likelihood_estimate`, with ``num_samples`` = ``S``.

    Returns
    -------
    ELBOEstimate
        Per-example ELBO ``[N]`` with its ``reconstruction`` and ``kl`` terms, mean, standard
        error and bits/dim.
    """
    model = check_posterior_model(model, "elbo")
    num_samples = check_count(num_samples, "num_samples")
    chunk_size = check_count(chunk_size, "chunk_size")
    device = model_device(model)
    rng = make_generator(generator, seed, device)
    reconstruction: list[torch.Tensor] = []
    kl: list[torch.Tensor] = []
    num_dims = 0
    with evaluation_mode(model):
        observation = get_likelihood(resolve_likelihood(model, likelihood))
        for x, condition in iterate_inputs(model, data, batch_size, device):
            num_dims = x[0].numel()
            log_lik_sum = torch.zeros(x.shape[0], dtype=torch.float64, device=device)
            log_ratio_sum = torch.zeros_like(log_lik_sum)
            chunks = _chunks(model, x, num_samples, chunk_size, observation, rng, condition)
            for log_lik, log_prior, log_q in chunks:
                log_lik_sum += log_lik.sum(dim=1)
                log_ratio_sum += (log_q - log_prior).sum(dim=1)
            reconstruction.append((log_lik_sum / num_samples).cpu())
            kl_estimate = log_ratio_sum / num_samples
            if not callable(getattr(model, "sample_log_terms", None)):
                posterior = posterior_of(model, x, *condition)
                kl_estimate = _kl_or_estimate(posterior, prior_of(model), kl_estimate)
            kl.append(kl_estimate.cpu())
    recon = torch.cat(reconstruction)
    kl_values = torch.cat(kl)
    per_example = recon - kl_values
    mean, standard_error = mean_and_standard_error(per_example)
    return ELBOEstimate(
        values=per_example,
        mean=mean,
        standard_error=standard_error,
        num_dims=num_dims,
        reconstruction=recon,
        kl=kl_values,
        num_samples=num_samples,
    )


def _kl_or_estimate(
    posterior: D.Distribution, prior: D.Distribution, estimate: torch.Tensor
) -> torch.Tensor:
    """Closed-form ``KL(q || p)`` ``[B]`` (float64) when registered, else ``estimate``."""
    try:
        exact = D.kl_divergence(posterior, prior)
    except NotImplementedError:
        return estimate
    if exact.shape != estimate.shape:
        return estimate
    return exact.double()
