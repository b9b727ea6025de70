"""Import order and import cost: every subpackage imports on its own, the command starts light."""

from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = ("torch", "numpy", "lightning", "lightning_fabric", "matplotlib", "sklearn", "tqdm")


def _run(code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300
    )
    return done.stdout.strip()


def test_parsing_a_command_line_imports_no_heavy_dependency() -> None:
    """``--help`` and argument errors answer without importing torch, Lightning, matplotlib,
    scikit-learn or numpy (each is imported by the command that uses it)."""
    code = (
        "import contextlib, io, sys\n"
        "from pyautoencoder.cli import build_parser, main\n"
        "for argv in (['--help'], ['demo', '--help'], ['train', '--epochs', 'x']):\n"
        "    with contextlib.suppress(SystemExit), contextlib.redirect_stdout(io.StringIO()), "
        "contextlib.redirect_stderr(io.StringIO()):\n"
        "        main(argv)\n"
        f"print(','.join(sorted({{m.split('.')[0] for m in sys.modules}} & {set(HEAVY)!r})))"
    )
    assert _run(code) == ""


def test_attributes_of_the_package_load_on_first_use() -> None:
    code = (
        "import sys, pyautoencoder\n"
        "print('torch' in sys.modules, end=' ')\n"
        "print(pyautoencoder.variational.VAE.__name__, callable(pyautoencoder.set_value_checks),"
        " isinstance(pyautoencoder.__version__, str), 'loss' in dir(pyautoencoder))"
    )
    assert _run(code) == "False VAE True True True"


@pytest.mark.slow
def test_every_subpackage_imports_first_in_a_fresh_package() -> None:
    """No import cycle depends on which subpackage a program happens to import first."""
    code = (
        "import importlib, pkgutil, sys\n"
        "import pyautoencoder\n"
        "names = [m.name for m in pkgutil.iter_modules(pyautoencoder.__path__)]\n"
        "failed = []\n"
        "for name in names:\n"
        "    for key in [k for k in sys.modules if k.startswith('pyautoencoder')]:\n"
        "        del sys.modules[key]\n"
        "    try:\n"
        "        importlib.import_module(f'pyautoencoder.{name}')\n"
        "    except Exception as error:\n"
        "        failed.append(f'{name}: {error!r}')\n"
        "print(len(names), failed)"
    )
    count, failed = _run(code).split(" ", 1)
    assert int(count) >= 15
    assert failed == "[]"
