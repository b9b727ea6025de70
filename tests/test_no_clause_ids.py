"""Contract clause ids (``C-VAE-7``) belong to the tests, not to what users read.

The tests name the clause of ``api-contract`` they guard; docstrings (the API reference and
``help()``), the user guide and the README say what the behaviour is instead. The testing
page, which maps clauses to test modules, is the one page that lists them.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CLAUSE_ID = re.compile(r"(?<![A-Za-z0-9])C-[A-Z]{2,5}(?:-\d+[a-z]?)?(?![A-Za-z0-9])")
PAGES_ABOUT_TESTS = {"testing.md"}


def _docstrings(path: Path) -> list[tuple[int, str]]:
    """Every string statement of a module: module/class/function and attribute docstrings."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [
        (node.lineno, node.value.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Expr)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
    ]


def test_pattern_finds_clause_ids() -> None:
    assert CLAUSE_ID.findall("shape check (C-VAE-7), C-ADA, C-LOSS-4b") == [
        "C-VAE-7",
        "C-ADA",
        "C-LOSS-4b",
    ]
    assert not CLAUSE_ID.findall("a C-contiguous tensor, ABC-DEF, NC-HW")


def test_no_docstring_names_a_contract_clause() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{line}: {match}"
        for path in sorted((ROOT / "src").rglob("*.py"))
        for line, text in _docstrings(path)
        for match in CLAUSE_ID.findall(text)
    ]
    assert found == []


def test_no_user_page_names_a_contract_clause() -> None:
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    found = [
        f"{page.relative_to(ROOT)}: {match}"
        for page in pages
        if page.name not in PAGES_ABOUT_TESTS and "generated" not in page.parts
        for match in CLAUSE_ID.findall(page.read_text(encoding="utf-8"))
    ]
    assert found == []
