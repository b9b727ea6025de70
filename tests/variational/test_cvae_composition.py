"""CVAE is a composition: the VAE's machinery with the condition wrapped onto the networks'
inputs (issue 12), so posteriors and objectives of the VAE work for it unchanged, and its
``state_dict`` keys, config and files are those it had before.

The reference of the first tests is independent of the CVAE code: under one fixed label a
CVAE must be exactly a :class:`VAE` whose encoder and decoder append that label to their
inputs (the same module objects, so the same weights), in float64.
"""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from pyautoencoder import evaluation
from pyautoencoder.distributions import available_posteriors, get_posterior
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
from pyautoencoder.variational import CVAE, VAE, ConcatConditioning, PosteriorOutput
from pyautoencoder.variational import _cvae as cvae_module
from pyautoencoder.variational._vae_base import VAEBase

X_DIM, LATENT, CLASSES, BATCH = 6, 2, 3, 5
CHECKPOINT = Path(__file__).parent / "data" / "cvae_checkpoint"


class _Append(nn.Module):
    """``net(cat[v, c])`` for a fixed condition row ``c [C]`` (the reference networks)."""

    def __init__(self, net: nn.Module, condition: torch.Tensor) -> None:
        super().__init__()
        self.net = net
        self.condition = condition

    def forward(self, v: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([v, self.condition.expand(v.shape[0], -1)], dim=1))


def _networks() -> tuple[nn.Module, nn.Module]:
    encoder = nn.Sequential(nn.Linear(X_DIM + CLASSES, 8), nn.Tanh())
    decoder = nn.Sequential(nn.Linear(LATENT + CLASSES, 8), nn.Tanh(), nn.Linear(8, X_DIM))
    return encoder, decoder


def _data(batch: int = BATCH) -> torch.Tensor:
    return torch.rand(batch, X_DIM, generator=torch.Generator().manual_seed(3)).double()


def _twins(label: int, **kwargs: Any) -> tuple[CVAE, VAE]:
    """A CVAE and the VAE on the same networks that append ``one_hot(label)`` (float64)."""
    torch.manual_seed(0)
    encoder, decoder = _networks()
    cvae = CVAE(encoder, decoder, LATENT, condition_dim=CLASSES, **kwargs).double()
    condition = F.one_hot(torch.tensor(label), CLASSES).double()
    vae = VAE(_Append(encoder, condition), _Append(decoder, condition), LATENT, **kwargs)
    vae.sampling_layer = cvae.sampling_layer  # the same (already materialised) heads
    cvae(_data(), torch.full((BATCH,), label), sample=False)
    return cvae, vae.double()


@pytest.mark.parametrize("posterior", ["diagonal", "iaf"])
def test_under_one_label_a_cvae_is_a_vae_on_networks_that_append_it(posterior: str) -> None:
    shared: dict[str, Any] = {"objective": ImportanceWeightedBound(3)}
    if posterior != "diagonal":  # one flow object: both models hold the same parameters
        shared["posterior"] = get_posterior("iaf:2", LATENT)
    cvae, vae = _twins(1, **shared)
    x, y = _data(), torch.full((BATCH,), 1)
    torch.manual_seed(4)
    out_c = cvae(x, y)
    loss_c = cvae.compute_loss(x, out_c, beta=0.5)
    torch.manual_seed(4)
    out_v = vae(x)
    loss_v = vae.compute_loss(x, out_v, beta=0.5)
    assert type(out_c) is type(out_v) and out_c.z.shape == (BATCH, 3, LATENT)
    for field in ("x_hat", "z", "mu", "log_var"):
        torch.testing.assert_close(getattr(out_c, field), getattr(out_v, field))
    torch.testing.assert_close(loss_c.objective, loss_v.objective)
    assert loss_c.diagnostics.keys() == loss_v.diagnostics.keys()
    for key, value in loss_c.diagnostics.items():
        torch.testing.assert_close(value, loss_v.diagnostics[key])


def test_under_one_label_encode_decode_sample_reconstruct_and_posterior_match_the_vae() -> None:
    cvae, vae = _twins(2)
    x, y = _data(), torch.full((BATCH,), 2)
    torch.testing.assert_close(cvae.encode(x, y).z, vae.encode(x).z)
    torch.manual_seed(6)
    z = cvae.encode(x, y, S=4, sample=True).z
    torch.manual_seed(6)
    torch.testing.assert_close(z, vae.encode(x, S=4, sample=True).z)
    torch.testing.assert_close(cvae.decode(z, y).x_hat, vae.decode(z).x_hat)
    torch.testing.assert_close(cvae.reconstruct(x, y), vae.reconstruct(x))
    q_c, q_v = cvae.posterior(x, y), vae.posterior(x)
    torch.testing.assert_close(q_c.log_prob(z.transpose(0, 1)), q_v.log_prob(z.transpose(0, 1)))
    torch.manual_seed(7)
    samples = cvae.sample(4, torch.tensor([2]))  # [1, 4, X_DIM]
    torch.manual_seed(7)
    torch.testing.assert_close(samples[0], vae.sample(4))


