"""CapacityELBO (Burgess et al. 2018): closed form in float64, the step counter and schedule."""

from __future__ import annotations

import torch
from objective_helpers import binary_data, make_vae, reference_log_weights

from pyautoencoder.objectives import CapacityELBO, LinearCapacity, Objective


def test_capacity_objective_equals_closed_form() -> None:
    model = make_vae(CapacityELBO(gamma=50.0, capacity_schedule=2.0))
    x = binary_data()
    out = model(x, S=3)
    result = model.compute_loss(x, out, beta=0.5)
    log_lik, _, _, kl = reference_log_weights(x, out)
    expected = 25.0 * (kl - 2.0).abs().mean() - log_lik.mean()
    torch.testing.assert_close(result.objective, expected)
    assert float(result.diagnostics["capacity"]) == 2.0


def test_linear_capacity_grows_with_training_steps_only() -> None:
    objective = CapacityELBO(gamma=10.0, capacity_schedule=LinearCapacity(8.0, num_steps=4))
    model = make_vae(objective)
    x = binary_data()
    seen = []
    for _ in range(6):
        seen.append(float(model.compute_loss(x, model(x)).diagnostics["capacity"]))
    assert seen == [0.0, 2.0, 4.0, 6.0, 8.0, 8.0]
    model.eval()
    model.compute_loss(x, model(x))
    assert int(objective.step) == 6  # evaluation does not advance the schedule
    assert int(model.state_dict()["objective.step"]) == 6  # saved with the model


def test_capacity_config_round_trips() -> None:
    objective = CapacityELBO(gamma=3.0, capacity_schedule=LinearCapacity(5.0, 100, start=1.0))
    rebuilt = Objective.from_config(objective.config())
    assert rebuilt.config() == objective.config()
