"""String options are resolved once, at construction, never compared in a training step.

Issue 12: ``kl_estimator`` (VAE), ``gradient_estimator`` (ImportanceWeightedBound),
``scale_mode`` (Gaussian/Laplace likelihoods) and RAE's ``regularizer`` become what the step
branches on when the object is built. Each test builds the object, records a seeded step,
then replaces the option's string by a trap that fails on any comparison or hashing and runs
the same step again: it must give the same numbers without touching the trap.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch
from torch import nn

from pyautoencoder.distributions import GaussianLikelihood
from pyautoencoder.objectives import ImportanceWeightedBound
from pyautoencoder.vanilla import RAE
from pyautoencoder.variational import VAE


class _Trap:
    """Stands in for an option string; comparing or hashing it fails the test."""

    def __eq__(self, other: object) -> bool:
        raise AssertionError(f"the step compared the option string with {other!r}")

    __ne__ = __eq__  # type: ignore[assignment]

    def __hash__(self) -> int:
        raise AssertionError("the step hashed the option string")


def _step(model: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """A seeded forward + loss + backward: the objective and every gradient."""
    model.zero_grad()
    torch.manual_seed(3)
    loss = model.compute_loss(x, model(x)).objective
    loss.backward()
    return loss.detach(), [p.grad.clone() for p in model.parameters() if p.grad is not None]


def _same_step_with_trap(model: nn.Module, owner: Any, attribute: str, x: torch.Tensor) -> None:
    expected, expected_grads = _step(model, x)
    assert isinstance(getattr(owner, attribute), str)
    object.__setattr__(owner, attribute, _Trap())
    got, grads = _step(model, x)
    torch.testing.assert_close(got, expected, rtol=0, atol=0)
    assert len(grads) == len(expected_grads)
    for a, b in zip(grads, expected_grads, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def _vae(**kwargs: Any) -> VAE:
    torch.manual_seed(0)
    model = VAE(nn.Sequential(nn.Linear(6, 8), nn.Tanh()), nn.Linear(2, 6), 2, **kwargs)
    model.build(torch.zeros(1, 6))
    return model


X = torch.linspace(-1.0, 1.0, 24).reshape(4, 6)


@pytest.mark.parametrize("kl_estimator", ["auto", "analytic", "monte_carlo"])
def test_vae_kl_estimator(kl_estimator: str) -> None:
    model = _vae(kl_estimator=kl_estimator)
    _same_step_with_trap(model, model, "kl_estimator", X)


@pytest.mark.parametrize("estimator", ["iwae", "dreg"])
def test_importance_weighted_gradient_estimator(estimator: str) -> None:
    objective = ImportanceWeightedBound(3, estimator)  # type: ignore[arg-type]
    model = _vae(objective=objective)
    _same_step_with_trap(model, objective, "gradient_estimator", X)


SCALES: dict[str, Callable[[], GaussianLikelihood]] = {
    "fixed": lambda: GaussianLikelihood(scale=0.5),
    "learned": lambda: GaussianLikelihood(scale="learned"),
    "per_feature": lambda: GaussianLikelihood(scale="per_feature", feature_shape=(6,)),
    "decoder": lambda: GaussianLikelihood(scale="decoder"),
}


@pytest.mark.parametrize("mode", sorted(SCALES))
def test_likelihood_scale_mode(mode: str) -> None:
    likelihood = SCALES[mode]()
    decoder_outputs = 12 if mode == "decoder" else 6  # location and log-scale per feature
    torch.manual_seed(0)
    model = VAE(
        nn.Sequential(nn.Linear(6, 8), nn.Tanh()),
        nn.Linear(2, decoder_outputs),
        2,
        likelihood=likelihood,
    )
    model.build(torch.zeros(1, 6))
    assert likelihood.scale_mode == mode
    _same_step_with_trap(model, likelihood, "scale_mode", X)


@pytest.mark.parametrize("regularizer", ["gradient_penalty", "weight_decay", "none"])
def test_rae_regularizer(regularizer: str) -> None:
    torch.manual_seed(0)
    model = RAE(nn.Linear(6, 2), nn.Linear(2, 6), 2, regularizer=regularizer)  # type: ignore[arg-type]
    _same_step_with_trap(model, model, "regularizer", X)


def test_the_trap_catches_a_step_that_compares() -> None:
    class Reads(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.weight = nn.Parameter(torch.ones(()))
            self.mode = "a"

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x * self.weight if self.mode == "a" else x

        def compute_loss(self, x: torch.Tensor, out: torch.Tensor) -> Any:
            return type("R", (), {"objective": out.sum()})()

    model = Reads()
    with pytest.raises(AssertionError, match="compared the option string"):
        _same_step_with_trap(model, model, "mode", X)
