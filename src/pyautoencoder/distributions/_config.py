"""The JSON config of a registered distribution object (prior, likelihood)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from .._arguments import constructor_arguments


def _registered_config(obj: object, registered: object, drop: Sequence[str] = ()) -> dict[str, Any]:
    """``{"name": obj.name, **recorded constructor arguments}`` or ``NotImplementedError``."""
    name = getattr(obj, "name", "")
    arguments = constructor_arguments(obj)
    if arguments is None and not getattr(type(obj).__init__, "_records_arguments", False):
        arguments = {}  # a class without an __init__ of its own takes no options
    if not name or registered is not type(obj) or arguments is None:
        raise NotImplementedError(
            f"{type(obj).__name__} is not a registered class built with recorded arguments"
        )
    options = {
        key: list(value) if isinstance(value, tuple) else value
        for key, value in arguments.items()
        if key not in drop
    }
    try:
        json.dumps(options, allow_nan=False)
    except (TypeError, ValueError) as error:
        raise NotImplementedError(
            f"{type(obj).__name__}'s options are not JSON: {error}"
        ) from error
    return {"name": name, **options}
