"""pyautoencoder._schema: the one place that checks what run files hold."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import pytest
import torch

from pyautoencoder import _schema
from pyautoencoder._schema import Field, SchemaError, check


@pytest.mark.parametrize(
    ("value", "hint", "expected"),
    [
        (3, int, True),
        (True, int, False),  # a bool is not a count
        (3, float, True),
        ("3", int, False),
        (None, int | None, True),
        ([1, 2], list[int], True),
        ([1, "2"], list[int], False),
        ({"a": 1}, dict, True),
        ([], dict, False),
        (torch.zeros(2), torch.Tensor, True),
        ("x", int | str, True),
    ],
)
def test_matches(value: object, hint: object, expected: bool) -> None:
    assert _schema.matches(value, hint) is expected


def test_check_names_the_place_the_field_the_expectation_and_the_value() -> None:
    schema = {"epochs": Field(int, 1), "lr": Field(float, 0, exclusive=True)}
    with pytest.raises(SchemaError) as info:
        check({"epochs": "3", "lr": 1.0}, schema, "runs/a/run.json")
    assert str(info.value) == "runs/a/run.json: 'epochs' must be an int >= 1, got '3' (str)"
    with pytest.raises(SchemaError, match="'lr' must be a number > 0, got 0"):
        check({"epochs": 3, "lr": 0}, schema, "f")
    with pytest.raises(SchemaError, match="'lr' must be a number > 0, got nan"):
        check({"epochs": 3, "lr": math.nan}, schema, "f")
    with pytest.raises(SchemaError, match="f: missing field 'epochs' \\(an int\\)"):
        check({"lr": 1.0}, schema, "f")
    with pytest.raises(SchemaError, match="f: must be an object, got \\[\\] \\(list\\)"):
        check([], schema, "f")
    check({"epochs": 3, "lr": 1e-3, "unknown": object()}, schema, "f")  # others: consumer's


def test_dataclass_schema_follows_annotations_and_defaults() -> None:
    @dataclass
    class Spec:
        model: str
        hidden: list[int] = field(default_factory=list)
        epochs: int = 20
        beta: float | None = None

    schema = _schema.dataclass_schema(Spec)
    assert schema["model"].required and not schema["epochs"].required
    assert schema["epochs"].minimum == 1 and schema["hidden"].minimum == 1
    check({"model": "vae", "beta": None}, schema, "f")
    with pytest.raises(SchemaError, match="'hidden' must be a list of ints >= 1, got \\[0\\]"):
        check({"model": "vae", "hidden": [0]}, schema, "f")
    with pytest.raises(SchemaError, match="'beta' must be a number >= 0 or null, got -1"):
        check({"model": "vae", "beta": -1}, schema, "f")


def _state() -> dict[str, object]:
    return {
        "format_version": 1,
        "step": 4,
        "epoch": 2,
        "batch_in_epoch": 0,
        "optimizer": {"state": {}, "param_groups": []},
        "scheduler": None,
        "rng": {"cpu": torch.get_rng_state()},
        "early_stopping": {"best": None, "best_step": None, "bad_evals": 0},
        "run": {"model_class": "VAE", "num_train_examples": 10, "batch_size": 4},
    }


def test_trainer_state_checks_nested_sections() -> None:
    _schema.check_trainer_state(_state(), "s")
    bad_rng = _state()
    bad_rng["rng"] = {"cpu": torch.zeros(3)}
    with pytest.raises(SchemaError, match="rng 'cpu' must be a 1-D uint8 tensor"):
        _schema.check_trainer_state(bad_rng, "s")
    bad_run = _state()
    bad_run["run"] = {"batch_size": "4"}
    with pytest.raises(SchemaError, match="s: run 'batch_size' must be an int >= 1"):
        _schema.check_trainer_state(bad_run, "s")


def test_first_non_finite_names_the_first_bad_tensor() -> None:
    state = {"a": torch.ones(3), "b": torch.tensor([1.0, math.nan, math.inf]), "c": torch.ones(1)}
    assert _schema.first_non_finite(state) == "b (1 NaN, 1 inf of 3)"
    assert _schema.first_non_finite({"i": torch.arange(3), "a": torch.ones(2)}) is None
