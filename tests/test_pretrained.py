"""save_pretrained / from_pretrained / load_pretrained: JSON + safetensors, clear errors."""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import pytest
import safetensors.torch
import torch
from torch import nn

import pyautoencoder
from pyautoencoder.nets import create_model, from_pretrained, load_pretrained, save_pretrained
from pyautoencoder.pretrained import PretrainedError
from pyautoencoder.registry import get_model_entry, list_models
from pyautoencoder.variational import VAE


def _outputs(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    torch.manual_seed(0)
    with torch.no_grad():
        return model.eval()(x).x_hat


def _is_conditional(name: str) -> bool:
    return "condition_dim" in inspect.signature(get_model_entry(name).cls).parameters


def _has_networks(name: str) -> bool:
    """Dictionary models (sparse autoencoders) own linear maps and have no conv variant."""
    return get_model_entry(name).latent != "dictionary"


@pytest.mark.parametrize(
    "name", [n for n in list_models() if not _is_conditional(n) and _has_networks(n)]
)
def test_conv_models_round_trip_with_identical_outputs(name: str, tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = create_model(name, (1, 8, 8), 3, net="conv", channels=(4,), hidden=(8,))
    save_pretrained(model, tmp_path)
    loaded = from_pretrained(tmp_path)
    x = torch.rand(3, 1, 8, 8)
    torch.testing.assert_close(_outputs(loaded, x), _outputs(model, x), rtol=0, atol=0)
    assert loaded.pretrained_config["model"] == model.pretrained_config["model"]


def test_config_json_holds_the_arguments_and_versions(tmp_path: Path) -> None:
    model = create_model("vae", (1, 8, 8), 2, hidden=(8,), likelihood="bernoulli", free_bits=None)
    save_pretrained(model, tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["library_version"] == pyautoencoder.__version__
    assert config["format_version"] == 1
    assert config["model"]["model_kwargs"] == {"likelihood": "bernoulli", "free_bits": None}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json", "model.safetensors"]


def test_weights_file_is_plain_safetensors_of_the_persistent_state(tmp_path: Path) -> None:
    model = create_model("vqvae", (1, 8, 8), 2, hidden=(8,), num_codes=4)
    model.register_buffer("cache", torch.ones(3), persistent=False)
    save_pretrained(model, tmp_path)
    stored = safetensors.torch.load_file(str(tmp_path / "model.safetensors"))
    assert set(stored) == set(model.state_dict()) and "cache" not in stored
    for key, value in model.state_dict().items():
        torch.testing.assert_close(stored[key], value, rtol=0, atol=0)


class _Tied(nn.Module):
    """Tied weights (one tensor under two names) and a non-contiguous buffer."""

    def __init__(self) -> None:
        super().__init__()
        self.first = nn.Linear(3, 3)
        self.second = nn.Linear(3, 3)
        self.second.weight = self.first.weight
        self.register_buffer("transposed", torch.arange(6.0).reshape(2, 3).t())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.second(self.first(x))


def test_tied_and_non_contiguous_tensors_are_saved_and_loaded(tmp_path: Path) -> None:
    source = _Tied()
    save_pretrained(source, tmp_path)
    target = _Tied()
    nn.init.zeros_(target.first.weight)
    load_pretrained(target, tmp_path)
    torch.testing.assert_close(target.first.weight, source.first.weight)
    assert target.second.weight is target.first.weight
    torch.testing.assert_close(target.transposed, source.transposed)


def _hand_built_vae() -> VAE:
    encoder = nn.Sequential(nn.Flatten(), nn.LazyLinear(8), nn.ReLU())
    decoder = nn.Sequential(nn.Linear(2, 16), nn.Unflatten(1, (1, 4, 4)))
    return VAE(encoder, decoder, 2)


def test_hand_built_model_saves_weights_and_loads_into_an_unbuilt_model(tmp_path: Path) -> None:
    source = _hand_built_vae()
    x = torch.rand(4, 1, 4, 4)
    source.build(x)
    save_pretrained(source, tmp_path)
    assert json.loads((tmp_path / "config.json").read_text())["model"] is None
    target = _hand_built_vae()  # unbuilt: lazy layers take their shapes from the file
    load_pretrained(target, tmp_path)
    out_target = target.eval()(x, sample=False).x_hat
    torch.testing.assert_close(out_target, source.eval()(x, sample=False).x_hat)
    with pytest.raises(PretrainedError, match=r"holds no model arguments.*load_pretrained"):
        from_pretrained(tmp_path)


def test_unbuilt_model_cannot_be_saved(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"unbuilt lazy layers; call model.build"):
        save_pretrained(_hand_built_vae(), tmp_path)


def test_saving_again_replaces_the_files(tmp_path: Path) -> None:
    first = create_model("ae", (4,), 2, hidden=(4,))
    second = create_model("ae", (4,), 2, hidden=(4,))
    save_pretrained(first, tmp_path)
    save_pretrained(second, tmp_path)
    loaded = from_pretrained(tmp_path)
    torch.testing.assert_close(loaded.encoder.layers[1].weight, second.encoder.layers[1].weight)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp files left


@pytest.fixture
def saved(tmp_path: Path) -> Path:
    save_pretrained(create_model("vae", (1, 4, 4), 2, hidden=(8,)), tmp_path / "model")
    return tmp_path / "model"


def _assert_one_line(error: pytest.ExceptionInfo[BaseException], filename: str) -> None:
    message = str(error.value)
    assert "\n" not in message and filename in message, message


def test_missing_folder_and_files_raise_file_not_found(saved: Path, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="folder does not exist") as error:
        from_pretrained(tmp_path / "nowhere")
    _assert_one_line(error, "nowhere")
    (saved / "model.safetensors").unlink()
    with pytest.raises(FileNotFoundError) as error:
        from_pretrained(saved)
    _assert_one_line(error, "model.safetensors")
    (saved / "config.json").unlink()
    with pytest.raises(FileNotFoundError) as error:
        from_pretrained(saved)
    _assert_one_line(error, "config.json")


@pytest.mark.parametrize(
    "damage",
    [lambda data: data[: len(data) // 2], lambda data: b"\x00" * 8 + data[8:], lambda _: b""],
    ids=["truncated", "bad_header", "empty"],
)
def test_corrupted_weights_give_a_one_line_error(saved: Path, damage: object) -> None:
    path = saved / "model.safetensors"
    path.write_bytes(damage(path.read_bytes()))  # type: ignore[operator]
    with pytest.raises(PretrainedError, match="cannot read") as error:
        from_pretrained(saved)
    _assert_one_line(error, "model.safetensors")


@pytest.mark.parametrize("text", ['{"format_version": 1, "model": ', "[1, 2]", "\xff\xfe"])
def test_corrupted_config_gives_a_one_line_error(saved: Path, text: str) -> None:
    (saved / "config.json").write_bytes(text.encode("latin-1"))
    with pytest.raises(PretrainedError) as error:
        from_pretrained(saved)
    _assert_one_line(error, "config.json")


def _edit_config(folder: Path, **changes: object) -> None:
    config = json.loads((folder / "config.json").read_text())
    for key, value in changes.items():
        if key == "format_version":
            config[key] = value
        else:
            config["model"][key] = value
    (folder / "config.json").write_text(json.dumps(config))


def test_config_for_an_unknown_model_names_it(saved: Path) -> None:
    _edit_config(saved, name="vea")
    with pytest.raises(PretrainedError, match=r"Unknown model 'vea'.*Did you mean 'vae'") as error:
        from_pretrained(saved)
    _assert_one_line(error, "config.json")


def test_weights_of_another_shape_are_reported(saved: Path) -> None:
    _edit_config(saved, hidden=[6])
    with pytest.raises(PretrainedError, match=r"does not fit the model: shape mismatch") as error:
        from_pretrained(saved)
    _assert_one_line(error, "model.safetensors")


def test_weights_with_missing_entries_are_reported(saved: Path, tmp_path: Path) -> None:
    model = create_model("vae", (1, 4, 4), 2, hidden=(8, 8))
    with pytest.raises(PretrainedError, match=r"missing .*; shape mismatch") as error:
        load_pretrained(model, saved)
    _assert_one_line(error, "model.safetensors")


def test_newer_format_version_asks_for_an_upgrade(saved: Path) -> None:
    _edit_config(saved, format_version=99)
    with pytest.raises(PretrainedError, match="upgrade pyautoencoder"):
        from_pretrained(saved)


def test_from_pretrained_returns_an_eval_model_on_the_device(saved: Path) -> None:
    model = from_pretrained(saved, device="cpu")
    assert not model.training
    assert all(p.device.type == "cpu" for p in model.parameters())


def test_a_training_checkpoint_folder_is_a_pretrained_folder(tmp_path: Path) -> None:
    from pyautoencoder.training import save_checkpoint

    model = create_model("vae", (1, 4, 4), 2, hidden=(8,))
    folder = save_checkpoint(tmp_path, "step-00000001", model, {"format_version": 1, "step": 1})
    loaded = from_pretrained(folder)
    x = torch.rand(2, 1, 4, 4)
    torch.testing.assert_close(_outputs(loaded, x), _outputs(model, x), rtol=0, atol=0)


def test_config_keys_that_create_model_does_not_take_are_refused(saved: Path) -> None:
    """A model option beside the create_model arguments (not in model_kwargs) is refused."""
    _edit_config(saved, free_bits=0.5)
    with pytest.raises(
        PretrainedError, match=r"unknown key\(s\) 'free_bits'.*model_kwargs"
    ) as error:
        from_pretrained(saved)
    _assert_one_line(error, "config.json")


def test_a_run_folder_loads_its_latest_checkpoint(tmp_path: Path) -> None:
    from pyautoencoder.training import fit

    torch.manual_seed(0)
    model = create_model("vae", (6,), 2, hidden=(8,))
    x = torch.rand(32, 6)
    fit(model, x, epochs=2, batch_size=16, out_dir=tmp_path / "run", progress=False, loggers=False)
    loaded = from_pretrained(tmp_path / "run")
    assert (tmp_path / "run" / "checkpoints" / "latest").read_text().strip() == "step-00000004"
    torch.testing.assert_close(_outputs(loaded, x), _outputs(model, x), rtol=0, atol=0)
    torch.testing.assert_close(
        _outputs(from_pretrained(tmp_path / "run" / "checkpoints"), x), _outputs(model, x)
    )
