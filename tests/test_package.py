"""Package layout: public names, private modules, the version and ``py.typed`` (C-PKG)."""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.resources
import re
import sys
from pathlib import Path

import pytest

import pyautoencoder

CONTRACT_ALL = {
    "loss": {"log_likelihood", "LossResult", "LikelihoodType", "kl_divergence_diag_gaussian"},
    "vanilla": {"AE", "AEDecodeOutput", "AEEncodeOutput", "AEOutput"},
    "variational": {
        "AdaGVAE",
        "AdaGVAEOutput",
        "VAE",
        "VAEDecodeOutput",
        "VAEEncodeOutput",
        "VAEOutput",
    },
}


def test_c_pkg_1_top_level_all_is_exactly_the_three_subpackages() -> None:
    """C-PKG-1: ``__all__`` is exactly ``loss``, ``vanilla``, ``variational``."""
    assert sorted(pyautoencoder.__all__) == ["loss", "vanilla", "variational"]
    for name in pyautoencoder.__all__:
        module = getattr(pyautoencoder, name)
        assert module is importlib.import_module(f"pyautoencoder.{name}")


def test_c_pkg_1_version_is_the_installed_distribution_version() -> None:
    """C-PKG-1: ``__version__`` is a string, the installed distribution's version."""
    assert isinstance(pyautoencoder.__version__, str)
    assert pyautoencoder.__version__ == importlib.metadata.version("pyautoencoder")


def test_c_pkg_1_version_falls_back_to_0_unknown(monkeypatch: pytest.MonkeyPatch) -> None:
    """C-PKG-1: ``"0+unknown"`` when the version cannot be determined (uninstalled checkout)."""

    def not_installed(name: str) -> str:
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(pyautoencoder._metadata, "version", not_installed)
    assert pyautoencoder._read_version() == "0+unknown"


@pytest.mark.parametrize("subpackage", sorted(CONTRACT_ALL))
def test_c_pkg_2_subpackage_all_contains_the_contract_names(subpackage: str) -> None:
    """C-PKG-2: each subpackage's ``__all__`` holds the contract names, all attributes."""
    module = importlib.import_module(f"pyautoencoder.{subpackage}")
    assert CONTRACT_ALL[subpackage] <= set(module.__all__)
    for name in module.__all__:
        assert hasattr(module, name), f"{subpackage}.__all__ names missing attribute {name}"


@pytest.mark.parametrize(
    "path",
    [
        "pyautoencoder.loss.base",
        "pyautoencoder.vanilla.autoencoder",
        "pyautoencoder.variational.vae",
    ],
)
def test_c_pkg_3_old_module_paths_raise_import_error(path: str) -> None:
    """C-PKG-3: the 1.x module paths are not importable."""
    sys.modules.pop(path, None)
    with pytest.raises(ImportError):
        importlib.import_module(path)


@pytest.mark.parametrize("subpackage", ["loss", "vanilla", "variational", "_base", "distributions"])
def test_c_pkg_3_implementation_modules_are_private(subpackage: str) -> None:
    """C-PKG-3: implementation modules of a subpackage start with an underscore.

    The exceptions are the two public module paths the contract names
    (``variational.stochastic_layers``, ``_base.base``).
    """
    package = importlib.import_module(f"pyautoencoder.{subpackage}")
    public_modules = {"stochastic_layers", "base"}
    root = importlib.resources.files(package)
    for entry in root.iterdir():
        name = entry.name
        if name.endswith(".py") and name != "__init__.py":
            stem = name[:-3]
            assert stem.startswith("_") or stem in public_modules, f"{subpackage}/{name}"


def test_c_pkg_4_base_exports_and_legacy_base_module() -> None:
    """C-PKG-4: ``_base`` and ``_base.base`` both provide BaseAutoencoder and ModelOutput."""
    from pyautoencoder import _base
    from pyautoencoder._base import base

    assert {"BaseAutoencoder", "ModelOutput"} <= set(_base.__all__)
    assert base.BaseAutoencoder is _base.BaseAutoencoder
    assert base.ModelOutput is _base.ModelOutput


def test_c_pkg_5_sampling_layer_only_from_stochastic_layers() -> None:
    """C-PKG-5: FullyFactorizedGaussian comes from ``variational.stochastic_layers`` only."""
    from pyautoencoder.variational.stochastic_layers import FullyFactorizedGaussian

    assert FullyFactorizedGaussian.__name__ == "FullyFactorizedGaussian"
    with pytest.raises(ImportError):
        from pyautoencoder.variational import FullyFactorizedGaussian
    with pytest.raises(ImportError):
        from pyautoencoder.variational._vae import FullyFactorizedGaussian
    assert (
        "FullyFactorizedGaussian"
        not in importlib.import_module("pyautoencoder.variational").__all__
    )


def test_c_pkg_6_ships_py_typed() -> None:
    """C-PKG-6: ``py.typed`` is in the package and declared as package data."""
    assert (importlib.resources.files("pyautoencoder") / "py.typed").is_file()
    pyproject = Path(__file__).resolve().parents[1] / "pyproject.toml"
    if pyproject.is_file():  # in a source checkout, the wheel includes it too
        section = pyproject.read_text().split("[tool.setuptools.package-data]", 1)[1]
        assert re.match(r'\s*pyautoencoder\s*=\s*\[[^]]*"py\.typed"', section)


def test_import_needs_only_torch() -> None:
    """``import pyautoencoder`` pulls in none of the optional dependencies.

    Measured in a fresh interpreter, against what ``import torch`` already loads.
    """
    import subprocess

    code = (
        "import sys, torch\n"
        "before = set(sys.modules)\n"
        "import pyautoencoder, pyautoencoder.loss, pyautoencoder.vanilla, "
        "pyautoencoder.variational\n"
        "new = {m.split('.')[0] for m in set(sys.modules) - before}\n"
        "bad = new & {'lightning', 'lightning_fabric', 'sklearn', 'matplotlib', 'safetensors', "
        "'rich', 'tqdm', 'onnx', 'onnxscript', 'numpy'}\n"
        "print(','.join(sorted(bad)))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert done.stdout.strip() == ""
