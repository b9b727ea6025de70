"""``log_likelihood``, ``LikelihoodType`` and ``LossResult`` (C-LOSS-1 to C-LOSS-4).

References are independent of the library: ``torch.distributions`` in float64.
"""

from __future__ import annotations

import dataclasses
import enum
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import distributions as D

from pyautoencoder.loss import LikelihoodType, LossResult, log_likelihood

pytestmark = pytest.mark.usefixtures("seeded")

HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


def gaussian_reference(x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
    """``log N(x; x_hat, 1)`` plus the omitted constant ``0.5 log(2 pi)``."""
    return D.Normal(x_hat, torch.ones_like(x_hat)).log_prob(x) + HALF_LOG_2PI


def bernoulli_reference(x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
    """``log Bernoulli(x; logits=x_hat)`` (soft targets allowed with validate_args=False)."""
    return D.Bernoulli(logits=x_hat, validate_args=False).log_prob(x)


# C-LOSS-1 / C-LOSS-2 --------------------------------------------------------------------------


def test_c_loss_1_likelihood_type_is_an_enum_with_two_members() -> None:
    """C-LOSS-1: ``GAUSSIAN = "gaussian"``, ``BERNOULLI = "bernoulli"``."""
    assert issubclass(LikelihoodType, enum.Enum)
    assert LikelihoodType.GAUSSIAN.value == "gaussian"
    assert LikelihoodType.BERNOULLI.value == "bernoulli"
    assert LikelihoodType("gaussian") is LikelihoodType.GAUSSIAN


def test_c_loss_2_loss_result_is_a_dataclass_with_objective_and_diagnostics() -> None:
    """C-LOSS-2: fields ``objective`` and ``diagnostics`` (in that order)."""
    assert dataclasses.is_dataclass(LossResult)
    assert [f.name for f in dataclasses.fields(LossResult)] == ["objective", "diagnostics"]
    weight = torch.ones((), requires_grad=True)
    result = LossResult(objective=weight * 2, diagnostics={"a": torch.zeros(())})
    assert result.objective.requires_grad  # keeps its graph
    result.objective.backward()
    assert weight.grad is not None


# C-LOSS-3 -------------------------------------------------------------------------------------


def test_c_loss_3_gaussian_matches_normal_log_prob_without_constant() -> None:
    """C-LOSS-3: gaussian is ``-0.5 (x - x_hat)^2`` = Normal(x_hat, 1).log_prob(x) + 0.5 log 2pi."""
    x = torch.randn(4, 3, 5, dtype=torch.float64)
    x_hat = torch.randn(4, 3, 5, dtype=torch.float64)
    torch.testing.assert_close(log_likelihood(x, x_hat), gaussian_reference(x, x_hat))
    torch.testing.assert_close(log_likelihood(x, x_hat, "gaussian"), -0.5 * (x - x_hat) ** 2)


def test_c_loss_3_bernoulli_matches_bernoulli_log_prob() -> None:
    """C-LOSS-3: bernoulli with logits equals Bernoulli(logits=x_hat).log_prob(x), binary x."""
    x = torch.randint(0, 2, (6, 7)).double()
    x_hat = 4 * torch.randn(6, 7, dtype=torch.float64)
    got = log_likelihood(x, x_hat, LikelihoodType.BERNOULLI)
    torch.testing.assert_close(got, D.Bernoulli(logits=x_hat).log_prob(x))


def test_c_loss_3_bernoulli_soft_targets_are_minus_bce_with_logits() -> None:
    """C-LOSS-3: soft targets in [0, 1]: ``x log s(x_hat) + (1 - x) log s(-x_hat)``."""
    x = torch.rand(5, 4, dtype=torch.float64)
    x_hat = 3 * torch.randn(5, 4, dtype=torch.float64)
    expected = x * torch.nn.functional.logsigmoid(x_hat) + (1 - x) * torch.nn.functional.logsigmoid(
        -x_hat
    )
    torch.testing.assert_close(log_likelihood(x, x_hat, "bernoulli"), expected)


def test_c_loss_3_bernoulli_is_stable_for_huge_logits_in_float32() -> None:
    """C-LOSS-3: the logits form is finite and exact where sigmoid would saturate."""
    x = torch.tensor([1.0, 0.0, 1.0, 0.0])
    x_hat = torch.tensor([200.0, -200.0, -200.0, 200.0])
    got = log_likelihood(x, x_hat, "bernoulli")
    assert torch.isfinite(got).all()
    torch.testing.assert_close(got, torch.tensor([0.0, 0.0, -200.0, -200.0]))


@pytest.mark.parametrize("spec", ["Gaussian", "GAUSSIAN", "gaussian", LikelihoodType.GAUSSIAN])
def test_c_loss_3_gaussian_names_are_case_insensitive(spec: object) -> None:
    """C-LOSS-3: enum or case-insensitive string give identical results."""
    x, x_hat = torch.randn(3, 2), torch.randn(3, 2)
    torch.testing.assert_close(log_likelihood(x, x_hat, spec), -0.5 * (x - x_hat) ** 2)  # type: ignore[arg-type]


@pytest.mark.parametrize("spec", ["Bernoulli", "BERNOULLI", "bernoulli", LikelihoodType.BERNOULLI])
def test_c_loss_3_bernoulli_names_are_case_insensitive(spec: object) -> None:
    """C-LOSS-3: enum or case-insensitive string give identical results."""
    x, x_hat = torch.rand(3, 2), torch.randn(3, 2)
    expected = bernoulli_reference(x.double(), x_hat.double()).float()
    torch.testing.assert_close(log_likelihood(x, x_hat, spec), expected)  # type: ignore[arg-type]


@pytest.mark.parametrize("shape", [(), (5,), (2, 3), (2, 3, 4), (1, 2, 1, 3, 2)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("likelihood", ["gaussian", "bernoulli"])
def test_c_loss_3_shape_dtype_device_of_x_for_any_number_of_dims(
    shape: tuple[int, ...], dtype: torch.dtype, likelihood: str
) -> None:
    """C-LOSS-3: same shape, dtype and device as ``x``; works for any number of dims."""
    x = torch.rand(shape, dtype=dtype)
    x_hat = torch.randn(shape, dtype=dtype)
    out = log_likelihood(x, x_hat, likelihood)
    assert out.shape == x.shape and out.dtype == dtype and out.device == x.device


@pytest.mark.parametrize("likelihood", ["gaussian", "bernoulli"])
def test_c_loss_3_mixed_precision_returns_the_dtype_of_x(likelihood: str) -> None:
    """C-LOSS-3: the result has x's dtype even when x_hat has another one."""
    for x_dtype, x_hat_dtype in ((torch.float32, torch.float64), (torch.float64, torch.float32)):
        x, x_hat = torch.rand(3, 2, dtype=x_dtype), torch.randn(3, 2, dtype=x_hat_dtype)
        assert log_likelihood(x, x_hat, likelihood).dtype == x_dtype


# C-LOSS-4 -------------------------------------------------------------------------------------


def test_c_loss_4_unknown_likelihood_name() -> None:
    """C-LOSS-4: an unknown name raises ValueError containing ``Unsupported likelihood``."""
    x = torch.randn(2, 3)
    with pytest.raises(ValueError, match="Unsupported likelihood") as info:
        log_likelihood(x, x, "poisson")
    assert "\n" not in str(info.value)


class FakeEnumMember:
    value = "gaussian"


@pytest.mark.parametrize("bad", [42, None, 1.5, FakeEnumMember(), ("gaussian",)])
def test_c_loss_4_non_string_non_enum_is_rejected_not_duck_typed(bad: object) -> None:
    """C-LOSS-4: values that are neither str nor LikelihoodType raise ValueError."""
    x = torch.randn(2, 3)
    with pytest.raises(ValueError, match="Unsupported likelihood"):
        log_likelihood(x, x, bad)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("x_shape", "x_hat_shape"),
    [((4,), (4, 1)), ((2, 1, 3), (2, 5, 3)), ((2, 3), (3, 2)), ((1,), ())],
)
@pytest.mark.parametrize("likelihood", ["gaussian", "bernoulli", LikelihoodType.BERNOULLI])
def test_c_loss_4_shape_mismatch_is_never_broadcast(
    x_shape: tuple[int, ...], x_hat_shape: tuple[int, ...], likelihood: object
) -> None:
    """C-LOSS-4: ``same shape`` ValueError with both shapes, even for broadcastable shapes."""
    x, x_hat = torch.rand(x_shape), torch.randn(x_hat_shape)
    with pytest.raises(ValueError, match="same shape") as info:
        log_likelihood(x, x_hat, likelihood)  # type: ignore[arg-type]
    message = str(info.value)
    assert str(tuple(x_shape)) in message and str(tuple(x_hat_shape)) in message
    assert "\n" not in message


def test_c_loss_4_shape_check_comes_before_the_name_check() -> None:
    """C-LOSS-4: with wrong shapes and an unknown name, the shape error is reported."""
    with pytest.raises(ValueError, match="same shape"):
        log_likelihood(torch.randn(4), torch.randn(4, 1), "poisson")


# Property tests and gradients -----------------------------------------------------------------

shapes = st.lists(st.integers(1, 4), min_size=1, max_size=4).map(tuple)


@settings(max_examples=40, deadline=None)
@given(
    shape=shapes,
    scale=st.sampled_from([1e-3, 1.0, 1e3, 1e15]),
    seed=st.integers(0, 2**16),
)
def test_property_gaussian_float32_finite_and_float64_matches_reference(
    shape: tuple[int, ...], scale: float, seed: int
) -> None:
    """C-LOSS-3 (property): finite in float32 for large values, equal to Normal in float64."""
    gen = torch.Generator().manual_seed(seed)
    x = scale * torch.randn(shape, generator=gen, dtype=torch.float64)
    x_hat = scale * torch.randn(shape, generator=gen, dtype=torch.float64)
    assert torch.isfinite(log_likelihood(x.float(), x_hat.float())).all()
    torch.testing.assert_close(log_likelihood(x, x_hat), gaussian_reference(x, x_hat))


@settings(max_examples=40, deadline=None)
@given(
    shape=shapes,
    logit_scale=st.sampled_from([1e-3, 1.0, 30.0, 1e4, 1e30]),
    binary=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_property_bernoulli_float32_finite_and_float64_matches_reference(
    shape: tuple[int, ...], logit_scale: float, binary: bool, seed: int
) -> None:
    """C-LOSS-3 (property): finite in float32 for extreme logits; float64 equals Bernoulli."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(shape, generator=gen, dtype=torch.float64)
    if binary:
        x = x.round()
    x_hat = logit_scale * torch.randn(shape, generator=gen, dtype=torch.float64)
    assert torch.isfinite(log_likelihood(x.float(), x_hat.float(), "bernoulli")).all()
    got = log_likelihood(x, x_hat, "bernoulli")
    torch.testing.assert_close(got, bernoulli_reference(x, x_hat), rtol=1e-12, atol=1e-12)
    assert (got <= 0).all()


@pytest.mark.parametrize("likelihood", ["gaussian", "bernoulli"])
def test_gradcheck_log_likelihood(likelihood: str) -> None:
    """C-LOSS-3: analytic gradients w.r.t. ``x`` and ``x_hat`` match finite differences."""
    x = torch.rand(3, 4, dtype=torch.float64).clamp(0.05, 0.95).requires_grad_()
    x_hat = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b: log_likelihood(a, b, likelihood), (x, x_hat))
    assert torch.autograd.gradgradcheck(lambda a, b: log_likelihood(a, b, likelihood), (x, x_hat))


# Likelihood objects (C-LOSS-4: "once the library has them, its own likelihood objects") --------


def test_c_loss_4_likelihood_objects_are_accepted() -> None:
    """C-LOSS-4: a Likelihood object is accepted; a registered name resolves to its class."""
    from pyautoencoder.distributions import Likelihood, register_likelihood
    from pyautoencoder.distributions import _likelihood as registry_module

    class UnitLaplace(Likelihood):
        def log_prob(self, x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
            return -(x - x_hat).abs()

    name = "test_core_unit_laplace"
    try:
        register_likelihood(name)(UnitLaplace)
        x = torch.randn(3, 4, dtype=torch.float64)
        x_hat = torch.randn(3, 4, dtype=torch.float64)
        expected = D.Laplace(x_hat, 1.0).log_prob(x) + math.log(2.0)
        torch.testing.assert_close(log_likelihood(x, x_hat, UnitLaplace()), expected)
        torch.testing.assert_close(log_likelihood(x, x_hat, name.upper()), expected)
        assert repr(UnitLaplace()) == f"UnitLaplace(name='{name}')"
        with pytest.raises(ValueError, match="already registered"):
            register_likelihood(name)(UnitLaplace)
    finally:
        registry_module._REGISTRY.pop(name, None)


def test_likelihood_base_class_needs_log_prob() -> None:
    """A Likelihood subclass without ``log_prob`` fails with NotImplementedError naming it."""
    from pyautoencoder.distributions import Likelihood

    class Incomplete(Likelihood):
        pass

    with pytest.raises(NotImplementedError, match="Incomplete must implement log_prob"):
        log_likelihood(torch.zeros(2), torch.zeros(2), Incomplete())


def test_unknown_name_suggests_close_matches() -> None:
    """C-LOSS-4: a misspelt name is ``Unsupported likelihood`` with a suggestion."""
    with pytest.raises(
        ValueError, match=r"Unsupported likelihood 'gausian'.*did you mean 'gaussian'"
    ):
        log_likelihood(torch.zeros(2), torch.zeros(2), "gausian")
