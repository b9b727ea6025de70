"""The likelihood objects: true log-densities equal torch.distributions' log_prob (float64)."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import distributions as D
from torch import nn

from pyautoencoder.distributions import (
    CategoricalLikelihood,
    ContinuousBernoulliLikelihood,
    GaussianLikelihood,
    LaplaceLikelihood,
    Likelihood,
    available_likelihoods,
    continuous_bernoulli_log_normalizer,
    get_likelihood,
    register_likelihood,
)
from pyautoencoder.loss import log_likelihood
from pyautoencoder.loss._sampled import sampled_log_likelihood

reals = st.floats(-20.0, 20.0, allow_nan=False, allow_infinity=False)
unit = st.floats(0.0, 1.0, allow_nan=False)
positive = st.floats(1e-3, 50.0)


def _t(values: list[float]) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float64)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(reals, reals), min_size=1, max_size=8), positive)
def test_gaussian_fixed_scale_equals_normal_log_prob(pairs: list, scale: float) -> None:
    x, loc = _t([p[0] for p in pairs]), _t([p[1] for p in pairs])
    expected = D.Normal(loc, scale).log_prob(x)
    torch.testing.assert_close(GaussianLikelihood(scale).log_prob(x, loc), expected)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(reals, reals, st.floats(-5, 5)), min_size=1, max_size=8))
def test_gaussian_decoder_scale_equals_normal_log_prob(triples: list) -> None:
    x = _t([t[0] for t in triples]).reshape(1, -1)
    loc = _t([t[1] for t in triples]).reshape(1, -1)
    log_scale = _t([t[2] for t in triples]).reshape(1, -1)
    x_hat = torch.cat([loc, log_scale], dim=-1)  # [1, 2F]: location then log-scale
    expected = D.Normal(loc, log_scale.exp()).log_prob(x)
    likelihood = GaussianLikelihood("decoder")
    torch.testing.assert_close(likelihood.log_prob(x, x_hat), expected)
    torch.testing.assert_close(log_likelihood(x, x_hat, likelihood), expected)


@settings(max_examples=40, deadline=None)
@given(
    st.sampled_from([GaussianLikelihood, LaplaceLikelihood]),
    st.sampled_from(["learned", "per_feature", "decoder"]),
    st.integers(0, 2**31 - 1),
)
def test_learned_and_decoder_scales_equal_torch_log_prob(cls: type, mode: str, seed: int) -> None:
    """Every scale option of both location-scale likelihoods is the torch log-density (float64).

    Learned log-scales are set to random values (not their initial 0); the decoder mode is
    checked on image-shaped data with the channel dimension at -3.
    """
    generator = torch.Generator().manual_seed(seed)
    reference = D.Normal if cls is GaussianLikelihood else D.Laplace
    x = torch.randn(2, 3, 4, 4, dtype=torch.float64, generator=generator) * 5
    loc = torch.randn(2, 3, 4, 4, dtype=torch.float64, generator=generator) * 5
    log_scale = torch.randn(3, 4, 4, dtype=torch.float64, generator=generator) * 2
    if mode == "decoder":
        likelihood = cls("decoder", channel_dim=-3)
        batch_log_scale = log_scale.expand(2, 3, 4, 4)
        x_hat = torch.cat([loc, batch_log_scale], dim=-3)  # [B, 2C, H, W]
        expected = reference(loc, batch_log_scale.exp()).log_prob(x)
    else:
        likelihood = cls(mode, feature_shape=(3, 4, 4)).double()
        value = log_scale if mode == "per_feature" else log_scale[0, 0, 0]
        with torch.no_grad():
            likelihood.log_scale.copy_(value)
        x_hat = loc
        expected = reference(loc, value.exp()).log_prob(x)
    torch.testing.assert_close(likelihood.log_prob(x, x_hat), expected)
    torch.testing.assert_close(log_likelihood(x, x_hat, likelihood), expected)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(reals, reals), min_size=1, max_size=8), positive)
def test_laplace_equals_laplace_log_prob(pairs: list, scale: float) -> None:
    x, loc = _t([p[0] for p in pairs]), _t([p[1] for p in pairs])
    expected = D.Laplace(loc, scale).log_prob(x)
    torch.testing.assert_close(LaplaceLikelihood(scale).log_prob(x, loc), expected)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(unit, st.floats(-10.0, 10.0)), min_size=1, max_size=8))
def test_continuous_bernoulli_equals_torch_log_prob(pairs: list) -> None:
    # |logit| <= 10: beyond it torch computes the normaliser from probs = sigmoid(logit) and
    # loses digits in 1 - probs (see the large-logit test for an exact reference there).
    x, logits = _t([p[0] for p in pairs]), _t([p[1] for p in pairs])
    expected = D.ContinuousBernoulli(logits=logits).log_prob(x)
    actual = ContinuousBernoulliLikelihood().log_prob(x, logits)
    torch.testing.assert_close(actual, expected, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("logit", [0.0, 1e-12, -1e-8, 1e-4, -0.01, 0.049, 0.0501, 0.2, -3.0])
def test_continuous_bernoulli_normalizer_at_and_near_one_half(logit: float) -> None:
    eta = torch.tensor(logit, dtype=torch.float64)
    # C = eta / tanh(eta / 2), with C(1/2) = 2; Python's float64 math is the reference.
    expected = math.log(2.0) if logit == 0.0 else math.log(logit / math.tanh(logit / 2))
    torch.testing.assert_close(
        continuous_bernoulli_log_normalizer(eta), eta.new_tensor(expected), rtol=0, atol=1e-12
    )
    lam = torch.sigmoid(eta)
    torch_value = D.ContinuousBernoulli(probs=lam)._cont_bern_log_norm()
    torch.testing.assert_close(
        continuous_bernoulli_log_normalizer(eta), torch_value, atol=1e-9, rtol=0
    )


@pytest.mark.parametrize("logit", [-40.0, -15.0, 12.0, 20.0, 60.0])
def test_continuous_bernoulli_at_large_logits_equals_exact_formula(logit: float) -> None:
    x = 0.875
    softplus = max(logit, 0.0) + math.log1p(math.exp(-abs(logit)))
    log_norm = math.log(abs(logit)) - math.log(math.tanh(abs(logit) / 2))
    expected = x * logit - softplus + log_norm
    actual = ContinuousBernoulliLikelihood().log_prob(_t([x]), _t([logit]))
    assert math.isclose(float(actual), expected, rel_tol=1e-13, abs_tol=1e-12)


def test_continuous_bernoulli_normalizer_gradient_finite_at_one_half() -> None:
    eta = torch.zeros(3, dtype=torch.float32, requires_grad=True)
    continuous_bernoulli_log_normalizer(eta).sum().backward()
    assert eta.grad is not None and torch.isfinite(eta.grad).all()
    torch.testing.assert_close(eta.grad, torch.zeros(3))  # log C is even in eta


def test_gradcheck_likelihoods_and_the_normalizer_across_its_taylor_branch() -> None:
    # Logits on both sides of the series/closed-form switch at |eta| = 0.05, and at 0.
    eta = torch.tensor(
        [-3.0, -0.0501, -0.0499, 0.0, 0.02, 0.0499, 0.0501, 2.0], dtype=torch.float64
    )
    assert torch.autograd.gradcheck(continuous_bernoulli_log_normalizer, (eta.requires_grad_(),))
    x = torch.rand(8, dtype=torch.float64)
    loc = torch.randn(8, dtype=torch.float64, requires_grad=True)
    for likelihood in (ContinuousBernoulliLikelihood(), GaussianLikelihood(0.7)):
        assert torch.autograd.gradcheck(lambda a, b, lik=likelihood: lik.log_prob(a, b), (x, loc))
    # Laplace away from the kink of |x - loc|: x - loc in [1, 2].
    loc_below = (x - 1.0 - torch.rand(8, dtype=torch.float64)).requires_grad_()
    assert torch.autograd.gradcheck(lambda b: LaplaceLikelihood(0.7).log_prob(x, b), (loc_below,))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 4), min_size=1, max_size=6))
def test_categorical_equals_categorical_log_prob(levels: list) -> None:
    generator = torch.Generator().manual_seed(len(levels))
    logits = torch.randn(len(levels), 5, dtype=torch.float64, generator=generator) * 3
    x_int = torch.tensor(levels)
    expected = D.Categorical(logits=logits).log_prob(x_int)
    likelihood = CategoricalLikelihood(num_classes=5)
    torch.testing.assert_close(likelihood.log_prob(x_int, logits), expected)
    # Levels stored as floats give the same values, through the public function too.
    torch.testing.assert_close(log_likelihood(x_int.double(), logits, likelihood), expected)


def test_categorical_class_dim_for_images() -> None:
    x = torch.randint(0, 4, (2, 3, 5, 5))
    logits = torch.randn(2, 3, 4, 5, 5, dtype=torch.float64)  # class dim -3 of x_hat
    likelihood = CategoricalLikelihood(num_classes=4, class_dim=-3)
    expected = D.Categorical(logits=logits.movedim(2, -1)).log_prob(x)
    torch.testing.assert_close(log_likelihood(x, logits, likelihood), expected)


def test_categorical_rejects_bad_levels_and_shapes() -> None:
    likelihood = CategoricalLikelihood(num_classes=4)
    logits = torch.randn(3, 4)
    with pytest.raises(ValueError, match=r"integer levels in \[0, 3\]"):
        log_likelihood(torch.tensor([0.0, 1.5, 2.0]), logits, likelihood)
    with pytest.raises(ValueError, match=r"integer levels in \[0, 3\]"):
        log_likelihood(torch.tensor([0, 4, 2]), logits, likelihood)
    with pytest.raises(ValueError, match=r"x_hat must have shape \(3, 4\)"):
        log_likelihood(torch.tensor([0, 1, 2]), torch.randn(3, 5), likelihood)
    with pytest.raises(ValueError, match="num_classes must be an int >= 2"):
        CategoricalLikelihood(num_classes=1)


def test_categorical_by_name_has_256_levels_and_skips_same_shape_check() -> None:
    x = torch.randint(0, 256, (2, 3)).float()
    logits = torch.randn(2, 3, 256)
    expected = D.Categorical(logits=logits).log_prob(x.long())
    torch.testing.assert_close(log_likelihood(x, logits, "categorical"), expected)


def test_sampled_log_likelihood_for_categorical_and_decoder_scale() -> None:
    x = torch.randint(0, 3, (4, 6)).float()
    x_hat = torch.randn(4, 2, 6, 3)
    ll = sampled_log_likelihood(x, x_hat, CategoricalLikelihood(3))
    expected = D.Categorical(logits=x_hat).log_prob(x.long().unsqueeze(1)).sum(-1)
    torch.testing.assert_close(ll, expected)
    with pytest.raises(ValueError, match=r"= \[4, S, 6, 3\] with S >= 1"):
        sampled_log_likelihood(x, torch.randn(4, 2, 6, 4), CategoricalLikelihood(3))
    y = torch.randn(4, 6)
    x_hat = torch.randn(4, 2, 12)
    ll = sampled_log_likelihood(y, x_hat, GaussianLikelihood("decoder"))
    loc, log_scale = x_hat.chunk(2, dim=-1)
    torch.testing.assert_close(ll, D.Normal(loc, log_scale.exp()).log_prob(y.unsqueeze(1)).sum(-1))


def test_learned_scales_are_parameters_and_get_gradients() -> None:
    scalar = GaussianLikelihood("learned", init_scale=2.0)
    per_feature = LaplaceLikelihood("per_feature", feature_shape=(3,))
    assert [p.shape for p in scalar.parameters()] == [torch.Size([])]
    assert [p.shape for p in per_feature.parameters()] == [torch.Size([3])]
    x, x_hat = torch.randn(5, 3), torch.randn(5, 3)
    torch.testing.assert_close(scalar.log_prob(x, x_hat), D.Normal(x_hat, 2.0).log_prob(x))
    (scalar.log_prob(x, x_hat).sum() + per_feature.log_prob(x, x_hat).sum()).backward()
    assert scalar.log_scale is not None and scalar.log_scale.grad is not None
    assert per_feature.log_scale is not None and per_feature.log_scale.grad is not None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"scale": -1.0}, "scale must be a finite float > 0"),
        ({"scale": "learnt"}, "scale must be a float > 0, 'learned'"),
        ({"scale": "per_feature"}, "needs feature_shape"),
        ({"scale": "decoder", "channel_dim": 1}, "channel_dim must be a negative int"),
        ({"init_scale": 0.0}, "init_scale must be a finite float > 0"),
    ],
)
def test_location_scale_bad_arguments(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        GaussianLikelihood(**kwargs)


def test_decoder_scale_shape_error_names_the_doubled_channels() -> None:
    with pytest.raises(ValueError, match=r"x_hat must have shape \(2, 6\)"):
        log_likelihood(torch.randn(2, 3), torch.randn(2, 5), GaussianLikelihood("decoder"))


def test_continuous_bernoulli_rejects_targets_outside_unit_interval() -> None:
    with pytest.raises(ValueError, match=r"must lie in \[0, 1\]"):
        log_likelihood(torch.tensor([1.5]), torch.tensor([0.0]), "continuous_bernoulli")


def _finite_case(name: str) -> tuple[Likelihood, torch.Tensor, torch.Tensor]:
    """A likelihood and valid ``(x, x_hat)`` of shape ``[3, 4]`` (plus its extra dims)."""
    x_unit, logits = torch.rand(3, 4), torch.randn(3, 4)
    cases = {
        "normal": (GaussianLikelihood(0.5), torch.randn(3, 4), logits),
        "normal_decoder": (GaussianLikelihood("decoder"), torch.randn(3, 4), torch.randn(3, 8)),
        "laplace": (LaplaceLikelihood("learned"), torch.randn(3, 4), logits),
        "continuous_bernoulli": (ContinuousBernoulliLikelihood(), x_unit, logits),
        "categorical": (CategoricalLikelihood(5), torch.randint(0, 5, (3, 4)).float(), None),
    }
    likelihood, x, x_hat = cases[name]
    return likelihood, x, torch.randn(3, 4, 5) if x_hat is None else x_hat


@pytest.mark.parametrize(
    "name", ["normal", "normal_decoder", "laplace", "continuous_bernoulli", "categorical"]
)
@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_inputs_are_named_for_every_likelihood(name: str, bad: float) -> None:
    likelihood, x, x_hat = _finite_case(name)
    assert torch.isfinite(log_likelihood(x, x_hat, likelihood)).all()
    bad_x, bad_x_hat = x.clone(), x_hat.clone()
    bad_x.view(-1)[1] = bad
    bad_x_hat.view(-1)[1] = bad
    if name != "categorical":  # there a non-finite x is caught as an invalid level
        with pytest.raises(ValueError, match=r"^x must be finite"):
            log_likelihood(bad_x, x_hat, likelihood)
    with pytest.raises(ValueError, match=r"^x_hat must be finite"):
        log_likelihood(x, bad_x_hat, likelihood)


def test_support_checks_follow_the_value_check_switch() -> None:
    import pyautoencoder

    outside = torch.tensor([[0.5, 1.5]])
    levels = torch.tensor([[1.0, 7.0]])
    with pytest.raises(ValueError, match=r"must lie in \[0, 1\]"):
        log_likelihood(outside, torch.zeros(1, 2), "continuous_bernoulli")
    with pytest.raises(ValueError, match=r"integer levels in \[0, 4\]"):
        log_likelihood(levels, torch.zeros(1, 2, 5), CategoricalLikelihood(5))
    with pytest.raises(ValueError, match="must be finite"):
        log_likelihood(torch.tensor([float("nan")]), torch.zeros(1), "laplace")
    with pyautoencoder.value_checks(False):  # no value is read: the inputs pass unchecked
        assert log_likelihood(outside, torch.zeros(1, 2), "continuous_bernoulli").shape == (1, 2)
        nan = log_likelihood(torch.tensor([float("nan")]), torch.zeros(1), "laplace")
        assert torch.isnan(nan).all()
        half_level = torch.tensor([[1.0, 2.5]])  # not a level, but a valid index after .long()
        unchecked = log_likelihood(half_level, torch.zeros(1, 2, 5), CategoricalLikelihood(5))
        assert unchecked.shape == (1, 2)


def test_registered_names_and_did_you_mean() -> None:
    names = available_likelihoods()
    for name in ("normal", "laplace", "continuous_bernoulli", "categorical"):
        assert name in names
    assert isinstance(get_likelihood("Laplace"), LaplaceLikelihood)
    with pytest.raises(
        ValueError, match=r"Unsupported likelihood 'laplce'.*did you mean 'laplace'"
    ):
        get_likelihood("laplce")


def test_user_likelihood_registered_by_name_works_in_a_vae_loss() -> None:
    from pyautoencoder.variational import VAE

    @register_likelihood("test_cauchy_unit")
    class CauchyLikelihood(Likelihood):
        def log_prob(self, x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
            return D.Cauchy(x_hat, 1.0).log_prob(x)

    torch.manual_seed(0)
    model = VAE(nn.Linear(4, 6), nn.Linear(2, 4), 2, likelihood="test_cauchy_unit")
    x = torch.randn(3, 4)
    out = model(x)
    result = model.compute_loss(x, out)
    expected_ll = D.Cauchy(out.x_hat, 1.0).log_prob(x.unsqueeze(1)).sum(-1).mean()
    torch.testing.assert_close(result.diagnostics["log_likelihood"], expected_ll.detach())
