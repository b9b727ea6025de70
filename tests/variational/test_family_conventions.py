"""The variational family follows the VAE conventions (C-BASE-3, C-BASE-5, C-VAE-3/4) and has
``sample``, ``reconstruct``, ``posterior(x)`` and ``prior`` as ``torch.distributions`` objects.

Parametrized over the model registry: every registered model whose encoder outputs features
(``latent="features"``, the VAE family) is built by hand, unbuilt, from lazy networks, so a
newly registered variational model is checked without editing this file. Per-model hints
(constructor arguments for a tiny model) and the checks that do not apply live below, in the
test, never on the model classes.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import pytest
import torch
from torch import distributions as D
from torch import nn

from pyautoencoder.registry import get_model_entry, list_models
from pyautoencoder.variational import VAE

LATENT_DIM = 3

#: Every registered model of the VAE family (its encoder outputs features).
FAMILY = sorted(name for name in list_models() if get_model_entry(name).latent == "features")

#: Constructor arguments a model needs (CVAE's classes) or that keep it tiny.
HINTS: dict[str, dict[str, Any]] = {
    "cvae": {"condition_dim": 2},
    "iwae": {"num_samples": 2},
    "factor_vae": {"discriminator_hidden": (8,)},
    "vae_gan": {"discriminator_hidden": (8,)},
    "hierarchical_vae": {"hidden_dim": 8},
    "ladder_vae": {"hidden_dim": 8},
}

#: model name -> {check: the reason it does not apply}.
SKIPS: dict[str, dict[str, str]] = {
    "hierarchical_vae": {
        "prior": "its prior is the top-down hierarchy p(z_1 | z_2) p(z_2), "
        "not one torch Distribution"
    },
    "ladder_vae": {
        "prior": "its prior is the top-down hierarchy p(z_1 | z_2) p(z_2), "
        "not one torch Distribution"
    },
}


#: Models whose posterior moments are per sample, ``mu, log_var [B, S, D]`` (a top-down
#: posterior: the lower groups' moments depend on the sampled upper groups); the others have
#: ``mu, log_var [B, D]``.
PER_SAMPLE_MOMENTS = {"hierarchical_vae", "ladder_vae"}


def _moments(name: str, moment: torch.Tensor) -> torch.Tensor:
    """``moment`` as ``[B, D]`` (the encoding's single sample for per-sample moments)."""
    if name in PER_SAMPLE_MOMENTS:
        assert moment.shape[1] == 1
        return moment.squeeze(1)
    return moment


def _build(name: str) -> VAE:
    """The unbuilt model ``name`` on lazy networks (inputs of 5 features)."""
    entry = get_model_entry(name)
    assert entry.latent_arg is not None
    kwargs = {entry.latent_arg: LATENT_DIM, **HINTS.get(name, {})}
    return entry.cls(_encoder(), _decoder(), **kwargs)  # type: ignore[return-value]


FACTORIES: dict[str, Callable[[], VAE]] = {
    name: (lambda name=name: _build(name))
    for name in FAMILY  # type: ignore[misc]
}


def _encoder() -> nn.Module:
    return nn.Sequential(nn.LazyLinear(8), nn.Tanh())


def _decoder() -> nn.Module:
    return nn.Sequential(nn.LazyLinear(8), nn.Tanh(), nn.Linear(8, 5))


def _conditional(model: nn.Module) -> bool:
    return "conditional" in getattr(type(model), "capabilities", frozenset())


def _inputs(model: VAE) -> tuple[torch.Tensor, ...]:
    x = torch.randn(4, 5)
    return (x, torch.tensor([0, 1, 1, 0])) if _conditional(model) else (x,)


def test_the_family_covers_the_2x_variational_models() -> None:
    expected = {"vae", "iwae", "beta_tcvae", "dip_vae", "info_vae", "wae", "cvae"}
    assert expected <= set(FAMILY)
    assert set(HINTS) | set(SKIPS) | PER_SAMPLE_MOMENTS <= set(
        FAMILY
    )  # no hint for a model that is gone


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_encode_decode_run_without_grad_and_keep_modes(name: str) -> None:
    model = FACTORIES[name]()
    inputs = _inputs(model)
    model.build(inputs[0])
    model.train()
    enc = model.encode(*inputs)
    dims = enc.mu.shape[-1]  # LATENT_DIM, or the sum over a hierarchy's groups
    assert dims % LATENT_DIM == 0
    assert enc.z.shape == (4, 1, dims) and not enc.z.requires_grad and not enc.z.is_inference()
    condition = inputs[1:]
    dec = model.decode(enc.z, *condition)
    assert dec.x_hat.shape == (4, 1, 5) and not dec.x_hat.requires_grad
    assert model.training and torch.is_grad_enabled()
    torch.testing.assert_close(enc.z, _moments(name, enc.mu).unsqueeze(1))  # the mean by default


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_unbuilt_model_loads_a_built_state_dict(name: str) -> None:
    torch.manual_seed(0)
    source = FACTORIES[name]()
    inputs = _inputs(source)
    source.build(inputs[0])
    target = FACTORIES[name]()
    target.load_state_dict(source.state_dict(), strict=True)
    a = source(*inputs, sample=False)
    b = target(*inputs, sample=False)
    torch.testing.assert_close(a.x_hat, b.x_hat)
    torch.testing.assert_close(a.mu, b.mu)  # any shape: [B, D] or [B, S, D]


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_seeded_loss_is_deterministic_and_samples_in_eval_mode(name: str) -> None:
    torch.manual_seed(0)
    model = FACTORIES[name]()
    inputs = _inputs(model)
    model.build(inputs[0])
    losses = []
    for mode in (True, False):
        model.train(mode)
        torch.manual_seed(3)
        out = model(*inputs, S=2)
        losses.append(model.compute_loss(inputs[0], out).objective.detach())
    torch.testing.assert_close(losses[0], losses[1])  # no dropout/BatchNorm: same in eval
    for value in model.compute_loss(inputs[0], model(*inputs, S=2)).diagnostics.values():
        assert value.dim() == 0 and not value.requires_grad


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_sample_reconstruct_posterior_and_prior(name: str) -> None:
    torch.manual_seed(0)
    model = FACTORIES[name]()
    inputs = _inputs(model)
    model.build(inputs[0])
    condition = inputs[1:]
    enc = model.encode(*inputs)
    dims = enc.mu.shape[-1]

    posterior = model.posterior(*inputs)
    assert isinstance(posterior, D.Distribution)
    assert posterior.batch_shape == (4,) and posterior.event_shape == (dims,)
    torch.testing.assert_close(posterior.mean, _moments(name, enc.mu))
    torch.testing.assert_close(posterior.variance, _moments(name, enc.log_var).exp())
    assert posterior.rsample((2,)).shape == (2, 4, dims) and posterior.entropy().shape == (4,)
    if "prior" not in SKIPS.get(name, {}):
        prior = model.prior
        assert isinstance(prior, D.Distribution) and prior.event_shape == (dims,)
        z = torch.randn(6, dims)
        standard = D.Independent(D.Normal(torch.zeros(dims), torch.ones(dims)), 1)
        torch.testing.assert_close(prior.log_prob(z), standard.log_prob(z))

    expected = model.decode(enc.z, *condition).x_hat.squeeze(1)
    torch.testing.assert_close(model.reconstruct(*inputs), expected)
    if condition:  # CVAE: num_samples per condition, [B_y, num_samples, ...]
        samples, expected_shape = model.sample(7, torch.tensor([0, 1])), (2, 7, 5)
    else:
        samples, expected_shape = model.sample(7), (7, 5)
    assert samples.shape == expected_shape and not samples.requires_grad
    assert torch.isfinite(samples).all()


HostReads = Callable[[], AbstractContextManager[dict[str, int]]]  # the conftest fixture


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_training_step_reads_no_tensor_value_with_value_checks_off(
    name: str, host_reads: HostReads
) -> None:
    import pyautoencoder

    torch.manual_seed(0)
    model = FACTORIES[name]()
    inputs = _inputs(model)
    model.build(inputs[0])
    with pyautoencoder.value_checks(False), host_reads() as counts:
        model.compute_loss(inputs[0], model(*inputs, S=2)).objective.backward()
    assert sum(counts.values()) == 0
