"""Held-out numbers of a trained model: loss, ELBO, importance-sampled log p(x), reconstruction."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..training._step import default_batch_fn


@torch.no_grad()
def held_out_loss(
    model: nn.Module,
    tensors: tuple[torch.Tensor, ...],
    loss_kwargs: dict[str, Any],
    *,
    batch_size: int = 256,
    seed: int = 0,
) -> float:
    """Example-weighted mean of ``compute_loss(...).objective`` over the held-out tensors.

    Runs in eval mode under a fixed seed (one posterior sample per example for the VAE family),
    so the number is reproducible; the global RNG is restored afterwards.
    """
    unpack = default_batch_fn(model)
    total, count = torch.zeros((), dtype=torch.float64), 0
    was_training = model.training
    model.eval()
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            for start in range(0, tensors[0].shape[0], batch_size):
                batch = tuple(t[start : start + batch_size] for t in tensors)
                x, extra = unpack(batch)
                compute_loss: Any = model.compute_loss
                objective = compute_loss(x, model(x, *extra), **loss_kwargs).objective
                total += objective.double() * x.shape[0]
                count += x.shape[0]
    finally:
        model.train(was_training)
    return float(total / max(count, 1))


def held_out_metrics(
    model: nn.Module,
    tensors: tuple[torch.Tensor, ...],
    loss_kwargs: dict[str, Any],
    *,
    num_samples: int = 100,
    seed: int = 0,
) -> dict[str, float]:
    """The numbers ``pyautoencoder evaluate`` prints, in nats per example.

    ``loss``: the training objective (``beta = 1`` for models whose ``compute_loss`` takes
    ``beta``); for models with a posterior also
    ``elbo`` (:func:`pyautoencoder.evaluation.elbo`, one sample), ``log_likelihood`` (the
    ``num_samples``-sample importance-weighted estimate of Burda et al. 2016, eq. 8, through
    :func:`pyautoencoder.evaluation.log_likelihood_estimate`) and ``reconstruction_error``.
    """
    from .. import evaluation

    x = tensors[0]
    metrics = {"loss": held_out_loss(model, tensors, loss_kwargs, seed=seed)}
    likelihood = loss_kwargs.get("likelihood")
    has_posterior = callable(getattr(model, "posterior", None)) and len(tensors) == 1
    if has_posterior:
        metrics["elbo"] = evaluation.elbo(model, x, likelihood=likelihood, seed=seed).mean
        metrics["log_likelihood"] = evaluation.log_likelihood_estimate(
            model, x, num_samples=num_samples, likelihood=likelihood, seed=seed
        ).mean
    if len(tensors) == 1:
        metrics["reconstruction_error"] = evaluation.reconstruction_error(
            model, x, likelihood=likelihood
        ).mean
    return metrics
