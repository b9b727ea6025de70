"""The plain step of the default VAE computes what the general path computes, bit for bit.

``VAE.forward`` and ``VAE.compute_loss`` take :mod:`pyautoencoder.variational._plain_step` in
the default configuration and the general path otherwise. The reference here is the general
path itself: a subclass that overrides one step method (with the same behaviour) never takes
the plain step, so the two models, built with the same weights and run with the same seed,
must agree exactly: outputs, objective, diagnostics, gradients, and the errors for bad input.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest
import torch
from torch import nn

from pyautoencoder import value_checks
from pyautoencoder._validation import ValueCheckScope
from pyautoencoder.objectives import ELBO, DIPPenalty, ImportanceWeightedBound
from pyautoencoder.variational import VAE, _plain_step
from pyautoencoder.variational._outputs import VAEOutput

B, D_X, H, D_Z = 6, 10, 8, 3


class GeneralVAE(VAE):
    """A VAE that overrides a step method without changing it: always the general path."""

    def kl_per_dim(self, output: VAEOutput) -> torch.Tensor:
        return super().kl_per_dim(output)


def _pair(dtype: torch.dtype = torch.float32, **kwargs: Any) -> tuple[VAE, VAE]:
    """``(plain, general)``: the same networks and weights, the two classes."""
    models = []
    for cls in (VAE, GeneralVAE):
        torch.manual_seed(0)
        encoder = nn.Sequential(nn.Linear(D_X, H), nn.Tanh())
        decoder = nn.Sequential(nn.Linear(D_Z, H), nn.Tanh(), nn.Linear(H, D_X))
        model = cls(encoder, decoder, D_Z, **kwargs).to(dtype)
        model.build(torch.zeros(2, D_X, dtype=dtype))
        models.append(model)
    return models[0], models[1]


def _data(dtype: torch.dtype = torch.float32) -> torch.Tensor:
    torch.manual_seed(5)
    return torch.bernoulli(torch.rand(B, D_X)).to(dtype)


def _step(model: VAE, x: torch.Tensor, **loss_kwargs: Any) -> dict[str, Any]:
    """One seeded forward, loss and backward; everything a user can read from them."""
    model.zero_grad(set_to_none=True)
    torch.manual_seed(11)
    output = model(x)
    result = model.compute_loss(x, output, **loss_kwargs)
    result.objective.backward()
    return {
        "x_hat": output.x_hat.detach(),
        "z": output.z.detach(),
        "mu": output.mu.detach(),
        "log_var": output.log_var.detach(),
        "objective": result.objective.detach(),
        **{f"diag/{k}": v for k, v in result.diagnostics.items()},
        **{f"grad/{n}": p.grad for n, p in model.named_parameters() if p.grad is not None},
    }


def _assert_same(plain: dict[str, Any], general: dict[str, Any]) -> None:
    assert plain.keys() == general.keys()
    for key in plain:
        torch.testing.assert_close(plain[key], general[key], rtol=0, atol=0, msg=key)


class _Spy:
    """Counts the plain step's calls that returned a result (not ``None``)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.taken = {"forward": 0, "loss": 0}
        for module, name, key in (
            ("pyautoencoder.variational._vae", "plain_forward", "forward"),
            ("pyautoencoder.variational._vae_base", "plain_elbo", "loss"),
        ):
            monkeypatch.setattr(f"{module}.{name}", self._counting(getattr(_plain_step, name), key))

    def _counting(self, function: Callable[..., Any], key: str) -> Callable[..., Any]:
        def counted(*args: Any, **kwargs: Any) -> Any:
            result = function(*args, **kwargs)
            self.taken[key] += result is not None
            return result

        return counted


def test_the_default_vae_takes_the_plain_step_and_a_subclass_override_does_not() -> None:
    assert VAE._plain_step is True
    assert GeneralVAE._plain_step is False


