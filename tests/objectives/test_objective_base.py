"""The Objective protocol: delegation from VAE, sums, configs, refusals."""

from __future__ import annotations

import pytest
import torch
from objective_helpers import binary_data, make_vae

from pyautoencoder.loss import LossResult
from pyautoencoder.objectives import ELBO, ImportanceWeightedBound, Objective, SumObjective


def test_vae_compute_loss_delegates_to_its_objective() -> None:
    model = make_vae(ImportanceWeightedBound(3))
    x = binary_data()
    torch.manual_seed(1)
    out = model(x)
    assert out.z.shape[1] == 3  # forward draws the objective's num_samples by default
    direct = model.objective(model, x, out)
    via_model = model.compute_loss(x, out)
    torch.testing.assert_close(direct.objective, via_model.objective)
    assert direct.diagnostics.keys() == via_model.diagnostics.keys()


def test_default_objective_is_the_elbo_and_forward_draws_one_sample() -> None:
    model = make_vae()
    assert isinstance(model.objective, ELBO) and model.objective.beta == 1.0
    assert model(binary_data()).z.shape[1] == 1
    assert model(binary_data(), sample=False).z.shape[1] == 1


def test_free_bits_shorthand_builds_the_elbo_and_refuses_an_objective_too() -> None:
    assert make_vae(free_bits=0.5).objective.free_bits == 0.5  # type: ignore[union-attr]
    with pytest.raises(ValueError, match=r"objective=ELBO\(free_bits=\.\.\.\)"):
        make_vae(ELBO(), free_bits=0.5)


def test_objective_must_be_an_objective() -> None:
    with pytest.raises(TypeError, match=r"must be a pyautoencoder\.objectives\.Objective"):
        make_vae("elbo")  # type: ignore[arg-type]


class Constant(Objective):
    """An objective worth ``value``, reporting it under ``key``."""

    def __init__(self, value: float, key: str = "constant") -> None:
        super().__init__()
        self.value, self.key = value, key

    def forward(self, model, x, output, *, beta=1.0, likelihood=None) -> LossResult:  # type: ignore[no-untyped-def]
        value = torch.tensor(self.value, dtype=x.dtype)
        return LossResult(objective=value, diagnostics={self.key: value})

    def diagnostic_keys(self) -> frozenset[str]:
        return frozenset({self.key})


def test_sum_adds_objectives_and_merges_diagnostics() -> None:
    model = make_vae()
    x = binary_data()
    out = model(x)
    total = (ELBO() + Constant(2.5))(model, x, out)
    alone = ELBO()(model, x, out)
    torch.testing.assert_close(total.objective, alone.objective + 2.5)
    assert set(total.diagnostics) == set(alone.diagnostics) | {"constant"}
    with pytest.raises(ValueError, match="both report the diagnostic 'constant'"):
        Constant(1.0) + Constant(2.0)
    with pytest.raises(ValueError, match="both report the diagnostic 'elbo'"):
        ELBO() + ELBO(beta=2.0)


def test_sum_of_sums_is_flat_and_needs_two_terms() -> None:
    total = (ELBO() + Constant(1.0, "a")) + (Constant(2.0, "b") + Constant(3.0, "c"))
    assert isinstance(total, SumObjective) and len(total.terms) == 4
    with pytest.raises(TypeError, match="two or more Objectives"):
        SumObjective(ELBO())


@pytest.mark.parametrize(
    "objective",
    [ELBO(), ELBO(beta=4.0, free_bits=0.25), ImportanceWeightedBound(7, "dreg")],
    ids=repr,
)
def test_config_rebuilds_an_equal_objective(objective: Objective) -> None:
    import json

    config = json.loads(json.dumps(objective.config()))
    rebuilt = Objective.from_config(config)
    assert type(rebuilt) is type(objective) and rebuilt.config() == objective.config()


def test_unknown_objective_name_suggests_close_ones() -> None:
    with pytest.raises(ValueError, match=r"Unknown objective 'elb'\. Did you mean 'elbo'"):
        Objective.from_config({"name": "elb"})


@pytest.mark.parametrize("bad", [-1.0, float("nan"), float("inf")])
def test_elbo_weights_must_be_finite_and_non_negative(bad: float) -> None:
    with pytest.raises(ValueError, match="beta must be finite and >= 0"):
        ELBO(beta=bad)
    with pytest.raises(ValueError, match="free_bits must be finite and >= 0"):
        ELBO(free_bits=bad)


def test_gradient_estimator_is_checked_at_construction() -> None:
    with pytest.raises(ValueError, match="gradient_estimator must be 'iwae' or 'dreg', got 'dreq'"):
        ImportanceWeightedBound(3, "dreq")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="num_samples"):
        ImportanceWeightedBound(0)
