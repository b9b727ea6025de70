"""Lower layers never import higher ones (no import cycles, not even inside functions).

Read from the source with ``ast`` (every ``import`` statement, at any depth), so an import
hidden in a function body counts too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "pyautoencoder"

#: package -> packages (or top-level modules) it must never import.
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "distributions": ("loss", "objectives", "variational", "nets", "pretrained", "training"),
    "loss": ("objectives", "variational", "nets", "pretrained", "training"),
    "objectives": ("variational", "nets", "pretrained", "training", "cli"),
    "nets": ("pretrained",),
}


def _imported_packages(path: Path) -> set[str]:
    """First component below ``pyautoencoder`` of every module ``path`` imports."""
    package_parts = path.relative_to(SRC).parts[:-1]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level == 0:
                parts = (node.module or "").split(".")
                if parts[0] == "pyautoencoder" and len(parts) > 1:
                    found.add(parts[1])
                continue
            base = list(package_parts[: len(package_parts) - (node.level - 1)])
            target = base + (node.module.split(".") if node.module else [])
            if target:
                found.add(target[0])
            else:  # "from .. import x": x are top-level names
                found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "pyautoencoder" and len(parts) > 1:
                    found.add(parts[1])
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_imports_only_lower_layers(package: str) -> None:
    for path in sorted((SRC / package).rglob("*.py")):
        bad = _imported_packages(path) & set(FORBIDDEN[package])
        assert not bad, f"{path.relative_to(SRC)} imports {sorted(bad)}"
