"""``fit(seed=...)`` decides every random number it draws, whatever the global RNG holds."""

from __future__ import annotations

import torch
from torch import nn
from training_helpers import FEATURES, LATENT, QUIET

from pyautoencoder.training import fit
from pyautoencoder.variational import VAE


def _lazy_vae() -> VAE:
    """A VAE whose every layer is lazy: all of its initial weights are drawn inside ``fit``."""
    encoder = nn.Sequential(nn.LazyLinear(16), nn.Tanh())
    decoder = nn.Sequential(nn.LazyLinear(16), nn.Tanh(), nn.LazyLinear(FEATURES))
    return VAE(encoder, decoder, LATENT)


def _fit(global_seed: int, fit_seed: int, data: tuple[torch.Tensor, torch.Tensor]) -> tuple:
    torch.manual_seed(global_seed)  # a different global RNG state when the model is made ...
    model = _lazy_vae()
    torch.rand(global_seed + 1)  # ... and when fit is called
    result = fit(model, data[0], data[1], epochs=2, batch_size=40, seed=fit_seed, **QUIET)
    losses = [(e["event"], e["step"], e["loss"]) for e in result.history]
    return losses, {k: v.clone() for k, v in model.state_dict().items()}


def test_fit_with_one_seed_gives_identical_runs_from_any_global_rng_state(data) -> None:
    losses_a, weights_a = _fit(11, 5, data)
    losses_b, weights_b = _fit(22, 5, data)
    assert losses_a == losses_b
    assert weights_a.keys() == weights_b.keys()
    assert all(torch.equal(weights_a[k], weights_b[k]) for k in weights_a)


def test_fit_with_another_seed_gives_another_run(data) -> None:
    losses_a, _ = _fit(11, 5, data)
    losses_b, _ = _fit(11, 6, data)
    assert losses_a != losses_b