CONFIGS: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "bernoulli": ({"likelihood": "bernoulli"}, {}),
    "gaussian": ({}, {}),
    "beta_number": ({"likelihood": "bernoulli"}, {"beta": 0.25}),
    "beta_tensor": ({"likelihood": "bernoulli"}, {"beta": torch.tensor(3.0)}),
    "objective_beta": ({"likelihood": "bernoulli", "objective": ELBO(beta=4.0)}, {"beta": 0.5}),
    "learned_prior": ({"likelihood": "bernoulli", "prior": "diagonal_gaussian"}, {}),
}


@pytest.mark.parametrize("checks", [True, False])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("config", sorted(CONFIGS))
def test_plain_step_equals_the_general_path_bit_for_bit(
    config: str, dtype: torch.dtype, checks: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    model_kwargs, loss_kwargs = CONFIGS[config]
    plain, general = _pair(dtype, **model_kwargs)
    plain.value_checks = general.value_checks = checks
    spy = _Spy(monkeypatch)
    x = _data(dtype)
    got = _step(plain, x, **loss_kwargs)
    assert spy.taken == {"forward": 1, "loss": 1}
    expected = _step(general, x, **loss_kwargs)
    assert spy.taken == {"forward": 1, "loss": 1}  # the subclass never takes it
    _assert_same(got, expected)


def test_the_decoder_reads_the_draw_of_which_z_is_a_view() -> None:
    plain, _ = _pair(likelihood="bernoulli")
    seen: list[torch.Tensor] = []
    plain.decoder.register_forward_pre_hook(lambda module, args: seen.append(args[0]))
    output = plain(_data())
    assert output.z._base is seen[0]
    assert output.x_hat.shape == (B, 1, D_X)


GENERAL_ONLY: dict[str, dict[str, Any]] = {
    "free_bits": {"free_bits": 0.1},
    "importance_weighted": {"objective": ImportanceWeightedBound(3)},
    "penalty": {"objective": ELBO() + DIPPenalty("ii", 1.0)},
    "monte_carlo_kl": {"kl_estimator": "monte_carlo"},
    "laplace_likelihood": {"likelihood": "laplace"},
    "flow_posterior": {"posterior": "planar:2"},
    "vamp_prior": {"prior": "vamp"},
}


@pytest.mark.parametrize("config", sorted(GENERAL_ONLY))
def test_other_configurations_take_the_general_path_and_still_agree(
    config: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    plain, general = _pair(**GENERAL_ONLY[config])
    spy = _Spy(monkeypatch)
    x = _data()
    got = _step(plain, x)
    assert spy.taken["loss"] == 0
    _assert_same(got, _step(general, x))


def test_an_explicit_likelihood_or_samples_take_the_general_path(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    plain, _ = _pair(likelihood="bernoulli")
    spy = _Spy(monkeypatch)
    x = _data()
    plain.compute_loss(x, plain(x, S=2))  # two samples per input: neither
    assert spy.taken == {"forward": 0, "loss": 0}
    plain.compute_loss(x, plain(x), likelihood="gaussian")  # a likelihood of the call: forward
    assert spy.taken == {"forward": 1, "loss": 0}
    plain.compute_loss(x, plain(x, sample=False))  # the posterior mean: the loss only
    assert spy.taken == {"forward": 1, "loss": 1}


def test_hooks_on_the_objective_run(monkeypatch: pytest.MonkeyPatch) -> None:
    plain, _ = _pair(likelihood="bernoulli")
    calls: list[str] = []
    plain.objective.register_forward_hook(lambda *args: calls.append("hook"))
    spy = _Spy(monkeypatch)
    x = _data()
    plain.compute_loss(x, plain(x))
    assert calls == ["hook"]
    assert spy.taken["loss"] == 0


def test_global_module_hooks_run(monkeypatch: pytest.MonkeyPatch) -> None:
    plain, _ = _pair(likelihood="bernoulli")
    seen: list[str] = []
    spy = _Spy(monkeypatch)
    x = _data()
    output = plain(x)
    handle = nn.modules.module.register_module_forward_hook(
        lambda module, args, result: seen.append(type(module).__name__)
    )
    try:
        plain.compute_loss(x, output)
    finally:
        handle.remove()
    assert "ELBO" in seen
    assert spy.taken["loss"] == 0


def _nan_at_first(tensor: torch.Tensor) -> torch.Tensor:
    bad = tensor.detach().clone()
    bad.view(-1)[0] = float("nan")
    return bad


def _replaced(output: VAEOutput, **fields: torch.Tensor) -> VAEOutput:
    return dataclasses.replace(output, **fields)


BadInput = Callable[[torch.Tensor, VAEOutput], tuple[Any, Any, dict[str, Any]]]
BAD_INPUTS: dict[str, BadInput] = {
    "nan_x": lambda x, out: (_nan_at_first(x), out, {}),
    "x_outside_support": lambda x, out: (x * 2.0, out, {}),
    "nan_x_hat": lambda x, out: (x, _replaced(out, x_hat=_nan_at_first(out.x_hat)), {}),
    "nan_mu": lambda x, out: (x, _replaced(out, mu=_nan_at_first(out.mu)), {}),
    "inf_log_var": lambda x, out: (
        x,
        _replaced(out, log_var=torch.full_like(out.log_var, float("inf"))),
        {},
    ),
    "negative_beta": lambda x, out: (x, out, {"beta": -1.0}),
    "nan_tensor_beta": lambda x, out: (x, out, {"beta": torch.tensor(float("nan"))}),
    "x_wrong_shape": lambda x, out: (x[:, :4], out, {}),
    "x_integer": lambda x, out: (x.long(), out, {}),
    "x_hat_without_sample_dim": lambda x, out: (x, _replaced(out, x_hat=out.x_hat[:, 0]), {}),
    "mu_wrong_shape": lambda x, out: (x, _replaced(out, mu=out.mu[:, :2]), {}),
    "empty_batch": lambda x, out: (x[:0], out, {}),
    # Two bad values at once: the general path's order decides which one is named.
    "nan_mu_and_x_outside_support": lambda x, out: (
        x * 2.0,
        _replaced(out, mu=_nan_at_first(out.mu)),
        {},
    ),
    "x_outside_support_and_nan_tensor_beta": lambda x, out: (
        x * 2.0,
        out,
        {"beta": torch.tensor(float("nan"))},
    ),
    "nan_x_hat_and_inf_log_var": lambda x, out: (
        x,
        _replaced(
            out,
            x_hat=_nan_at_first(out.x_hat),
            log_var=torch.full_like(out.log_var, float("inf")),
        ),
        {},
    ),
}


def _error(model: VAE, case: str) -> tuple[type[BaseException] | None, str]:
    """The error ``compute_loss`` raises (none: the values are valid for this likelihood)."""
    x = _data()
    torch.manual_seed(11)
    bad_x, bad_output, kwargs = BAD_INPUTS[case](x, model(x))
    try:
        model.compute_loss(bad_x, bad_output, **kwargs)
    except (ValueError, TypeError) as error:
        return type(error), str(error)
    return None, ""


@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_gets_the_general_paths_error(case: str, likelihood: str) -> None:
    plain, general = _pair(likelihood=likelihood)
    error = _error(plain, case)
    assert error == _error(general, case)
    assert error[0] is not None or (likelihood == "gaussian" and "x_outside" in case)


def test_inside_an_enclosing_scope_the_checks_settle_when_it_ends() -> None:
    plain, _ = _pair(likelihood="bernoulli")
    x = _data()
    output = plain(x)
    bad = _replaced(output, mu=_nan_at_first(output.mu))
    returned = []
    with pytest.raises(ValueError, match="mu must be finite"), ValueCheckScope():
        returned.append(plain.compute_loss(x * 2.0, bad))  # recorded, not read yet
    assert len(returned) == 1  # the call returned; the scope's end raised, naming mu first
    assert returned[0].objective.isnan()
    with ValueCheckScope():  # clean values: nothing raised, one read at the end
        plain.compute_loss(x, output)


def test_the_models_switch_holds_against_the_default() -> None:
    plain, _ = _pair(likelihood="bernoulli")
    x = _data()
    plain.value_checks = True
    with value_checks(False), pytest.raises(ValueError, match="Bernoulli targets"):
        plain.compute_loss(x * 2.0, plain(x))
    plain.value_checks = False
    result = plain.compute_loss(x * 2.0, plain(x))  # not checked
    assert torch.isfinite(result.objective)


def test_the_plain_step_compiles_with_fullgraph_and_equals_eager_mode() -> None:
    plain, _ = _pair(likelihood="bernoulli")
    x = _data()

    def step(inputs: torch.Tensor) -> torch.Tensor:
        return plain.compute_loss(inputs, plain(inputs)).objective

    compiled = torch.compile(step, fullgraph=True, backend="eager")
    torch.manual_seed(1)
    loss = compiled(x)
    torch.manual_seed(1)
    torch.testing.assert_close(loss, step(x))
    torch._dynamo.reset()


# ------------------------------------------------------- the plain output: views made on read


def test_the_plain_output_makes_each_view_once_on_its_first_read() -> None:
    plain, _ = _pair(likelihood="bernoulli")
    output = plain(_data())
    assert type(output) is _plain_step.PlainVAEOutput and isinstance(output, VAEOutput)
    x_hat, z = output.x_hat, output.z
    assert x_hat.shape == (B, 1, D_X) and z.shape == (B, 1, D_Z)
    assert output.x_hat is x_hat and output.z is z  # the same objects on every later read
    assert x_hat._base is output.flat and z._base is output.draw
    assert x_hat.requires_grad and z.requires_grad


def test_the_loss_of_a_plain_output_does_not_make_its_views() -> None:
    plain, _ = _pair(likelihood="bernoulli")
    x = _data()
    output = plain(x)
    plain.compute_loss(x, output).objective.backward()
    assert _plain_step._X_HAT_SLOT.__get__(output, VAEOutput) is None
    assert _plain_step._Z_SLOT.__get__(output, VAEOutput) is None


def test_an_assigned_x_hat_replaces_the_view_and_is_what_the_loss_reads() -> None:
    plain, general = _pair(likelihood="bernoulli")
    x = _data()
    output, reference = plain(x), general(x)
    output.x_hat = reference.x_hat  # another network's reconstruction, same shape
    assert output.x_hat is reference.x_hat
    expected = general.compute_loss(
        x, VAEOutput(reference.x_hat, output.z, output.mu, output.log_var)
    )
    assert torch.equal(plain.compute_loss(x, output).objective, expected.objective)
    output.x_hat = reference.x_hat[:, :, :-1]  # a bad shape: the general path's error
    with pytest.raises(ValueError, match="x_hat"):
        plain.compute_loss(x, output)


def test_repr_replace_and_copies_of_a_plain_output_hold_its_values() -> None:
    import copy
    import pickle

    plain, _ = _pair(likelihood="bernoulli")
    with torch.no_grad():  # graph leaves: what deepcopy and pickle take of any tensor
        output = plain(_data())
    assert repr(output).startswith("PlainVAEOutput(x_hat=Tensor(shape=(6, 1, 10)")
    replaced = dataclasses.replace(output, mu=output.mu * 0)
    assert torch.equal(replaced.x_hat, output.x_hat) and not bool(replaced.mu.any())
    for clone in (copy.deepcopy(output), pickle.loads(pickle.dumps(output))):
        torch.testing.assert_close(clone.x_hat, output.x_hat, rtol=0, atol=0)
        torch.testing.assert_close(clone.z, output.z, rtol=0, atol=0)
