"""VQVAE with the default quantizer gives the 2.x results after the quantizer protocol refactor.

``data/vqvae_2x_golden.json`` was written by the code before the refactor (commit bfb96b0) with
the procedure of :func:`_run` below: six SGD steps of a tiny VQ-VAE in float64, then an eval
pass. The refactored model must reproduce the losses, diagnostics, indices and every learned
tensor (``beta=`` is the deprecated name of ``commitment_weight``; both give the same model).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from pyautoencoder.quantized import VQVAE

GOLDEN = json.loads((Path(__file__).parent / "data" / "vqvae_2x_golden.json").read_text())


def _make(kwargs: dict[str, Any]) -> VQVAE:
    torch.manual_seed(0)
    encoder = nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 3))
    decoder = nn.Sequential(nn.Linear(3, 16), nn.Tanh(), nn.Linear(16, 6))
    return VQVAE(encoder, decoder, num_codes=8, code_dim=3, **kwargs).double()


def _run(kwargs: dict[str, Any]) -> dict[str, Any]:
    model = _make(kwargs)
    x = torch.randn(64, 6, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    torch.manual_seed(2)
    losses = []
    for step in range(6):
        batch = x[(step * 16) % 64 :][:16]
        result = model.compute_loss(batch, model(batch))
        optimizer.zero_grad()
        result.objective.backward()
        optimizer.step()
        losses.append(float(result.objective.detach()))
    model.eval()
    out = model(x)
    result = model.compute_loss(x, out)
    return {
        "losses": losses,
        "eval_objective": float(result.objective.detach()),
        "diagnostics": {k: float(v) for k, v in result.diagnostics.items()},
        "indices": out.indices.tolist(),
        "state": {k: v.double().flatten().tolist() for k, v in model.state_dict().items()},
    }


@pytest.mark.parametrize("case", sorted(GOLDEN["cases"]))
@pytest.mark.filterwarnings("ignore:beta -> commitment_weight:DeprecationWarning")
def test_default_quantizer_reproduces_the_2x_results(case: str) -> None:
    kwargs = dict(GOLDEN["cases"][case])
    expected = GOLDEN["results"][case]
    got = _run(kwargs)
    assert got["indices"] == expected["indices"]
    assert got["losses"] == pytest.approx(expected["losses"], rel=1e-12, abs=1e-12)
    assert got["eval_objective"] == pytest.approx(expected["eval_objective"], rel=1e-12)
    for key, value in expected["diagnostics"].items():
        assert got["diagnostics"][key] == pytest.approx(value, rel=1e-12, abs=1e-12), key
    assert set(got["state"]) == set(expected["state"])
    for key, value in expected["state"].items():
        torch.testing.assert_close(
            torch.tensor(got["state"][key]), torch.tensor(value), rtol=1e-12, atol=1e-12
        )


def test_beta_is_the_deprecated_name_of_commitment_weight() -> None:
    with pytest.warns(DeprecationWarning, match="beta -> commitment_weight"):
        old = _run({"ema": False, "beta": 0.3})
    new = _run({"ema": False, "commitment_weight": 0.3})
    assert old == new
    with pytest.raises(TypeError, match="commitment_weight"):
        _make({"beta": 0.3, "commitment_weight": 0.5})
