"""Model options from the command line: ``--set key=value``, checked against the constructor.

A registered model's constructor is its configuration (diffusers' ``register_to_config``): every
keyword it takes with a value that fits on a command line (numbers, booleans, names, ``None``) is
an option. :func:`model_options` lists them with their types and defaults (``pyautoencoder
models --details NAME``) and :func:`parse_set` turns ``--set key=value`` into constructor
arguments of the right type, or a one-line error with a did-you-mean.

Arguments the command sets itself are not options: the networks, the latent size
(``--latent-dim``), the likelihood (``--likelihood``), the KL weight (``--beta``), the posterior
(``--posterior``) and the number of classes of a conditional model (from the labels) have their
own flags. The training-set
size of a model that declares it needs one (``dataset_size_arg`` in the registry) is filled in
from the data but may be overridden.
"""

from __future__ import annotations

import difflib
import enum
import inspect
import types
import typing
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..registry import get_model_entry
from ._errors import CLIError

OptionValue = str | int | float | bool | None
"""What an option holds: a JSON scalar (stored as such in ``run.json``)."""

_FLAGS = {
    "likelihood": "--likelihood",
    "beta": "--beta",
    "posterior": "--posterior",
    "condition_dim": "the labels of --data",
}
_NETWORKS = ("encoder", "decoder")
_NONE_WORDS = ("none", "null")
_TRUE_WORDS = ("true", "yes", "on", "1")
_FALSE_WORDS = ("false", "no", "off", "0")


@dataclass(frozen=True)
class ModelOption:
    """One constructor argument of a model as a command-line option."""

    name: str
    annotation: Any
    default: Any
    settable: bool
    note: str = ""

    @property
    def type_text(self) -> str:
        """The annotation as a user reads it (``float | None``, ``'mws' | 'mss'``)."""
        return _type_text(self.annotation)

    @property
    def default_text(self) -> str:
        """The default as a user would type it (``required`` when there is none)."""
        if self.default is inspect.Parameter.empty:
            return "required"
        if isinstance(self.default, enum.Enum):
            return str(self.default.value)
        return "none" if self.default is None else str(self.default)


def _members(annotation: Any) -> tuple[Any, ...]:
    origin = typing.get_origin(annotation)
    if origin is typing.Union or origin is types.UnionType:
        return typing.get_args(annotation)
    return (annotation,)


def _type_text(annotation: Any) -> str:
    parts: list[str] = []
    for member in _members(annotation):
        if typing.get_origin(member) is typing.Literal:
            parts.extend(repr(value) for value in typing.get_args(member))
        elif member is type(None):
            parts.append("None")
        else:
            parts.append(getattr(member, "__name__", str(member)))
    return " | ".join(parts)


def _command_line_type(member: Any) -> bool:
    return (
        member in (bool, int, float, str, type(None))
        or typing.get_origin(member) is typing.Literal
        or (isinstance(member, type) and issubclass(member, enum.Enum))
    )


def model_options(name: str) -> list[ModelOption]:
    """The constructor arguments of registered model ``name`` as command-line options.

    ``settable`` is ``False`` for arguments a command-line value cannot express (a module or
    distribution object) and for those the command sets through another flag (``note`` says
    which).
    """
    entry = get_model_entry(name)
    hints = typing.get_type_hints(entry.cls.__init__)
    options = []
    parameters = list(inspect.signature(entry.cls).parameters.values())
    for parameter in parameters:
        if parameter.name in _NETWORKS or parameter.kind in (
            parameter.VAR_POSITIONAL,
            parameter.VAR_KEYWORD,
        ):
            continue
        annotation = hints.get(parameter.name, Any)
        note = ""
        if parameter.name == entry.latent_arg:
            note = "set by --latent-dim"
        elif parameter.name == "input_dim" and entry.latent == "dictionary":
            note = "set from the data"
        elif parameter.name in _FLAGS:
            note = f"set by {_FLAGS[parameter.name]}"
        elif parameter.name == entry.dataset_size_arg:
            note = "default: the number of training examples"
        elif not any(_command_line_type(m) and m is not type(None) for m in _members(annotation)):
            note = "an object; set it from Python"
        settable = not note or note.startswith("default:")
        options.append(ModelOption(parameter.name, annotation, parameter.default, settable, note))
    return options


def _convert(member: Any, text: str) -> tuple[bool, Any]:
    """``(True, value)`` if ``text`` reads as a value of type ``member``."""
    lowered = text.strip().lower()
    if member is type(None):
        return lowered in _NONE_WORDS, None
    if member is bool:
        if lowered in _TRUE_WORDS or lowered in _FALSE_WORDS:
            return True, lowered in _TRUE_WORDS
        return False, None
    if member is int:
        try:
            return True, int(text)
        except ValueError:
            return False, None
    if member is float:
        try:
            return True, float(text)
        except ValueError:
            return False, None
    if typing.get_origin(member) is typing.Literal:
        choices = typing.get_args(member)
        return (text in choices), text
    if isinstance(member, type) and issubclass(member, enum.Enum):
        values = {str(item.value): item.value for item in member}
        return (text in values), values.get(text)
    if member is str:
        return True, text
    return False, None


def _value(option: ModelOption, text: str, model: str) -> OptionValue:
    members = _members(option.annotation)
    # Most specific first: None, bool, int, float, choices, then free text.
    order = (type(None), bool, int, float)
    ranked = sorted(members, key=lambda m: order.index(m) if m in order else len(order))
    for member in ranked:
        ok, value = _convert(member, text)
        if ok:
            return typing.cast(OptionValue, value)
    raise CLIError(
        f"--set {option.name}={text}: model {model!r} expects {option.type_text} for "
        f"{option.name!r}, got {text!r}"
    )


def parse_set(items: Sequence[str], model: str) -> dict[str, OptionValue]:
    """``["key=value", ...]`` -> constructor arguments of ``model``, typed and checked.

    Unknown keys get a did-you-mean; keys set by other flags and object-valued arguments are
    refused with the reason; values are converted to the annotated type (``none`` for ``None``,
    ``true``/``false`` for booleans).
    """
    options = {option.name: option for option in model_options(model)}
    values: dict[str, OptionValue] = {}
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key:
            raise CLIError(f"--set expects key=value, got {item!r}")
        if key not in options:
            close = difflib.get_close_matches(key, options, n=3)
            hint = f" Did you mean {' or '.join(map(repr, close))}?" if close else ""
            raise CLIError(
                f"--set: model {model!r} has no option {key!r}.{hint} Its options: "
                f"{', '.join(name for name, o in options.items() if o.settable)}"
            )
        option = options[key]
        if not option.settable:
            raise CLIError(f"--set {key}: {option.note} (model {model!r})")
        values[key] = _value(option, text, model)
    return values
