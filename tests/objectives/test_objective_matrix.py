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
import re
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
    KLBalancedELBO,
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
    "kl_balanced_elbo": lambda: KLBalancedELBO(beta=0.5, epsilon=0.1),
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


@pytest.mark.parametrize("name", sorted({**BOUNDS, **PENALTIES}))
def test_docstring_states_math_paper_and_every_diagnostic_key(name: str) -> None:
    objective = {**BOUNDS, **PENALTIES}[name]()
    doc = type(objective).__doc__ or ""
    assert ".. math::" in doc, "the math, as a display formula"
    assert re.search(r"\b(19|20)\d\d\b", doc), "the paper (authors, year)"
    assert re.search(r"\b(eqs?\.|Sec\.|Appendix|Algorithm) ?[A-Z0-9]", doc), "where in it"
    for key in sorted(objective.diagnostic_keys()):
        assert f"``{key}``" in doc, f"diagnostic {key!r} is not described"


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


# Every other registered model that takes an objective / a posterior ----------------------
# Driven by the model registry and the constructors' signatures: a model registered with an
# ``objective`` (or ``posterior``) argument is checked here without editing this file.

#: Constructor arguments that keep a model tiny.
MODEL_HINTS: dict[str, dict[str, Any]] = {
    "factor_vae": {"discriminator_hidden": (8,)},
    "hierarchical_vae": {"hidden_dim": 8},
    "ladder_vae": {"hidden_dim": 8},
}
_TOP_DOWN = ("hierarchical_vae", "ladder_vae")
_NO_SINGLE_PRIOR = (TypeError, "has no single prior object")
#: (model, objective name) -> the error a combination that does not make sense is refused
#: with (an objective name with "+" is refused if either term is).
REFUSED: dict[tuple[str, str], tuple[type[Exception], str]] = {
    ("cvae", "piwae"): (ValueError, "does not support the PIWAE objective"),
    **{(m, "importance_weighted"): (ValueError, "does not support the DReG") for m in _TOP_DOWN},
    **{(m, "total_correlation"): _NO_SINGLE_PRIOR for m in _TOP_DOWN},
    **{(m, "piwae"): _NO_SINGLE_PRIOR for m in _TOP_DOWN},
    **{(m, "mmd_penalty"): _NO_SINGLE_PRIOR for m in _TOP_DOWN},
    **{
        (m, "dip_penalty"): (TypeError, "DIPPenalty needs one diagonal Gaussian") for m in _TOP_DOWN
    },
}


def _models_taking(argument: str, *, besides: tuple[str, ...] = ()) -> list[str]:
    import inspect

    from pyautoencoder.registry import get_model_entry, list_models

    return [
        name
        for name in list_models()
        if argument in inspect.signature(get_model_entry(name).cls.__init__).parameters
        and name not in besides
    ]


def _refusal(model: str, name: str) -> tuple[type[Exception], str] | None:
    for term in name.split("+"):
        if (model, term) in REFUSED:
            return REFUSED[(model, term)]
    return None


def _train_once(model_name: str, objective: Objective, **kwargs: Any) -> tuple[Any, Any]:
    torch.manual_seed(0)
    model = create_model(
        model_name,
        INPUT_SHAPE,
        LATENT,
        hidden=(8,),
        likelihood="bernoulli",
        objective=objective,
        **MODEL_HINTS.get(model_name, {}),
        **kwargs,
    )
    x = _data()
    conditional = "conditional" in getattr(type(model), "capabilities", frozenset())
    inputs = (x, torch.arange(BATCH) % model.condition_dim) if conditional else (x,)
    output = model(*inputs)
    assert output.z.shape[1] == objective.num_samples  # forward(x) draws what it needs
    result = model.compute_loss(x, output)
    assert torch.isfinite(result.objective) and result.objective.dim() == 0
    assert objective.diagnostic_keys() <= set(result.diagnostics)
    result.objective.backward()
    return model, result


def test_refusals_name_registered_models_and_objectives() -> None:
    for model, name in REFUSED:
        assert model in _models_taking("objective"), model
        assert name in BOUNDS or name in PENALTIES, name


@pytest.mark.parametrize("name", sorted(COMBINATIONS))
@pytest.mark.parametrize("model_name", _models_taking("objective", besides=("vae",)))
def test_every_model_taking_an_objective_trains_on_it(model_name: str, name: str) -> None:
    refused = _refusal(model_name, name)
    if refused is not None:
        with pytest.raises(refused[0], match=refused[1]):
            _train_once(model_name, COMBINATIONS[name]())
        return
    model, _ = _train_once(model_name, COMBINATIONS[name]())
    grads = [p.grad for n, p in model.named_parameters() if not n.startswith("discriminator")]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)


#: The bounds, the IW bound with its plain gradient (the flows refuse DReG) and a sum.
POSTERIOR_OBJECTIVES: dict[str, Callable[[], Objective]] = {
    **BOUNDS,
    "importance_weighted_plain": lambda: ImportanceWeightedBound(3, "iwae"),
    "elbo+mmd_penalty": COMBINATIONS["elbo+mmd_penalty"],
}


@pytest.mark.parametrize("name", sorted(POSTERIOR_OBJECTIVES))
@pytest.mark.parametrize("posterior", _posteriors())
@pytest.mark.parametrize("model_name", _models_taking("posterior"))
def test_every_model_taking_a_posterior_trains_with_it(
    model_name: str, posterior: str, name: str
) -> None:
    spec = posterior if posterior == "full" else f"{posterior}:2"
    objective = POSTERIOR_OBJECTIVES[name]()
    refused = _refusal(model_name, name)
    if name == "total_correlation":
        refused = (TypeError, "needs a diagonal Gaussian posterior")
    elif name == "importance_weighted" and posterior != "full":  # BOUNDS' example uses DReG
        refused = (ValueError, "DReG")
    if refused is not None:
        with pytest.raises(refused[0], match=refused[1]):
            _train_once(model_name, objective, posterior=spec)
        return
    model, _ = _train_once(model_name, objective, posterior=spec)
    assert type(model.latent_posterior).__name__ != "DiagonalGaussianPosterior"