def test_under_one_label_the_evaluation_of_a_cvae_is_that_of_the_vae() -> None:
    """log p(x | y), ELBO, reconstruction error, active units and KL per dimension of a CVAE
    from (x, y) batches equal the plain VAE's numbers on x (same seeds)."""
    cvae, vae = _twins(0)
    x = _data(8)
    batches = list(zip(x.split(3), torch.zeros(8, dtype=torch.long).split(3)))
    for estimate in (evaluation.log_likelihood_estimate, evaluation.elbo):
        got = estimate(cvae, batches, 20, chunk_size=7, seed=1)
        expected = estimate(vae, x.split(3), 20, chunk_size=7, seed=1)
        torch.testing.assert_close(got.values, expected.values)
    torch.testing.assert_close(
        evaluation.reconstruction_error(cvae, batches).values,
        evaluation.reconstruction_error(vae, x).values,
    )
    torch.testing.assert_close(
        evaluation.active_units(cvae, batches).variances,
        evaluation.active_units(vae, x).variances,
    )
    torch.testing.assert_close(
        evaluation.kl_per_dimension(cvae, batches), evaluation.kl_per_dimension(vae, x)
    )


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (torch.rand(4, X_DIM), r"CVAE is conditional: pass data as batches \(x, y\)"),
        ([torch.rand(4, X_DIM)], r"every batch must be \(x, y\), got a tensor"),
        ([(torch.rand(4, X_DIM),)], r"every batch must be \(x, y\), got 1 item\(s\)"),
        ([(torch.rand(4, X_DIM), [0, 1, 2, 0])], r"condition y of every batch must be a tensor"),
    ],
)
def test_evaluating_a_cvae_without_y_is_a_clear_error(data: Any, message: str) -> None:
    with pytest.raises(TypeError, match=message):
        evaluation.elbo(_model(), data)


def test_cvae_writes_only_its_signatures_and_the_two_input_hooks() -> None:
    machinery = {name for name, value in vars(VAEBase).items() if callable(value)}
    redefined = {name for name, value in vars(CVAE).items() if callable(value)} & machinery
    assert redefined == {"__init__", "_encoder_input", "_decoder_input"}
    assert {name for name, value in vars(VAE).items() if callable(value)} & machinery == {
        "__init__"
    }
    assert "type: ignore" not in inspect.getsource(cvae_module)


def _model(**kwargs: Any) -> CVAE:
    torch.manual_seed(0)
    model = create_model("cvae", (X_DIM,), LATENT, hidden=(8,), condition_dim=CLASSES, **kwargs)
    assert isinstance(model, CVAE)
    return model


def _labels(batch: int = BATCH) -> torch.Tensor:
    return torch.arange(batch) % CLASSES


@pytest.mark.parametrize("posterior", available_posteriors())
def test_every_posterior_is_conditioned_on_y_and_trains(posterior: str) -> None:
    spec = posterior if posterior in ("diagonal", "full") else f"{posterior}:2"
    model = _model(posterior=spec)
    x, y = _data().float(), _labels()
    torch.manual_seed(1)
    output = model(x, y, S=2)
    assert output.z.shape == (BATCH, 2, LATENT)
    assert isinstance(output, PosteriorOutput) == (posterior != "diagonal")
    loss = model.compute_loss(x, output)
    loss.objective.backward()
    assert torch.isfinite(loss.objective)
    for name, param in model.named_parameters():
        assert param.grad is not None and torch.isfinite(param.grad).all(), name
    draws = []
    for label in (0, 1):  # the condition reaches q(z | x, y): another label, another q
        torch.manual_seed(2)
        with torch.no_grad():
            draws.append(model.posterior(x, torch.full((BATCH,), label)).rsample())
    assert draws[0].shape == (BATCH, LATENT) and not torch.allclose(draws[0], draws[1])


#: Every registered objective but PIWAE (and the internal "sum"), tiny; penalties on an ELBO.
OBJECTIVE_EXAMPLES: dict[str, Any] = {
    "elbo": lambda: ELBO(beta=2.0, free_bits=0.1),
    "importance_weighted": lambda: ImportanceWeightedBound(3, "dreg"),
    "miwae": lambda: MIWAE(num_importance=2, num_averaged=2),
    "ciwae": lambda: CIWAE(beta=0.5, num_samples=3),
    "total_correlation": lambda: TotalCorrelation(1.0, 4.0, 1.0, "mss", dataset_size=60),
    "capacity_elbo": lambda: CapacityELBO(100.0, LinearCapacity(5.0, num_steps=10)),
    "kl_balanced_elbo": lambda: KLBalancedELBO(beta=0.5, epsilon=0.1),
    "dip_penalty": lambda: ELBO() + DIPPenalty("ii", 2.0),
    "mmd_penalty": lambda: ELBO() + MMDPenalty("rbf", 3.0),
}


