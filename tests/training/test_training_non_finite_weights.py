"""Non-finite weights: the trainer stops on them, loading refuses them (unless asked not to)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn
from training_helpers import QUIET, make_vae

from pyautoencoder.pretrained import PretrainedError, from_pretrained, save_pretrained
from pyautoencoder.training import CheckpointError, NonFiniteLossError, fit, load_weights


class _PoisonAt:
    """A callback that sets one element of ``model.unused`` to ``value`` after ``step``."""

    def __init__(self, step: int, value: float) -> None:
        self.step, self.value = step, value

    def on_step_end(self, trainer: Any, step: int) -> None:
        if step == self.step:
            with torch.no_grad():
                trainer.model.unused[1] = self.value


def _vae_with_unused_parameter() -> nn.Module:
    model = make_vae()
    model.register_parameter("unused", nn.Parameter(torch.zeros(3)))  # not in the loss
    return model


@pytest.mark.parametrize("value", [math.nan, math.inf])
def test_fit_stops_at_a_non_finite_parameter_while_the_loss_is_finite(
    data: tuple[torch.Tensor, torch.Tensor], tmp_path: Path, value: float
) -> None:
    train, _ = data
    model = _vae_with_unused_parameter()
    with pytest.raises(NonFiniteLossError) as info:
        fit(
            model,
            train,
            epochs=3,
            batch_size=40,
            out_dir=tmp_path,
            callbacks=[_PoisonAt(4, value)],
            **QUIET,
        )
    message = str(info.value)
    assert "parameter unused became non-finite" in message and "\n" not in message
    assert "between step 3 and step 5" in message  # checked at step 3 (checkpoint) and 5 (log)
    assert "step-00000003 is intact" in message
    latest = (tmp_path / "checkpoints" / "latest").read_text().strip()
    assert latest == "step-00000003"  # nothing was written from the poisoned weights


def test_fit_without_bad_weights_is_unchanged(data: tuple[torch.Tensor, torch.Tensor]) -> None:
    result = fit(_vae_with_unused_parameter(), data[0], epochs=1, batch_size=40, **QUIET)
    assert result.steps == 3 and math.isfinite(result.train_metrics["loss"])


def _saved_vae(tmp_path: Path) -> tuple[nn.Module, Path]:
    from pyautoencoder.training import save_weights

    model = make_vae()
    model(torch.zeros(2, 12))  # build the lazy layer
    path = tmp_path / "model.safetensors"
    save_weights(model, path)
    return model, path


def test_load_weights_refuses_nan_and_names_the_tensor(tmp_path: Path) -> None:
    model, path = _saved_vae(tmp_path)
    with torch.no_grad():
        next(model.parameters())[0, 0] = math.nan
    from pyautoencoder.training import save_weights

    save_weights(model, path)
    name = next(iter(dict(model.named_parameters())))
    fresh = make_vae(seed=1)
    fresh(torch.zeros(2, 12))
    with pytest.raises(CheckpointError, match=f"non-finite weights: {name} \\(1 NaN, 0 inf"):
        load_weights(fresh, path)
    load_weights(fresh, path, allow_non_finite=True)  # the escape hatch, for debugging
    assert torch.isnan(next(fresh.parameters())[0, 0])


def test_from_pretrained_refuses_non_finite_weights(tmp_path: Path) -> None:
    from pyautoencoder.nets import create_model

    model = create_model("vae", (6,), 2, hidden=(8,))
    with torch.no_grad():
        model.sampling_layer.mu.bias[0] = math.inf
    save_pretrained(model, tmp_path)
    with pytest.raises(PretrainedError, match=r"non-finite weights: sampling_layer\.mu\.bias"):
        from_pretrained(tmp_path)
    loaded = from_pretrained(tmp_path, allow_non_finite=True)
    assert torch.isinf(loaded.sampling_layer.mu.bias[0])


@pytest.mark.parametrize(
    ("field", "value", "fragment"),
    [
        ("name", 5, "'name' must be a string, got 5 (int)"),
        ("latent_dim", "2", "'latent_dim' must be an int >= 1, got '2' (str)"),
        ("input_shape", [0], "'input_shape' must be a list of ints >= 1, got [0] (list)"),
        ("hidden", "8", "'hidden' must be a list of ints >= 1 or null"),
        ("model_kwargs", [1], "'model_kwargs' must be an object or null"),
    ],
)
def test_from_pretrained_malformed_config_is_pretrained_error(
    tmp_path: Path, field: str, value: object, fragment: str
) -> None:
    import json

    from pyautoencoder.nets import create_model

    save_pretrained(create_model("vae", (6,), 2, hidden=(8,)), tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    config["model"][field] = value
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(PretrainedError, match=r"config\.json: model ") as info:
        from_pretrained(tmp_path)
    assert fragment in str(info.value)
