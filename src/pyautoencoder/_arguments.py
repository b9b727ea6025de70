"""Objects that remember their constructor arguments (diffusers' ``register_to_config`` idea).

:func:`recording_arguments` wraps an ``__init__`` so that the object keeps the arguments it was
built with; models, priors and likelihoods use it to write their config. Imports nothing of
the library: every layer may use it.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

from torch import nn


def recording_arguments(init: Callable[..., None]) -> Callable[..., None]:
    """Wrap a model's ``__init__`` so that the model keeps its constructor arguments.

    After construction ``model.__dict__["_constructor_arguments"]`` holds the arguments of the
    outermost ``__init__`` (the most derived class's: it returns last), by name. A plain
    attribute, not state: :func:`~pyautoencoder.pretrained.save_pretrained` writes them as the
    model's config when every one of them can be written as JSON.
    """
    signature = inspect.signature(init)

    @functools.wraps(init)
    def wrapper(self: nn.Module, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        try:
            bound = signature.bind(self, *args, **kwargs)
        except TypeError:  # pragma: no cover - init accepted them, so binding does too
            return
        arguments = dict(bound.arguments)
        arguments.pop(next(iter(signature.parameters)))  # self
        for name, parameter in signature.parameters.items():
            if parameter.kind is inspect.Parameter.VAR_KEYWORD and name in arguments:
                arguments.update(arguments.pop(name))
            elif parameter.kind is inspect.Parameter.VAR_POSITIONAL and name in arguments:
                arguments = {}  # positional varargs have no names: no config
                break
        self.__dict__["_constructor_arguments"] = arguments

    wrapper._records_arguments = True  # type: ignore[attr-defined]
    return wrapper


def constructor_arguments(obj: object) -> dict[str, Any] | None:
    """The recorded constructor arguments of ``obj`` by name, or ``None``."""
    arguments = getattr(obj, "__dict__", {}).get("_constructor_arguments")
    return None if arguments is None else dict(arguments)
