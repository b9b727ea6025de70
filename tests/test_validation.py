"""Input validation beyond the contract, and the value-check switch.

Every error names the argument, says what was expected and what came, on one line.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import torch
from torch import nn

import pyautoencoder
from pyautoencoder._validation import check_num_samples, check_weight
from pyautoencoder.loss import kl_divergence_diag_gaussian, log_likelihood
from pyautoencoder.vanilla import AE, AEOutput
from pyautoencoder.variational import VAE, AdaGVAE

pytestmark = pytest.mark.usefixtures("seeded")


def _ae() -> AE:
    return AE(nn.Linear(6, 3), nn.Linear(3, 6))


def _vae() -> VAE:
    return VAE(nn.Sequential(nn.Linear(6, 8), nn.Tanh()), nn.Linear(3, 6), 3)


def _raises(exc: type[Exception], pattern: str, fn: Callable[[], object]) -> str:
    with pytest.raises(exc, match=pattern) as info:
        fn()
    message = str(info.value)
    assert "\n" not in message, message
    return message


def _with(tensor: torch.Tensor, value: float) -> torch.Tensor:
    out = tensor.clone()
    out.view(-1)[1] = value
    return out


# NaN / inf ------------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
@pytest.mark.parametrize("likelihood", ["gaussian", "bernoulli"])
def test_non_finite_x_or_x_hat_in_log_likelihood(bad: float, likelihood: str) -> None:
    """NaN/inf in ``x`` or ``x_hat`` -> ValueError naming the argument."""
    x, x_hat = torch.rand(3, 4), torch.randn(3, 4)
    message = _raises(
        ValueError, r"^x must be finite", lambda: log_likelihood(_with(x, bad), x_hat, likelihood)
    )
    assert "(3, 4)" in message
    _raises(
        ValueError,
        r"^x_hat must be finite",
        lambda: log_likelihood(x, _with(x_hat, bad), likelihood),
    )


def test_non_finite_inputs_in_ae_loss() -> None:
    """AE.compute_loss rejects NaN in ``x`` and in ``output.x_hat``, naming them."""
    model = _ae()
    x = torch.randn(4, 6)
    out = model(x)
    _raises(
        ValueError, r"^x must be finite", lambda: model.compute_loss(_with(x, float("nan")), out)
    )
    bad_out = AEOutput(x_hat=_with(out.x_hat.detach(), float("inf")), z=out.z)
    _raises(ValueError, r"^x_hat must be finite", lambda: model.compute_loss(x, bad_out))


@pytest.mark.parametrize("field", ["x_hat", "mu", "log_var"])
def test_non_finite_inputs_in_vae_loss(field: str) -> None:
    """VAE.compute_loss rejects NaN/inf in x_hat, mu and log_var, naming the field."""
    model = _vae()
    x = torch.randn(4, 6)
    out = model(x, S=2)
    setattr(out, field, _with(getattr(out, field).detach(), float("nan")))
    _raises(ValueError, rf"^{field} must be finite", lambda: model.compute_loss(x, out))
    _raises(
        ValueError,
        r"^x must be finite",
        lambda: model.compute_loss(_with(x, float("inf")), model(x)),
    )


# Likelihood support ---------------------------------------------------------------------------


@pytest.mark.parametrize("target", [-0.1, 1.5, 2.0])
def test_bernoulli_target_outside_unit_interval(target: float) -> None:
    """Bernoulli targets outside [0, 1] -> ValueError with the range and what came."""
    x = _with(torch.rand(3, 4), target)
    message = _raises(
        ValueError, r"\[0, 1\]", lambda: log_likelihood(x, torch.randn(3, 4), "bernoulli")
    )
    assert "Bernoulli" in message and "1 value(s) outside" in message
    model = _vae()
    out = model(torch.rand(3, 6))
    _raises(
        ValueError,
        r"\[0, 1\]",
        lambda: model.compute_loss(_with(torch.rand(3, 6), target), out, likelihood="bernoulli"),
    )


def test_bernoulli_accepts_the_interval_ends() -> None:
    """0 and 1 themselves are in the support."""
    x = torch.tensor([[0.0, 1.0, 0.5]])
    assert torch.isfinite(log_likelihood(x, torch.zeros(1, 3), "bernoulli")).all()


def test_integer_data_is_a_type_error() -> None:
    """``x`` of an integer dtype -> TypeError suggesting ``.float()``."""
    _raises(
        TypeError,
        r"x must have a floating-point dtype.*x\.float\(\)",
        lambda: log_likelihood(torch.ones(2, 3, dtype=torch.long), torch.zeros(2, 3)),
    )


def test_non_tensor_inputs_are_type_errors() -> None:
    """Non-tensor ``x`` -> TypeError naming it."""
    _raises(TypeError, r"^x must be a torch.Tensor", lambda: log_likelihood([1.0], torch.zeros(1)))  # type: ignore[arg-type]


# beta -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "beta", [-0.5, float("nan"), float("inf"), torch.tensor(-1.0), torch.tensor(float("nan"))]
)
def test_beta_must_be_finite_and_non_negative(beta: object) -> None:
    """Negative or non-finite beta (number or 0-dim tensor) -> ValueError naming ``beta``."""
    model = _vae()
    x = torch.randn(3, 6)
    _raises(
        ValueError,
        r"^beta must be finite and >= 0",
        lambda: model.compute_loss(x, model(x), beta=beta),
    )  # type: ignore[arg-type]


@pytest.mark.parametrize("beta", [True, "1", None])
def test_beta_of_the_wrong_type(beta: object) -> None:
    """A bool, string or None beta -> TypeError naming ``beta``."""
    model = _vae()
    x = torch.randn(3, 6)
    _raises(
        TypeError,
        r"^beta must be a real number",
        lambda: model.compute_loss(x, model(x), beta=beta),
    )  # type: ignore[arg-type]


def test_beta_tensor_of_several_values() -> None:
    """A beta tensor must be 0-dim."""
    model = _vae()
    x = torch.randn(3, 6)
    _raises(
        ValueError,
        r"^beta must be a scalar",
        lambda: model.compute_loss(x, model(x), beta=torch.ones(2)),
    )


def test_beta_zero_and_tensor_beta_are_accepted() -> None:
    """beta = 0 and a 0-dim tensor beta are valid and agree with the float."""
    model = _vae()
    x = torch.randn(3, 6)
    out = model(x)
    a = model.compute_loss(x, out, beta=0.5).objective
    b = model.compute_loss(x, out, beta=torch.tensor(0.5)).objective
    torch.testing.assert_close(a, b)
    assert torch.isfinite(model.compute_loss(x, out, beta=0).objective)


# S and sample ---------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [1.0, 2.5, True, False, "2", None])
def test_s_must_be_an_int(bad: object) -> None:
    """Non-integer or bool ``S`` -> TypeError naming ``S``, for VAE forward/encode and AdaGVAE."""
    model = _vae()
    x = torch.randn(2, 6)
    _raises(TypeError, r"^S must be an int >= 1", lambda: model(x, S=bad))  # type: ignore[arg-type]
    _raises(TypeError, r"^S must be an int >= 1", lambda: model.encode(x, S=bad, sample=True))  # type: ignore[arg-type]
    _raises(TypeError, r"^S must be an int >= 1", lambda: AdaGVAE(model)((x, x), S=bad))  # type: ignore[arg-type]


def test_sample_flag_must_be_a_bool() -> None:
    """``sample`` given as a string -> TypeError naming ``sample``."""
    _raises(TypeError, r"^sample must be a bool", lambda: _vae()(torch.randn(2, 6), sample="no"))  # type: ignore[arg-type]


def test_s_is_checked_before_the_encoder_runs() -> None:
    """Bad ``S``/``sample`` fail before any encoder work (no wasted forward pass)."""
    calls: list[int] = []
    encoder = nn.Linear(6, 8)
    encoder.register_forward_hook(lambda *_: calls.append(1))
    model = VAE(encoder, nn.Linear(3, 6), 3)
    with pytest.raises(ValueError):
        model(torch.randn(2, 6), S=0)
    with pytest.raises(ValueError):
        model(torch.randn(2, 6), S=3, sample=False)
    assert calls == []


# Constructor arguments ------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [0, -3])
def test_latent_dim_must_be_positive(bad: int) -> None:
    """``latent_dim <= 0`` -> ValueError naming ``latent_dim``."""
    _raises(
        ValueError,
        r"^latent_dim must be a positive int, got",
        lambda: VAE(nn.Linear(6, 8), nn.Linear(3, 6), bad),
    )


@pytest.mark.parametrize("bad", [3.0, "3", True, None])
def test_latent_dim_must_be_an_int(bad: object) -> None:
    """A non-int (or bool) ``latent_dim`` -> TypeError naming it."""
    _raises(
        TypeError,
        r"^latent_dim must be a positive int",
        lambda: VAE(nn.Linear(6, 8), nn.Linear(3, 6), bad),
    )  # type: ignore[arg-type]


@pytest.mark.parametrize("which", ["encoder", "decoder"])
@pytest.mark.parametrize("factory", ["ae", "vae"])
def test_encoder_and_decoder_must_be_modules(which: str, factory: str) -> None:
    """A plain function as encoder/decoder -> TypeError naming which one and its type."""
    parts: dict[str, object] = {"encoder": nn.Linear(6, 3), "decoder": nn.Linear(3, 6)}
    parts[which] = lambda t: t

    def build() -> object:
        if factory == "ae":
            return AE(parts["encoder"], parts["decoder"])  # type: ignore[arg-type]
        return VAE(parts["encoder"], parts["decoder"], 3)  # type: ignore[arg-type]

    _raises(TypeError, rf"^{which} must be a torch.nn.Module, got function", build)


def test_adagvae_needs_a_vae() -> None:
    """AdaGVAE of a non-VAE -> TypeError."""
    _raises(TypeError, r"^vae must be a pyautoencoder VAE, got AE", lambda: AdaGVAE(_ae()))  # type: ignore[arg-type]


# Empty batch ----------------------------------------------------------------------------------


def test_empty_batch_in_ae_loss() -> None:
    """B = 0 -> a clear ValueError instead of a reshape error or a NaN mean."""
    model = _ae()
    x = torch.randn(0, 6)
    message = _raises(
        ValueError, r"^x must hold at least one example", lambda: model.compute_loss(x, model(x))
    )
    assert "empty batch" in message and "(0, 6)" in message


def test_empty_batch_in_vae_loss() -> None:
    """B = 0 -> ValueError naming the empty batch."""
    model = _vae()
    model.build(torch.randn(2, 6))
    x = torch.randn(0, 6)
    _raises(
        ValueError,
        r"at least one example, got an empty batch",
        lambda: model.compute_loss(x, model(x, S=2)),
    )


# KL shapes ------------------------------------------------------------------------------------


def test_kl_shapes_must_agree() -> None:
    """``mu_q`` and ``log_var_q`` of different shapes -> ValueError with both shapes."""
    message = _raises(
        ValueError,
        "same shape",
        lambda: kl_divergence_diag_gaussian(torch.zeros(2, 3), torch.zeros(2, 4)),
    )
    assert "(2, 3)" in message and "(2, 4)" in message


# The value-check switch -----------------------------------------------------------------------


def test_value_checks_are_on_by_default() -> None:
    """Value checks start enabled (the autouse fixture restores the state after each test)."""
    assert pyautoencoder.value_checks_enabled()


def test_set_value_checks_false_turns_nan_and_support_checks_off() -> None:
    """``set_value_checks(False)``: NaN flows through and Bernoulli support is not checked."""
    x = _with(torch.rand(2, 3), float("nan"))
    pyautoencoder.set_value_checks(False)
    assert not pyautoencoder.value_checks_enabled()
    assert torch.isnan(log_likelihood(x, torch.zeros(2, 3))).any()
    out = log_likelihood(torch.full((2, 3), 2.0), torch.zeros(2, 3), "bernoulli")
    assert out.shape == (2, 3)
    model = _vae()
    v = torch.randn(3, 6)
    assert torch.isnan(model.compute_loss(_with(v, float("nan")), model(v)).objective)
    pyautoencoder.set_value_checks(True)
    with pytest.raises(ValueError, match="must be finite"):
        log_likelihood(x, torch.zeros(2, 3))


def test_value_checks_context_manager_restores_the_previous_state() -> None:
    """``with value_checks(False):`` switches off for the block only, nested blocks too."""
    x = _with(torch.rand(2, 3), float("inf"))
    with pyautoencoder.value_checks(False):
        assert torch.isinf(log_likelihood(x, torch.zeros(2, 3))).any()
        with pyautoencoder.value_checks(True), pytest.raises(ValueError, match="must be finite"):
            log_likelihood(x, torch.zeros(2, 3))
        assert not pyautoencoder.value_checks_enabled()
    assert pyautoencoder.value_checks_enabled()
    with pytest.raises(ValueError, match="must be finite"):
        log_likelihood(x, torch.zeros(2, 3))


def test_value_checks_context_manager_restores_after_an_exception() -> None:
    """The previous state is restored when the block raises."""
    with pytest.raises(RuntimeError), pyautoencoder.value_checks(False):
        raise RuntimeError("inside")
    assert pyautoencoder.value_checks_enabled()


def test_shape_checks_stay_on_without_value_checks() -> None:
    """Switching value checks off keeps the (free) shape and type checks."""
    with pyautoencoder.value_checks(False), pytest.raises(ValueError, match="same shape"):
        log_likelihood(torch.zeros(4), torch.zeros(4, 1))


@pytest.mark.parametrize("bad", [0, 1, "yes", None])
def test_set_value_checks_needs_a_bool(bad: object) -> None:
    """``set_value_checks`` of a non-bool -> TypeError naming ``enabled``."""
    _raises(TypeError, r"^enabled must be a bool", lambda: pyautoencoder.set_value_checks(bad))  # type: ignore[arg-type]


def test_zero_dim_input_is_rejected_with_a_batch_message() -> None:
    """A 0-dim ``x`` has no batch dimension: ValueError saying so."""
    model = _ae()
    _raises(
        ValueError,
        r"^x must have a batch dimension \[B, \.\.\.\]",
        lambda: model.compute_loss(torch.tensor(1.0), AEOutput(torch.tensor(1.0), torch.zeros(1))),
    )


@pytest.mark.parametrize("model_name", ["ae", "vae", "adagvae"])
def test_training_step_without_value_checks_reads_no_tensor_value(
    model_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With value checks off, forward + compute_loss + backward never read a tensor's value on
    the host (``item``, ``bool``, ``float``, ``int``, ``tolist``): no device synchronisation."""
    x = torch.rand(4, 6)
    if model_name == "ae":
        model: nn.Module = _ae()
        inputs: object = x
    elif model_name == "vae":
        model = _vae()
        inputs = x
    else:
        model = AdaGVAE(_vae())
        inputs = (x, torch.rand(4, 6))
    model.build(x)  # type: ignore[operator]

    def forbidden(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("a tensor value was read on the host")

    pyautoencoder.set_value_checks(False)
    for name in ("item", "__bool__", "__float__", "__int__", "tolist"):
        monkeypatch.setattr(torch.Tensor, name, forbidden)
    result = model.compute_loss(inputs, model(inputs), likelihood="bernoulli")  # type: ignore[operator]
    result.objective.backward()
    monkeypatch.undo()
    assert torch.isfinite(result.objective)


def test_support_checks_of_a_likelihood_follow_the_value_check_switch() -> None:
    """``validate`` calls ``check_support`` only while value checks are on; directly it checks."""
    from pyautoencoder.distributions._likelihood import UnitGaussianLikelihood

    class Positive(UnitGaussianLikelihood):
        def check_support(self, x: torch.Tensor) -> None:
            if bool((x < 0).any()):
                raise ValueError("x must be >= 0")

    likelihood, x = Positive(), -torch.ones(2, 3)
    with pytest.raises(ValueError, match=r"^x must be >= 0"):
        likelihood.validate(x, torch.zeros(2, 3))
    with pyautoencoder.value_checks(False):
        likelihood.validate(x, torch.zeros(2, 3))  # off: no value is read
        with pytest.raises(ValueError, match=r"^x must be >= 0"):
            likelihood.check_support(x)


@pytest.mark.parametrize("value", [1, 3, np.int64(2), torch.tensor(2).item()])
def test_s_takes_python_and_numpy_ints(value: object) -> None:
    """The int fast path and the general ``numbers.Integral`` path accept the same values."""
    assert check_num_samples(value) == int(value)  # type: ignore[call-overload]


@pytest.mark.parametrize("value", [0, -1])
def test_s_below_one_is_a_value_error(value: int) -> None:
    with pytest.raises(ValueError, match=r"^S must be >= 1"):
        check_num_samples(value)


@pytest.mark.parametrize("value", [0, 2, 0.5, np.float32(0.5), np.int64(3)])
def test_beta_numbers_of_every_real_type_become_floats(value: object) -> None:
    result = check_weight(value)
    assert type(result) is float and result == float(value)  # type: ignore[arg-type]
