"""Every module of the package imports first, on its own (no import cycle bites in any order).

``tests/test_layers.py`` checks the layering rules in the source; this runs them: one child
process loads torch once, then for each module of ``src/pyautoencoder`` drops every
``pyautoencoder`` module from ``sys.modules`` and imports that module first. A cycle such as
the former ``loss`` <-> ``distributions`` or ``nets`` <-> ``pretrained`` ones fails here with
the ImportError of the module that starts it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"

_CHILD = """
import importlib, json, sys
import torch  # loaded once: the library is what is imported afresh
failures = {}
for name in json.loads(sys.argv[1]):
    for loaded in [m for m in sys.modules if m.split(".")[0] == "pyautoencoder"]:
        del sys.modules[loaded]
    try:
        importlib.import_module(name)
    except Exception as error:  # report every module, not only the first
        failures[name] = f"{type(error).__name__}: {error}"
print(json.dumps(failures))
"""


def _modules() -> list[str]:
    names = []
    for path in sorted((SRC / "pyautoencoder").rglob("*.py")):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__main__":
            continue
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


@pytest.mark.slow
def test_each_module_imports_first_in_a_fresh_interpreter_state() -> None:
    modules = _modules()
    assert "pyautoencoder.distributions._kl" in modules and "pyautoencoder.pretrained" in modules
    run = subprocess.run(
        [sys.executable, "-c", _CHILD, json.dumps(modules)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert json.loads(run.stdout.strip().splitlines()[-1]) == {}