def test_every_registered_objective_is_covered_or_refused() -> None:
    assert set(OBJECTIVE_EXAMPLES) | {"piwae", "sum"} == set(OBJECTIVES.names())


@pytest.mark.parametrize("name", sorted(OBJECTIVE_EXAMPLES))
def test_objective_trains_a_cvae_with_its_declared_diagnostics(name: str) -> None:
    objective: Objective = OBJECTIVE_EXAMPLES[name]()
    model = _model(objective=objective, likelihood="bernoulli")
    x, y = (_data() > 0.5).float(), _labels()
    output = model(x, y)
    assert output.z.shape[1] == objective.num_samples  # forward draws the objective's S
    result = model.compute_loss(x, output)
    assert result.objective.dim() == 0 and torch.isfinite(result.objective)
    assert set(result.diagnostics) == objective.diagnostic_keys()
    result.objective.backward()
    for param_name, param in model.named_parameters():
        assert param.grad is not None and torch.isfinite(param.grad).all(), param_name


@pytest.mark.parametrize(
    "objective", [PIWAE(2, 2), PIWAE(2, 2) + MMDPenalty("rbf", 1.0)], ids=["alone", "in_a_sum"]
)
def test_piwae_is_refused_because_it_decodes_without_y(objective: Objective) -> None:
    with pytest.raises(ValueError, match="CVAE does not support the PIWAE objective"):
        CVAE(nn.Linear(9, 8), nn.Linear(5, 6), LATENT, condition_dim=CLASSES, objective=objective)


def test_a_checkpoint_written_before_the_composition_loads_and_gives_its_numbers() -> None:
    expected = json.loads((CHECKPOINT / "expected.json").read_text())
    model = from_pretrained(CHECKPOINT)
    assert isinstance(model, CVAE)
    assert list(model.state_dict()) == expected["state_dict_keys"]
    x, y = torch.tensor(expected["x"]), torch.tensor(expected["y"])
    torch.testing.assert_close(model.encode(x, y).mu, torch.tensor(expected["mu"]))
    torch.testing.assert_close(model.reconstruct(x, y), torch.tensor(expected["reconstruct"]))
    torch.manual_seed(5)
    objective = model.compute_loss(x, model(x, y, S=2)).objective
    assert float(objective.detach()) == pytest.approx(expected["seed5_S2_objective"], rel=1e-6)


def test_state_dict_keys_of_a_hand_built_cvae_are_the_2x_keys() -> None:
    class Embedded(ConcatConditioning):
        def __init__(self) -> None:
            super().__init__()
            self.embed = nn.Linear(CLASSES, CLASSES)

        def decoder_input(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            return super().decoder_input(z, self.embed(y))

    model = CVAE(nn.Linear(9, 8), nn.Linear(5, 6), LATENT, condition_dim=3, conditioning=Embedded())
    model(torch.rand(2, X_DIM), torch.tensor([0, 2]))
    assert list(model.state_dict()) == [
        "encoder.weight",
        "encoder.bias",
        "decoder.weight",
        "decoder.bias",
        "sampling_layer.mu.weight",
        "sampling_layer.mu.bias",
        "sampling_layer.log_var.weight",
        "sampling_layer.log_var.bias",
        "conditioning.embed.weight",
        "conditioning.embed.bias",
    ]


def test_posterior_and_objective_survive_save_and_from_pretrained(tmp_path: Path) -> None:
    model = _model(posterior="planar:2", objective=MIWAE(num_importance=2, num_averaged=2))
    x, y = _data().float(), _labels()
    model(x, y)
    save_pretrained(model, tmp_path)
    loaded = from_pretrained(tmp_path)
    assert isinstance(loaded, CVAE)
    assert loaded.latent_posterior.spec() == "planar:2"
    assert loaded.objective.config() == model.objective.config()
    torch.manual_seed(2)
    expected = model.compute_loss(x, model(x, y)).objective
    torch.manual_seed(2)
    torch.testing.assert_close(loaded.compute_loss(x, loaded(x, y)).objective, expected)


@pytest.mark.slow
def test_compiles_with_fullgraph_with_a_flow_and_an_importance_weighted_bound() -> None:
    model = _model(posterior="iaf:2", objective=ImportanceWeightedBound(3))
    x, y = _data().float(), _labels()
    model(x, y)

    def step(inputs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return model.compute_loss(inputs, model(inputs, labels)).objective

    torch._dynamo.reset()
    loss = torch.compile(step, fullgraph=True, backend="eager")(x, y)
    loss.backward()
    assert loss.dim() == 0 and torch.isfinite(loss)
