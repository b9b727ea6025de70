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
    :func:`pyautoencoder.evaluation.log_likelihood_estimate`) and ``reconstruction_error``;
    for quantized models the code usage over the held-out set (``usage_codes_used``,
    ``usage_perplexity``, ``usage_entropy``, ``usage_dead_codes``;
    :func:`pyautoencoder.evaluation.code_usage`); for sparse autoencoders ``l0``, ``fvu`` and
    ``dead_fraction`` (:func:`pyautoencoder.evaluation.sparse_code_metrics`).
    """
    from .. import evaluation
    from ..evaluation._common import condition_count

    x = tensors[0]
    metrics = {"loss": held_out_loss(model, tensors, loss_kwargs, seed=seed)}
    likelihood = loss_kwargs.get("likelihood")
    # A conditional model (the CVAE) is evaluated on (x, y) batches: bounds of log p(x | y).
    conditional = condition_count(model) == 1 and len(tensors) == 2
    data: Any = list(zip(x.split(256), tensors[1].split(256))) if conditional else x
    has_posterior = callable(getattr(model, "posterior", None)) and (
        len(tensors) == 1 or conditional
    )
    if has_posterior:
        metrics["elbo"] = evaluation.elbo(model, data, likelihood=likelihood, seed=seed).mean
        metrics["log_likelihood"] = evaluation.log_likelihood_estimate(
            model, data, num_samples=num_samples, likelihood=likelihood, seed=seed
        ).mean
    if len(tensors) == 1 or conditional:
        metrics["reconstruction_error"] = evaluation.reconstruction_error(
            model, data, likelihood=likelihood
        ).mean
    if callable(getattr(getattr(model, "quantizer", None), "count_codes", None)):
        metrics.update(evaluation.code_usage(model, x).as_dict())
    if "sparse_code" in getattr(type(model), "capabilities", frozenset()):
        sparse = evaluation.sparse_code_metrics(model, x)
        metrics.update(l0=sparse.l0, fvu=sparse.fvu, dead_fraction=sparse.dead_fraction)
    return metrics


def _same(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-4 * max(1.0, abs(a), abs(b))


def metric_rows(metrics: dict[str, float], *, num_samples: int) -> list[tuple[str, float]]:
    """``(label, value)`` of each held-out number, one row per number.

    The training objective (``loss``) gets its own row only where it is not the negative ELBO
    (a VAE with ``beta = 1``) or the reconstruction error (a plain autoencoder): one number is
    never shown under two names.
    """
    rows: list[tuple[str, float]] = []
    if "elbo" in metrics:
        rows.append(("held-out ELBO (nats)", metrics["elbo"]))
    if "log_likelihood" in metrics:
        label = f"held-out log p(x), IWAE bound K={num_samples} (nats)"
        rows.append((label, metrics["log_likelihood"]))
    if "reconstruction_error" in metrics:
        rows.append(("reconstruction error (nats)", metrics["reconstruction_error"]))
    loss = metrics.get("loss")
    if loss is not None:
        duplicates = ("elbo" in metrics and _same(loss, -metrics["elbo"])) or (
            "reconstruction_error" in metrics and _same(loss, metrics["reconstruction_error"])
        )
        if not duplicates:
            rows.insert(0, ("held-out training objective", loss))
    usage_labels = {
        "usage_codes_used": "held-out codes used (fraction of the codebook)",
        "usage_perplexity": "held-out code perplexity",
        "usage_entropy": "held-out code usage entropy (nats)",
        "usage_dead_codes": "held-out dead codes (never chosen)",
    }
    rows += [(label, metrics[key]) for key, label in usage_labels.items() if key in metrics]
    sparse_labels = {
        "l0": "held-out L0 (active latents per example)",
        "fvu": "held-out fraction of variance unexplained",
        "dead_fraction": "latents never active on held-out data (share)",
    }
    rows += [(label, metrics[key]) for key, label in sparse_labels.items() if key in metrics]
    return rows


def metric_notes(metrics: dict[str, float], rows: list[tuple[str, float]]) -> list[str]:
    """Sentences that say what the numbers of :func:`metric_rows` measure."""
    notes = []
    if "elbo" in metrics:
        notes.append(
            "The ELBO is E_q[log p(x | z)] - KL(q(z | x) || p(z)), a lower bound on log p(x) "
            "estimated with one draw of z per example; -ELBO is the training loss of a VAE with "
            "beta = 1. The IWAE bound with K draws lies between the ELBO and log p(x)."
        )
    if "reconstruction_error" in metrics and "elbo" in metrics:
        notes.append(
            "The reconstruction error is -log p(x | x_hat) per example under the run's "
            "likelihood, with x_hat decoded once from the posterior mean. It has no KL term and "
            "no sampling, so it is not -ELBO (it can be smaller or larger) and not a bound on "
            "log p(x): it measures only how well inputs are reproduced."
        )
    elif "reconstruction_error" in metrics:
        notes.append(
            "The reconstruction error is -log p(x | x_hat) per example under the run's "
            "likelihood, with x_hat decoded from the model's code; this model has no ELBO."
        )
    if "l0" in metrics:
        notes.append(
            "L0 is the mean number of non-zero latents per example; the fraction of variance "
            "unexplained is sum ||x - x_hat||^2 / sum ||x - mean x||^2 over the held-out "
            "examples (0: perfect, 1: no better than the mean); a latent never active on any "
            "held-out example counts as dead."
        )
    if rows and rows[0][0] == "held-out training objective":
        notes.append(
            "The training objective is the loss the optimizer minimised, evaluated on the "
            "held-out data; where a model weights or adds terms (beta, penalties, a K-sample "
            "bound, the VQ loss) they are in it, so in general it is neither -ELBO nor the "
            "reconstruction error."
        )
    return notes
