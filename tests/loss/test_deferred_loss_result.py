"""``DeferredLossResult``: a ``LossResult`` whose diagnostics are computed once, when first read.

The ELBO family returns one: a training loop that reads only the objective runs none of the
diagnostics' tensor operations. Everything a user can do with a ``LossResult`` still works
and gives the same values whenever the diagnostics are read.
"""

from __future__ import annotations

import copy
import dataclasses
import pickle

import pytest
import torch
from torch import nn

from pyautoencoder.loss import LossResult
from pyautoencoder.loss._result import DeferredLossResult
from pyautoencoder.objectives import ELBO
from pyautoencoder.variational import VAE


class _Counter:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> dict[str, torch.Tensor]:
        self.calls += 1
        return {"value": torch.tensor(float(self.calls))}


def test_the_diagnostics_are_computed_on_the_first_read_and_kept() -> None:
    compute = _Counter()
    result = DeferredLossResult(torch.tensor(1.0), compute=compute)
    assert compute.calls == 0
    first = result.diagnostics
    assert compute.calls == 1 and isinstance(first, dict) and type(first) is dict
    assert result.diagnostics is first and compute.calls == 1
    assert isinstance(result, LossResult)


def test_exactly_one_of_diagnostics_and_compute_is_required() -> None:
    with pytest.raises(TypeError, match="exactly one of diagnostics and compute"):
        DeferredLossResult(torch.tensor(1.0))
    with pytest.raises(TypeError, match="exactly one of diagnostics and compute"):
        DeferredLossResult(torch.tensor(1.0), {}, compute=dict)


def test_assigning_diagnostics_replaces_them_without_computing() -> None:
    compute = _Counter()
    result = DeferredLossResult(torch.tensor(1.0), compute=compute)
    result.diagnostics = {"other": torch.tensor(2.0)}
    assert list(result.diagnostics) == ["other"] and compute.calls == 0


def test_repr_replace_asdict_copy_and_pickle_see_the_values() -> None:
    result = DeferredLossResult(torch.tensor(1.0), compute=_Counter())
    assert "value" in repr(result)
    replaced = dataclasses.replace(result, objective=torch.tensor(2.0))
    assert float(replaced.objective) == 2.0 and float(replaced.diagnostics["value"]) == 1.0
    assert set(dataclasses.asdict(result)) == {"objective", "diagnostics"}
    for clone in (copy.deepcopy(result), pickle.loads(pickle.dumps(result))):
        assert type(clone) is LossResult
        assert float(clone.diagnostics["value"]) == 1.0


def _vae_result(beta: float | torch.Tensor = 1.0) -> tuple[LossResult, torch.Tensor]:
    torch.manual_seed(0)
    encoder = nn.Sequential(nn.Linear(6, 8), nn.Tanh())
    decoder = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 6))
    model = VAE(encoder, decoder, 2, likelihood="bernoulli", objective=ELBO())
    model.build(torch.zeros(1, 6))
    x = torch.bernoulli(torch.full((5, 6), 0.5), generator=torch.Generator().manual_seed(1))
    result = model.compute_loss(x, model(x), beta=beta)
    return result, result.objective.detach().clone()


@pytest.mark.parametrize("beta", [1.0, 0.25, torch.tensor(3.0)])
def test_the_vae_elbo_is_minus_the_objective_bit_for_bit(beta: float | torch.Tensor) -> None:
    result, objective = _vae_result(beta)
    assert type(result) is DeferredLossResult
    diagnostics = result.diagnostics
    assert torch.equal(diagnostics["elbo"], -objective)
    expected = diagnostics["log_likelihood"] - beta * diagnostics["kl_divergence"]
    torch.testing.assert_close(diagnostics["elbo"], expected)
    torch.testing.assert_close(
        diagnostics["elbo_unweighted"],
        diagnostics["log_likelihood"] - diagnostics["kl_divergence"],
    )
    assert all(not value.requires_grad and value.shape == () for value in diagnostics.values())


def test_with_beta_one_the_two_bounds_are_equal_tensors_of_their_own() -> None:
    result, _ = _vae_result(1.0)
    diagnostics = result.diagnostics
    assert torch.equal(diagnostics["elbo"], diagnostics["elbo_unweighted"])
    assert diagnostics["elbo"] is not diagnostics["elbo_unweighted"]


def test_diagnostics_read_after_the_step_equal_those_read_before() -> None:
    early, objective = _vae_result()
    read_first = {key: value.clone() for key, value in early.diagnostics.items()}
    late, _ = _vae_result()
    late.objective.backward()
    late.objective.data.mul_(0.5)  # even an in-place change of the objective
    for key, value in read_first.items():
        assert torch.equal(late.diagnostics[key], value), key
    assert torch.equal(read_first["elbo"], -objective)
