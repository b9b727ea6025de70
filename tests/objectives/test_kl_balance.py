"""KLBalancedELBO (Vahdat & Kautz 2020, app. A): balanced KL during warm-up, the ELBO after.

References are computed independently in float64 from the model's per-dimension KL
(``output.kl``) and the group sizes.
"""

from __future__ import annotations

import pytest
import torch
from objective_helpers import X_DIM, binary_data, make_vae
from torch import nn

from pyautoencoder.objectives import ELBO, KLBalancedELBO, Objective
from pyautoencoder.objectives._kl_balance import balancing_coefficients
from pyautoencoder.variational import HierarchicalVAE

SIZES = [1, 3]  # z_1 (bottom), z_2 (top)


def _hierarchical(objective: Objective) -> HierarchicalVAE:
    torch.manual_seed(0)
    model = HierarchicalVAE(
        nn.Sequential(nn.Linear(X_DIM, 8), nn.Tanh()),
        nn.Linear(4, X_DIM),
        SIZES,
        hidden_dim=6,
        decoder_dim=4,
        likelihood="bernoulli",
        objective=objective,
    )
    model.build(torch.zeros(1, X_DIM))
    return model.double()


def _reference(
    model: HierarchicalVAE, x: torch.Tensor, beta: float, epsilon: float
) -> torch.Tensor:
    torch.manual_seed(3)
    out = model(x)
    log_lik = model.reconstruction_log_prob(x, out).double()  # [B, S]
    kl = out.kl.double().mean(dim=1)  # [B, D]
    groups = torch.stack([kl[:, :1].sum(-1), kl[:, 1:].sum(-1)], dim=-1)  # [B, 2]
    means = groups.mean(dim=0)
    per_variable = (means + epsilon) / torch.tensor(SIZES, dtype=torch.float64)
    gamma = (
        2 * per_variable / per_variable.sum() if beta < 1 else torch.ones(2, dtype=torch.float64)
    )
    return beta * (gamma * means).sum() - log_lik.mean()


@pytest.mark.parametrize("beta", [0.0, 0.3, 0.999, 1.0, 2.0])
def test_objective_equals_the_balanced_kl_during_warm_up_and_the_elbo_after(beta: float) -> None:
    model = _hierarchical(KLBalancedELBO(epsilon=0.05))
    x = binary_data()
    expected = _reference(model, x, beta, 0.05)
    torch.manual_seed(3)
    result = model.compute_loss(x, model(x), beta=beta)
    torch.testing.assert_close(result.objective, expected)


def test_after_warm_up_it_is_the_elbo_with_the_same_diagnostics() -> None:
    x = binary_data()
    balanced, plain = _hierarchical(KLBalancedELBO()), _hierarchical(ELBO())
    torch.manual_seed(3)
    a = balanced.compute_loss(x, balanced(x))
    torch.manual_seed(3)
    b = plain.compute_loss(x, plain(x))
    torch.testing.assert_close(a.objective, b.objective)
    for key in ("elbo", "log_likelihood", "kl_divergence", "elbo_unweighted"):
        torch.testing.assert_close(a.diagnostics[key], b.diagnostics[key])
    torch.testing.assert_close(a.diagnostics["kl_balanced"], b.diagnostics["kl_divergence"])


def test_a_tensor_beta_gives_what_the_number_gives() -> None:
    model = _hierarchical(KLBalancedELBO())
    x = binary_data()
    for beta in (0.4, 1.0):
        torch.manual_seed(3)
        number = model.compute_loss(x, model(x), beta=beta).objective
        torch.manual_seed(3)
        tensor = model.compute_loss(x, model(x), beta=torch.tensor(beta)).objective
        torch.testing.assert_close(tensor, number.to(tensor.dtype))


def test_coefficients_have_mean_one_follow_kl_per_variable_and_carry_no_gradient() -> None:
    kl = torch.tensor([[1.0, 6.0, 0.0], [3.0, 2.0, 0.0]], requires_grad=True)  # [B, L]
    sizes = torch.tensor([1.0, 2.0, 4.0])
    gamma = balancing_coefficients(kl, sizes, epsilon=0.01)
    per_variable = torch.tensor([2.01 / 1, 4.01 / 2, 0.01 / 4])
    torch.testing.assert_close(gamma, 3 * per_variable / per_variable.sum())
    torch.testing.assert_close(gamma.mean(), torch.tensor(1.0))
    assert gamma.grad_fn is None


def test_gradient_treats_the_coefficients_as_constants() -> None:
    model = _hierarchical(KLBalancedELBO())
    x = binary_data()
    torch.manual_seed(3)
    out = model(x)
    kl = out.kl
    kl.retain_grad()
    model.compute_loss(x, out, beta=0.5).objective.backward()
    groups = kl.detach().mean(dim=1)
    means = torch.stack([groups[:, :1].sum(-1), groups[:, 1:].sum(-1)], -1).mean(0)
    per_variable = (means + 0.01) / torch.tensor(SIZES, dtype=means.dtype)
    gamma = 2 * per_variable / per_variable.sum()
    batch, samples = kl.shape[:2]
    expected = torch.cat([gamma[0].expand(1), gamma[1].expand(3)]) * 0.5 / (batch * samples)
    torch.testing.assert_close(kl.grad, expected.expand_as(kl))


def test_a_one_layer_model_is_one_group_so_the_objective_is_the_elbo() -> None:
    x = binary_data()
    for beta in (0.3, 1.0):
        balanced, plain = make_vae(KLBalancedELBO()), make_vae(ELBO())
        torch.manual_seed(5)
        a = balanced.compute_loss(x, balanced(x), beta=beta).objective
        torch.manual_seed(5)
        b = plain.compute_loss(x, plain(x), beta=beta).objective
        torch.testing.assert_close(a, b)


def test_bad_arguments_name_themselves() -> None:
    with pytest.raises(ValueError, match="epsilon"):
        KLBalancedELBO(epsilon=-1.0)
    with pytest.raises(ValueError, match="beta"):
        KLBalancedELBO(beta=-0.5)
    model = _hierarchical(KLBalancedELBO())
    x = binary_data()
    with pytest.raises(ValueError, match="beta"):
        model.compute_loss(x, model(x), beta=-1.0)


def test_config_round_trips() -> None:
    objective = KLBalancedELBO(beta=2.0, epsilon=0.1)
    assert Objective.from_config(objective.config()).config() == objective.config()


def test_traces_under_compile_fullgraph() -> None:
    model = _hierarchical(KLBalancedELBO())
    x = binary_data()
    beta = torch.tensor(0.5, dtype=torch.float64)

    def loss(batch: torch.Tensor) -> torch.Tensor:
        return model.compute_loss(batch, model(batch), beta=beta).objective

    compiled = torch.compile(loss, fullgraph=True, backend="eager")
    assert torch.isfinite(compiled(x))
