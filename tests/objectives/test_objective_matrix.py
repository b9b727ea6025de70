"""Every registered objective, alone and as bound + penalty, on a tiny VAE from create_model.

Parametrized over the objective registry (``OBJECTIVES``) with the tiny settings below; a
newly registered objective fails ``test_every_registered_objective_has_a_tiny_example`` until
it gets one. Checks: finite 0-dim objective, detached diagnostics with exactly the declared
keys, gradients reach every parameter, ``forward(x)`` draws ``num_samples``, the config
rebuilds the objective and ``save_pretrained``/``from_pretrained`` rebuild the model with it.
Posteriors: the ones registered in ``pyautoencoder.distributions`` that a term accepts.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
import torch

from pyautoencoder.nets import create_model, from_pretrained, save_pretrained
from pyautoencoder.objectives import (
    CIWAE,
    ELBO,
    MIWAE,
    OBJECTIVES,
    PIWAE,
    CapacityELBO,
    DIPPenalty,
    ImportanceWeightedBound,
    LinearCapacity,
    MMDPenalty,
    Objective,
    TotalCorrelation,
)

#: registry name -> a tiny instance.
BOUNDS: dict[str, Callable[[], Objective]] = {
    "elbo": lambda: ELBO(beta=2.0, free_bits=0.1),
    "importance_weighted": lambda: ImportanceWeightedBound(3, "dreg"),
    "miwae": lambda: MIWAE(num_importance=2, num_averaged=2),
    "piwae": lambda: PIWAE(num_importance=2, num_averaged=2),
    "ciwae": lambda: CIWAE(beta=0.5, num_samples=3),
    "total_correlation": lambda: TotalCorrelation(1.0, 4.0, 1.0, "mss", dataset_size=60),
    "capacity_elbo": lambda: CapacityELBO(100.0, LinearCapacity(5.0, num_steps=10)),
}
PENALTIES: dict[str, Callable[[], Objective]] = {
    "dip_penalty": lambda: DIPPenalty("ii", 2.0),
    "mmd_penalty": lambda: MMDPenalty("rbf", 3.0),
}
COMBINATIONS: dict[str, Callable[[], Objective]] = {
    **BOUNDS,
    **{
        f"{bound}+{penalty}": (lambda b=make_b, p=make_p: b() + p())
        for bound, make_b in BOUNDS.items()
        for penalty, make_p in PENALTIES.items()
    },
}
INPUT_SHAPE, LATENT, BATCH = (12,), 3, 6


def _model(objective: Objective) -> Any:
    torch.manual_seed(0)
    return create_model(
        "vae", INPUT_SHAPE, LATENT, hidden=(8,), likelihood="bernoulli", objective=objective
    )


def _data() -> torch.Tensor:
    return (
        torch.rand(BATCH, *INPUT_SHAPE, generator=torch.Generator().manual_seed(1)) > 0.5
    ).float()


def test_every_registered_objective_has_a_tiny_example() -> None:
    assert set(BOUNDS) | set(PENALTIES) | {"sum"} == set(OBJECTIVES.names())


@pytest.mark.parametrize("name", sorted(COMBINATIONS))
def test_objective_trains_every_parameter_with_declared_diagnostics(name: str) -> None:
    objective = COMBINATIONS[name]()
    model = _model(objective)
    x = _data()
    output = model(x)
    assert output.z.shape[1] == objective.num_samples
    result = model.compute_loss(x, output)
    assert result.objective.dim() == 0 and torch.isfinite(result.objective)
    assert set(result.diagnostics) == objective.diagnostic_keys()
    for key, value in result.diagnostics.items():
        assert value.dim() == 0 and not value.requires_grad and torch.isfinite(value), key
    result.objective.backward()
    for param_name, param in model.named_parameters():
        assert param.grad is not None and torch.isfinite(param.grad).all(), param_name
        if not name.startswith("capacity_elbo"):  # |KL - C| at C = 0 can zero a gradient
            assert param.grad.abs().sum() > 0, param_name


@pytest.mark.parametrize("name", sorted(COMBINATIONS))
def test_config_and_pretrained_round_trip(name: str, tmp_path: Any) -> None:
    objective = COMBINATIONS[name]()
    rebuilt = Objective.from_config(json.loads(json.dumps(objective.config())))
    assert rebuilt.config() == objective.config()
    model = _model(objective)
    save_pretrained(model, tmp_path)
    loaded = from_pretrained(tmp_path)
    assert loaded.objective.config() == objective.config()
    x = _data()
    model.eval()
    torch.manual_seed(2)
    expected = model.compute_loss(x, model(x)).objective
    torch.manual_seed(2)
    torch.testing.assert_close(loaded.compute_loss(x, loaded(x)).objective, expected)


@pytest.mark.parametrize("name", sorted(BOUNDS))
def test_objective_compiles_with_fullgraph(name: str) -> None:
    model = _model(BOUNDS[name]())
    x = _data()

    def step(batch: torch.Tensor) -> torch.Tensor:
        return model.compute_loss(batch, model(batch)).objective

    torch._dynamo.reset()
    compiled = torch.compile(step, fullgraph=True, backend="eager")
    torch.manual_seed(3)
    value = compiled(x)
    assert value.dim() == 0 and torch.isfinite(value)


def _posteriors() -> list[str]:
    from pyautoencoder import distributions

    available = getattr(distributions, "available_posteriors", None)
    return [] if available is None else [p for p in available() if p != "diagonal"]


@pytest.mark.parametrize("posterior", _posteriors())
@pytest.mark.parametrize("name", sorted(BOUNDS))
def test_bound_with_every_posterior(name: str, posterior: str) -> None:
    objective = BOUNDS[name]()
    torch.manual_seed(0)
    spec = posterior if posterior in ("full",) else f"{posterior}:2"
    model = create_model(
        "vae",
        INPUT_SHAPE,
        LATENT,
        hidden=(8,),
        likelihood="bernoulli",
        objective=objective,
        posterior=spec,
    )
    x = _data()
    if name == "total_correlation":
        with pytest.raises(TypeError, match="needs a diagonal Gaussian posterior"):
            model.compute_loss(x, model(x))
        return
    if name == "importance_weighted" and posterior != "full":  # the example uses DReG
        with pytest.raises(ValueError, match="DReG"):
            model.compute_loss(x, model(x))
        return
    result = model.compute_loss(x, model(x))
    assert torch.isfinite(result.objective)
    result.objective.backward()
