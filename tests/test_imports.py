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


def test_the_executable_finishes_threads_atexit_and_output_before_its_quick_exit(
    tmp_path,
) -> None:
    """``cli.run`` ends with ``os._exit``, but only after what a normal exit would do."""
    code = (
        "import atexit, sys, time\n"
        "from concurrent.futures import ThreadPoolExecutor\n"
        "from pathlib import Path\n"
        "import pyautoencoder.cli as cli\n"
        f"root = Path({str(tmp_path)!r})\n"
        "def fake_main(argv=None):\n"
        "    pool = ThreadPoolExecutor(1)  # left running, as a library might\n"
        "    pool.submit(lambda: (time.sleep(0.3), (root / 'thread').write_text('done')))\n"
        "    atexit.register(lambda: (root / 'atexit').write_text('done'))\n"
        "    sys.stdout.write('no newline, not flushed')\n"
        "    return 3\n"
        "cli.main = fake_main\n"
        "cli.run()\n"
        "print('not reached')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 3, done.stderr
    assert done.stdout == "no newline, not flushed"
    assert (tmp_path / "thread").read_text() == "done"
    assert (tmp_path / "atexit").read_text() == "done"
