"""``ModelOutput``: a slotted, field-less, mutable dataclass with a short repr (C-OUT)."""

from __future__ import annotations

import abc
import dataclasses
from dataclasses import dataclass
from typing import Any

import pytest
import torch

from pyautoencoder._base import ModelOutput
from pyautoencoder.vanilla import AEDecodeOutput, AEEncodeOutput, AEOutput
from pyautoencoder.variational import AdaGVAEOutput, VAEDecodeOutput, VAEEncodeOutput, VAEOutput


@dataclass(slots=True, repr=False)
class SlottedOutput(ModelOutput):
    x_hat: torch.Tensor
    z: torch.Tensor


@dataclass(repr=False)
class PlainOutput(ModelOutput):
    x_hat: torch.Tensor


@dataclass
class DefaultReprOutput(ModelOutput):
    x_hat: torch.Tensor


@dataclass(slots=True, repr=False)
class EmptyOutput(ModelOutput):
    pass


@dataclass(slots=True, repr=False)
class MixedOutput(ModelOutput):
    x_hat: torch.Tensor
    meta: dict[str, Any]
    scalar: int
    nested: list[Any]
    code: torch.Tensor


def test_c_out_1_model_output_is_a_slotted_field_less_dataclass_not_an_abc() -> None:
    """C-OUT-1: a dataclass, slotted, with no fields, not an ABC."""
    assert dataclasses.is_dataclass(ModelOutput)
    assert dataclasses.fields(ModelOutput) == ()
    assert ModelOutput.__dict__.get("__slots__") == ()
    assert not isinstance(ModelOutput, abc.ABCMeta)
    assert not issubclass(ModelOutput, abc.ABC)
    instance = ModelOutput()  # instantiable: no abstract methods
    assert not hasattr(instance, "__dict__")


def test_c_out_1_slotted_subclass_is_mutable_and_has_no_dict() -> None:
    """C-OUT-1: slotted subclasses are mutable; unknown attributes are refused by the slots."""
    out = SlottedOutput(x_hat=torch.zeros(2), z=torch.ones(1))
    new = torch.full((2,), 3.0)
    out.x_hat = new
    assert out.x_hat is new
    assert not hasattr(out, "__dict__")
    with pytest.raises(AttributeError):
        out.not_a_field = 1  # type: ignore[attr-defined]


def test_c_out_1_plain_and_zero_field_subclasses_work() -> None:
    """C-OUT-1: plain (non-slotted) dataclasses and subclasses with zero fields are allowed."""
    plain = PlainOutput(x_hat=torch.zeros(1))
    plain.x_hat = torch.ones(1)
    assert plain.x_hat.item() == 1.0
    assert dataclasses.fields(EmptyOutput()) == ()
    default = DefaultReprOutput(x_hat=torch.zeros(1))
    assert repr(default).startswith("DefaultReprOutput(x_hat=")  # the dataclass's own repr


def test_c_out_1_nested_outputs_are_mutable() -> None:
    """C-OUT-1: users reassign nested fields, e.g. ``out.output2.x_hat = ...``."""
    parts = [
        VAEOutput(torch.zeros(2, 1, 3), torch.zeros(2, 1, 2), torch.zeros(2, 2), torch.zeros(2, 2))
        for _ in range(2)
    ]
    out = AdaGVAEOutput(output1=parts[0], output2=parts[1])
    replacement = torch.ones(2, 1, 3)
    out.output2.x_hat = replacement
    assert out.output2.x_hat is replacement
    assert out.output1.x_hat is not replacement


@pytest.mark.parametrize(
    ("cls", "fields"),
    [
        (AEEncodeOutput, ("z",)),
        (AEDecodeOutput, ("x_hat",)),
        (AEOutput, ("x_hat", "z")),
        (VAEEncodeOutput, ("z", "mu", "log_var")),
        (VAEDecodeOutput, ("x_hat",)),
        (VAEOutput, ("x_hat", "z", "mu", "log_var")),
        (AdaGVAEOutput, ("output1", "output2")),
    ],
)
def test_c_out_1_library_outputs_are_slotted_model_outputs(
    cls: type[ModelOutput], fields: tuple[str, ...]
) -> None:
    """C-OUT-1 (with C-AE-1, C-VAE-1, C-ADA-2): our outputs are slotted subclasses."""
    assert issubclass(cls, ModelOutput)
    assert tuple(f.name for f in dataclasses.fields(cls)) == fields
    assert "__slots__" in cls.__dict__


def test_c_out_2_repr_shows_tensor_shape_and_dtype_only() -> None:
    """C-OUT-2: ``Tensor(shape=(2, 3), dtype=torch.float32)``, never the values."""
    out = SlottedOutput(x_hat=torch.full((2, 3), 123.456), z=torch.zeros(5, dtype=torch.float64))
    text = repr(out)
    assert text == (
        "SlottedOutput(x_hat=Tensor(shape=(2, 3), dtype=torch.float32), "
        "z=Tensor(shape=(5,), dtype=torch.float64))"
    )
    assert "123" not in text


def test_c_out_2_repr_of_other_values_uses_repr_in_field_order() -> None:
    """C-OUT-2: non-tensor fields with ``repr()``, fields in order joined by ``", "``."""
    out = MixedOutput(
        x_hat=torch.zeros(()),
        meta={"a": 1},
        scalar=42,
        nested=[1, {"b": [2, 3]}, "s"],
        code=torch.zeros(1, 2, 3, 4, dtype=torch.int64),
    )
    assert repr(out) == (
        "MixedOutput(x_hat=Tensor(shape=(), dtype=torch.float32), meta={'a': 1}, scalar=42, "
        "nested=[1, {'b': [2, 3]}, 's'], code=Tensor(shape=(1, 2, 3, 4), dtype=torch.int64))"
    )


def test_c_out_2_repr_of_zero_field_subclass() -> None:
    """C-OUT-2: a subclass with no fields shows ``ClassName()``."""
    assert repr(EmptyOutput()) == "EmptyOutput()"


def test_c_out_2_repr_of_nested_outputs_and_plain_subclass() -> None:
    """C-OUT-2: nested outputs use their own repr; ``repr=False`` plain dataclasses too."""
    inner = AEDecodeOutput(x_hat=torch.zeros(2, 3))
    outer = AdaGVAEOutput(output1=inner, output2=inner)  # type: ignore[arg-type]
    expected_inner = "AEDecodeOutput(x_hat=Tensor(shape=(2, 3), dtype=torch.float32))"
    assert repr(outer) == f"AdaGVAEOutput(output1={expected_inner}, output2={expected_inner})"
    assert repr(PlainOutput(x_hat=torch.zeros(1))) == (
        "PlainOutput(x_hat=Tensor(shape=(1,), dtype=torch.float32))"
    )
