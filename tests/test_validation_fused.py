"""Fused value checks (one host read per model call) and the per-model switch.

A model's ``forward`` and ``compute_loss`` record their value checks and settle them together:
one reduction per tensor, one read, and the exact per-argument tests only when that read says
something is off. ``model.value_checks`` overrides the default of ``set_value_checks`` for one
model (like ``validate_args`` of a ``torch.distributions`` object), and nothing in ``fit()`` or
the priors changes a process-wide switch.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import distributions as D
from torch import nn

import pyautoencoder
from pyautoencoder._base import BaseAutoencoder
from pyautoencoder._validation import (
    ValueCheckScope,
    check_all_finite,
    check_in_closed_interval,
    vouch_finite,
)
from pyautoencoder.distributions import MixtureOfGaussiansPrior
from pyautoencoder.distributions._likelihood import BernoulliLikelihood, UnitGaussianLikelihood
from pyautoencoder.loss import LossResult
from pyautoencoder.vanilla import AE, AEOutput
from pyautoencoder.variational import IWAE, VAE

HostReads = Callable[[], AbstractContextManager[dict[str, int]]]  # the conftest fixture


def _vae(cls: type[VAE] = VAE, **kwargs: Any) -> VAE:
    encoder = nn.Sequential(nn.Linear(6, 8), nn.Tanh())
    kwargs.setdefault("likelihood", "bernoulli")
    return cls(encoder, nn.Linear(3, 6), 3, **kwargs)


def _data(seed: int = 0) -> torch.Tensor:
    return torch.bernoulli(torch.full((5, 6), 0.4), generator=torch.Generator().manual_seed(seed))


def _with(tensor: torch.Tensor, value: float, index: int = 1) -> torch.Tensor:
    out = tensor.detach().clone()
    out.view(-1)[index] = value
    return out


# One read per call ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make",
    [
        lambda: _vae(),
        lambda: _vae(IWAE, num_samples=3),
        lambda: _vae(VAE, free_bits=0.1),
        lambda: VAE(nn.Linear(6, 8), nn.Linear(3, 6), 3),  # unit-Gaussian likelihood
    ],
    ids=["vae", "iwae", "vae_free_bits", "vae_gaussian"],
)
def test_checked_compute_loss_reads_the_host_once(
    make: Callable[[], VAE], host_reads: HostReads
) -> None:
    torch.manual_seed(0)
    model, x = make(), _data()
    model.build(x)
    output = model(x)
    kwargs = {} if isinstance(model, IWAE) else {"beta": torch.tensor(0.5)}  # tensor beta: a check
    with host_reads() as counts:
        model.compute_loss(x, output, **kwargs)
    assert counts["tolist"] == 1 and sum(counts.values()) == 1  # one read of the stacked tests


def test_checked_ae_loss_reads_the_host_once(host_reads: HostReads) -> None:
    model, x = AE(nn.Linear(6, 3), nn.Linear(3, 6)), _data()
    output = model(x)
    with host_reads() as counts:
        model.compute_loss(x, output, likelihood="bernoulli")
    assert counts["tolist"] == 1 and sum(counts.values()) == 1


def test_the_first_recorded_check_is_reported_when_several_fail() -> None:
    """NaN in ``mu`` and in ``x_hat``: ``mu`` is checked first, as before the fusion."""
    model, x = _vae(), _data()
    output = model(x)
    output.mu = _with(output.mu, float("nan"))
    output.x_hat = _with(output.x_hat, float("inf"))
    with pytest.raises(ValueError, match=r"^mu must be finite"):
        model.compute_loss(x, output)


@pytest.mark.parametrize("field", ["mu", "log_var", "x_hat"])
@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")])
@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
@pytest.mark.parametrize("cls", [VAE, IWAE])
def test_one_non_finite_value_is_named_through_the_witnesses(
    field: str, value: float, likelihood: str, cls: type[VAE]
) -> None:
    """The fused test reads the two 0-dim means, not the tensors: each bad value still fails.

    (The means vouch for the per-input terms, which vouch for the KL per dimension and the
    log-likelihood, which vouch for ``mu``/``log_var`` and ``x``/``x_hat``.)
    """
    model, x = _vae(cls, likelihood=likelihood), _data()
    output = model(x)
    setattr(output, field, _with(getattr(output, field), value))
    with pytest.raises(ValueError, match=rf"^{field} must be finite"):
        model.compute_loss(x, output)


@pytest.mark.parametrize("bad", [1.5, -0.5, float("nan"), float("inf")])
def test_checks_on_an_expanded_view_see_each_value(bad: float) -> None:
    """``x`` against K samples is an expanded view; the fused test reads it once, not K times,
    and still finds a bad value."""
    x = torch.tensor([[0.2, 0.7], [0.1, bad]])
    view = x.unsqueeze(1).expand(2, 4, 2)
    with pytest.raises(ValueError, match=r"^x must"), ValueCheckScope():
        check_all_finite(x=view)
        check_in_closed_interval("x", view, 0.0, 1.0)


def test_an_iwae_names_a_target_outside_the_bernoulli_support() -> None:
    model, x = _vae(IWAE, num_samples=4), _data()
    with pytest.raises(ValueError, match=r"x \(Bernoulli targets\) must lie in \[0, 1\]"):
        model.compute_loss(_with(x, 1.5), model(x))


def test_a_support_error_is_still_named_inside_a_model_call() -> None:
    model = _vae()
    x = _data()
    with pytest.raises(ValueError, match=r"x \(Bernoulli targets\) must lie in \[0, 1\]"):
        model.compute_loss(_with(x, 1.5), model(x))


@pytest.mark.parametrize("beta", [float("nan"), -1.0, float("inf")])
def test_a_bad_tensor_beta_is_named_inside_a_model_call(beta: float) -> None:
    model, x = _vae(), _data()
    with pytest.raises(ValueError, match=r"^beta must be finite and >= 0"):
        model.compute_loss(x, model(x), beta=torch.tensor(beta))


def test_finite_values_whose_sums_overflow_pass_inside_a_scope() -> None:
    big = torch.full((8,), 3e38)
    with ValueCheckScope():
        check_all_finite(big=big)
        check_in_closed_interval("big", big, 0.0, 3.4e38)


def test_an_error_downstream_of_a_bad_value_reports_the_value() -> None:
    """When the call fails after recording a failing check, the value error is raised, chained."""

    class Fragile(BaseAutoencoder):
        def _encode(self, x: torch.Tensor) -> AEOutput:
            return AEOutput(x_hat=x, z=x)

        def _decode(self, z: torch.Tensor) -> AEOutput:
            return AEOutput(x_hat=z, z=z)

        def forward(self, x: torch.Tensor) -> AEOutput:
            return self._encode(x)

        def compute_loss(self, x: torch.Tensor, output: AEOutput) -> LossResult:
            check_all_finite(x=x)
            raise RuntimeError("index out of range, caused by the NaN")

    with pytest.raises(ValueError, match=r"^x must be finite") as info:
        Fragile().compute_loss(
            _with(torch.zeros(4), float("nan")), AEOutput(torch.zeros(4), torch.zeros(4))
        )
    assert isinstance(info.value.__cause__, RuntimeError)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("likelihood", [BernoulliLikelihood(), UnitGaussianLikelihood()])
def test_the_vouching_likelihoods_are_non_finite_wherever_an_input_is(
    likelihood: BernoulliLikelihood | UnitGaussianLikelihood, dtype: torch.dtype
) -> None:
    """The claim behind ``propagates_non_finite``, for every pair of special and extreme values.

    Reference: the Bernoulli term as torch's ``binary_cross_entropy_with_logits`` and the
    Gaussian as the elementwise square, evaluated in float64 next to the library's own.
    """
    assert likelihood.propagates_non_finite()
    values = [float("nan"), float("inf"), -float("inf"), 0.0, 1.0, 0.5, -3.0, 1e30, -3e38, 3e38]
    pairs = [(a, b) for a, b in itertools.product(values, values)]
    x = torch.tensor([a for a, _ in pairs], dtype=dtype)
    x_hat = torch.tensor([b for _, b in pairs], dtype=dtype)
    log_p = likelihood.log_prob(x, x_hat)
    inputs_finite = torch.isfinite(x) & torch.isfinite(x_hat)
    assert not torch.isfinite(log_p[~inputs_finite]).any()
    summed = likelihood.log_prob_sum(x.reshape(-1, 1), x_hat.reshape(-1, 1), start_dim=1)
    assert not torch.isfinite(summed[~inputs_finite]).any()
    if isinstance(likelihood, BernoulliLikelihood):
        reference = -F.binary_cross_entropy_with_logits(
            x_hat.double(), x.double(), reduction="none"
        )
    else:
        reference = -0.5 * (x.double() - x_hat.double()).square()
    assert not torch.isfinite(reference[~inputs_finite]).any()


def test_a_subclass_with_its_own_formula_does_not_vouch() -> None:
    class Clipped(BernoulliLikelihood):
        def log_prob(self, x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
            return super().log_prob(x, x_hat.clamp(-10, 10))

    assert not Clipped().propagates_non_finite()
    # A clamped -inf logit gives a finite term: the fused test must still sum x_hat itself.
    model = VAE(nn.Linear(6, 8), nn.Linear(3, 6), 3, likelihood=Clipped())
    x = _data()
    output = model(x)
    output.x_hat = _with(output.x_hat, -float("inf"))
    with pytest.raises(ValueError, match=r"^x_hat must be finite"):
        model.compute_loss(x, output)


def test_vouching_outside_a_scope_does_nothing() -> None:
    vouch_finite(torch.zeros(2), torch.tensor([float("nan")]))  # no scope: no record, no error


# The per-model switch -------------------------------------------------------------------------


def test_value_checks_switch_defaults_to_none_and_takes_bools_only() -> None:
    model = _vae()
    assert model.value_checks is None
    for bad in (0, 1, "no"):
        with pytest.raises(TypeError, match=r"^value_checks must be True, False or None"):
            model.value_checks = bad  # type: ignore[assignment]


def test_a_model_switched_off_skips_its_checks_while_the_default_is_on(
    host_reads: HostReads,
) -> None:
    model, x = _vae(), _data()
    model.value_checks = False
    other = _vae()
    bad = _with(x, float("nan"))
    with host_reads() as counts:
        result = model.compute_loss(bad, model(x))
    assert sum(counts.values()) == 0
    assert torch.isnan(result.objective)
    assert pyautoencoder.value_checks_enabled()
    with pytest.raises(ValueError, match=r"^x must be finite"):
        other.compute_loss(bad, other(x))


def test_a_model_switched_off_restores_the_scope_it_found_also_on_error() -> None:
    model, x = _vae(), _data()
    model.value_checks = False
    seen: list[bool] = []
    encoder = model.encoder
    model.encoder = nn.Sequential(encoder, _Probe(seen))
    model(x)
    assert seen == [False]  # inside: off
    assert pyautoencoder.value_checks_enabled()  # after: the default again
    with ValueCheckScope(True, batch=False):
        with pytest.raises(ValueError, match=r"^x_hat must have shape"):
            model.compute_loss(x[:, :4], model(x))
        assert pyautoencoder.value_checks_enabled()  # the enclosing scope is back
        inner = _vae()  # a model following the default inside the enclosing scope checks
        with pytest.raises(ValueError, match=r"^x must be finite"):
            inner.compute_loss(_with(x, float("nan")), inner(x))


def test_a_checked_model_inside_a_switched_off_model_follows_it() -> None:
    outer, inner, x = _vae(), _vae(), _data()
    outer.value_checks = False

    class Wrapper(nn.Module):
        def forward(self, h: torch.Tensor) -> torch.Tensor:
            inner.compute_loss(_with(x, float("nan")), inner(x))  # inherits "off": no error
            return h

    outer.encoder = nn.Sequential(outer.encoder, Wrapper())
    outer(x)


class _Probe(nn.Module):
    """Records whether value checks are on when the model calls it."""

    def __init__(self, seen: list[bool]) -> None:
        super().__init__()
        self.seen = seen

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        self.seen.append(pyautoencoder.value_checks_enabled())
        return h


def test_a_model_switched_on_checks_while_the_default_is_off() -> None:
    model, x = _vae(), _data()
    model.value_checks = True
    with pyautoencoder.value_checks(False), pytest.raises(ValueError, match=r"^x must be finite"):
        model.compute_loss(_with(x, float("inf")), model(x))
    model.value_checks = None
    with pyautoencoder.value_checks(False):
        assert torch.isinf(model.compute_loss(_with(x, float("inf")), model(x)).objective)


def test_the_switch_is_not_part_of_the_state_dict() -> None:
    model = _vae()
    keys = set(model.state_dict())
    model.value_checks = False
    assert set(model.state_dict()) == keys


# No process-wide flips ------------------------------------------------------------------------


def test_priors_never_change_torch_default_validation(
    monkeypatch: pytest.MonkeyPatch, host_reads: HostReads
) -> None:
    def forbidden(value: bool) -> None:
        raise AssertionError("torch's process-wide validate_args default was changed")

    monkeypatch.setattr(D.Distribution, "set_default_validate_args", staticmethod(forbidden))
    prior = MixtureOfGaussiansPrior(3, num_components=2)
    z = torch.randn(4, 3)
    with pyautoencoder.value_checks(False), host_reads() as counts:
        prior.log_prob(z)
        prior.sample(2)
    assert sum(counts.values()) == 0
    assert prior.distribution()._validate_args == D.Distribution._validate_args


def test_fit_leaves_the_default_and_torch_validation_alone() -> None:
    from pyautoencoder.training import fit

    seen: dict[str, object] = {}

    class Probe:
        def on_step_end(self, trainer: object, step: int) -> None:
            if step == 3:
                seen["default"] = pyautoencoder._validation._VALUE_CHECKS_ENABLED
                seen["torch"] = D.Distribution._validate_args
                seen["here"] = pyautoencoder.value_checks_enabled()
                other: dict[str, bool] = {}
                thread = threading.Thread(
                    target=lambda: other.update(on=pyautoencoder.value_checks_enabled())
                )
                thread.start()
                thread.join()
                seen["other_thread"] = other["on"]

    torch.manual_seed(0)
    torch_default = D.Distribution._validate_args
    model = _vae(VAE, prior=MixtureOfGaussiansPrior(3, num_components=2))
    fit(
        model,
        _data().repeat(4, 1),
        max_steps=4,
        batch_size=5,
        progress=False,
        accelerator="cpu",
        callbacks=[Probe()],
        log_every_n_steps=50,
    )
    assert seen == {"default": True, "torch": torch_default, "here": False, "other_thread": True}
    assert pyautoencoder.value_checks_enabled()
    assert D.Distribution._validate_args == torch_default


def test_fit_keeps_checking_a_model_switched_on() -> None:
    from pyautoencoder.training import fit

    calls: list[bool] = []

    class Probe:
        def on_step_end(self, trainer: object, step: int) -> None:
            with ValueCheckScope(model.value_checks):
                calls.append(pyautoencoder.value_checks_enabled())

    model = _vae()
    model.value_checks = True
    fit(
        model,
        _data().repeat(4, 1),
        max_steps=3,
        batch_size=5,
        progress=False,
        accelerator="cpu",
        callbacks=[Probe()],
        log_every_n_steps=50,
    )
    assert calls == [True, True, True]
