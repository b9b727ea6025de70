"""``pyautoencoder models``: the registered models, and ``--details NAME``: their options."""

from __future__ import annotations

import argparse

from ._options import model_options
from ._runs import check_model_name


def _summary(cls: type) -> str:
    doc = (cls.__doc__ or "").strip().splitlines()
    return doc[0].strip() if doc else ""


def cmd_models(args: argparse.Namespace) -> int:
    """Print the model names (with the first docstring line), or one model's options."""
    from ..registry import get_model_entry, list_models

    if args.details is None:
        names = list_models()
        width = max(map(len, names))
        for name in names:
            print(f"{name:<{width}}  {_summary(get_model_entry(name).cls)}")
        print("\nOptions of one model: pyautoencoder models --details NAME")
        return 0
    name = check_model_name(args.details)
    entry = get_model_entry(name)
    print(f"{name}: {entry.cls.__module__.split('._')[0]}.{entry.cls.__name__}")
    print(f"  {_summary(entry.cls)}")
    options = model_options(name)
    if not options:
        print("  no options (train --set has nothing to set)")
        return 0
    rows = [(o.name, o.type_text, o.default_text if o.settable else "-", o.note) for o in options]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    print("  options (train --set NAME=VALUE):")
    for option, kind, default, note in rows:
        line = f"    {option:<{widths[0]}}  {kind:<{widths[1]}}  default {default:<{widths[2]}}"
        print(f"{line}  ({note})" if note else line.rstrip())
    return 0
