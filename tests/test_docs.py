"""The documentation covers the public API, every page is reachable, every example is run.

* Every name in ``__all__`` of each public module has a docstring as the API reference sees it
  (griffe, which mkdocstrings renders; attribute docstrings are the string literal after the
  assignment, ``#:`` comments are not read) and is rendered by a ``::: target`` line of
  ``docs/api/``: the object itself, its module (unless the page's ``filters`` leave it out), or
  another rendered module that exports the same object.
* Every Markdown page under ``docs/`` is in the ``nav`` of ``mkdocs.yml``.
* Every ``examples/*.py`` is run by ``tests/examples/test_examples.py``, and every figure a
  page shows (``generated/<name>.png``) is written by a script the docs build runs.

These read files only (no docs build): the strict build itself runs in CI.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import re
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PUBLIC_MODULES = [
    "pyautoencoder",
    "pyautoencoder.vanilla",
    "pyautoencoder.variational",
    "pyautoencoder.objectives",
    "pyautoencoder.quantized",
    "pyautoencoder.dictionary",
    "pyautoencoder.loss",
    "pyautoencoder.distributions",
    "pyautoencoder.nets",
    "pyautoencoder.data",
    "pyautoencoder.evaluation",
    "pyautoencoder.samplers",
    "pyautoencoder.training",
    "pyautoencoder.report",
    "pyautoencoder.lightning",
    "pyautoencoder.export",
    "pyautoencoder.registry",
    "pyautoencoder.pretrained",
]
DIRECTIVE = re.compile(r"^:::\s+(\S+)\s*$")


def load_yaml(path: Path) -> Any:
    yaml = pytest.importorskip("yaml", reason="reading mkdocs.yml needs PyYAML (docs extra)")
    return yaml.safe_load(path.read_text(encoding="utf-8"))


@dataclass(frozen=True)
class Rendered:
    """One ``::: target`` line of an API page and the member filters that apply to it."""

    target: str
    filters: tuple[str, ...]
    page: str

    def shows(self, name: str) -> bool:
        """Whether a member ``name`` of the target passes the filters (mkdocstrings rules)."""
        keep = [f for f in self.filters if not f.startswith("!")]
        drop = [f[1:] for f in self.filters if f.startswith("!")]
        if any(re.search(pattern, name) for pattern in drop):
            return False
        return not keep or any(re.search(pattern, name) for pattern in keep)


@functools.cache
def rendered_targets() -> tuple[Rendered, ...]:
    """Every ``:::`` directive of ``docs/api/*.md`` with its (or the global) filters."""
    config = load_yaml(ROOT / "mkdocs.yml")
    plugins = {k: v for p in config["plugins"] if isinstance(p, dict) for k, v in p.items()}
    options = plugins["mkdocstrings"]["handlers"]["python"]["options"]
    default_filters = tuple(options.get("filters", ()))
    found = []
    for page in sorted((DOCS / "api").glob("*.md")):
        lines = page.read_text(encoding="utf-8").splitlines()
        for index, line in enumerate(lines):
            match = DIRECTIVE.match(line)
            if not match:
                continue
            block = []
            for following in lines[index + 1 :]:
                if following.strip() and not following.startswith("    "):
                    break
                block.append(following[4:])
            local = load_yaml_text("\n".join(block)) or {}
            filters = local.get("options", {}).get("filters", default_filters)
            found.append(Rendered(match.group(1), tuple(filters), page.name))
    return tuple(found)


def load_yaml_text(text: str) -> Any:
    yaml = pytest.importorskip("yaml", reason="reading mkdocs.yml needs PyYAML (docs extra)")
    return yaml.safe_load(text) if text.strip() else None


@pytest.fixture(scope="module")
def griffe_modules() -> Any:
    """The package as the API reference sees it (griffe, with aliases resolved)."""
    griffe = pytest.importorskip("griffe", reason="the API reference check needs the docs extra")
    loader = griffe.GriffeLoader(search_paths=[str(ROOT / "src")])
    loader.load("pyautoencoder")
    loader.resolve_aliases(implicit=False, external=None)
    return loader.modules_collection


def public_names() -> list[tuple[str, str]]:
    pairs = []
    for module_name in PUBLIC_MODULES:
        module = importlib.import_module(module_name)
        assert getattr(module, "__all__", None), f"{module_name} has no __all__"
        pairs.extend((module_name, name) for name in module.__all__)
    return pairs


PUBLIC_NAMES = public_names()


@pytest.mark.parametrize(
    ("module_name", "name"), PUBLIC_NAMES, ids=[f"{m}.{n}" for m, n in PUBLIC_NAMES]
)
def test_public_name_is_documented(module_name: str, name: str, griffe_modules: Any) -> None:
    member = griffe_modules[module_name][name]
    docstring = member.docstring.value.strip() if member.docstring else ""
    assert docstring, f"{module_name}.{name} has no docstring (what the API reference shows)"

    obj = getattr(importlib.import_module(module_name), name)
    for rendered in rendered_targets():
        if rendered.target == f"{module_name}.{name}":
            return
        if isinstance(obj, types.ModuleType) and rendered.target == obj.__name__:
            return
        if not rendered.shows(name):
            continue
        if rendered.target == module_name:
            return
        if is_module(rendered.target):
            other = importlib.import_module(rendered.target)
            if name in getattr(other, "__all__", ()) and getattr(other, name) is obj:
                return
    pytest.fail(f"{module_name}.{name} is rendered by no '::: ...' line under docs/api/")


def is_module(target: str) -> bool:
    try:
        return importlib.util.find_spec(target) is not None
    except (ImportError, ValueError):
        return False


def nav_pages(node: Any) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [page for value in node.values() for page in nav_pages(value)]
    if isinstance(node, list):
        return [page for item in node for page in nav_pages(item)]
    return []


def test_every_page_is_in_the_nav() -> None:
    nav = set(nav_pages(load_yaml(ROOT / "mkdocs.yml")["nav"]))
    pages = {p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md")}
    assert pages, "no pages found under docs/"
    assert sorted(pages - nav) == [], "pages missing from mkdocs.yml's nav"
    assert sorted(nav - pages) == [], "nav entries without a page"


def load_file(path: Path, name: str) -> Any:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_example_is_run_by_the_examples_test() -> None:
    examples = load_file(ROOT / "tests" / "examples" / "test_examples.py", "_examples_test")
    scripts = {p.name for p in (ROOT / "examples").glob("*.py")}
    assert scripts, "no examples found"
    assert {p.name for p in examples.SCRIPTS} == scripts
    assert set(examples.QUICK_ARGS) <= scripts, "QUICK_ARGS names a script that is gone"


def test_every_generated_figure_is_made_by_the_docs_build() -> None:
    hook = load_file(DOCS / "hooks" / "figures.py", "_figures_hook")
    sources = "\n".join(
        (ROOT / "examples" / script).read_text(encoding="utf-8") for script in hook.FIGURE_EXAMPLES
    )
    shown = {
        figure
        for page in DOCS.rglob("*.md")
        for figure in re.findall(r"generated/([\w.-]+\.png)", page.read_text(encoding="utf-8"))
    }
    assert shown, "no page shows a generated figure"
    missing = sorted(figure for figure in shown if f'"{figure}"' not in sources)
    assert missing == [], "figures shown in the docs that no FIGURE_EXAMPLES script writes"


def test_docstring_markup_hook_renders_roles_and_math() -> None:
    """Sphinx roles become (optional) cross-references, ``:math:``/``.. math::`` MathJax."""
    hook = load_file(DOCS / "hooks" / "docstrings.py", "_docstrings_hook")
    page = (
        "<p>See :class:<code>~pyautoencoder.vanilla.AE</code>, :func:<code>fit</code> and "
        ":math:<code>\\tilde q</code>.</p>\n<p>.. math::</p>\n"
        '<div class="highlight"><pre><span></span><code>a &lt; b\n</code></pre></div>\n'
        "<p>.. math:: x = 1</p>"
    )
    out = hook.on_page_content(page)
    assert ":class:" not in out and ":func:" not in out and ".. math::" not in out
    assert (
        '<autoref identifier="pyautoencoder.vanilla.AE" optional><code>AE</code></autoref>' in out
    )
    assert "<code>fit</code>" in out  # not fully qualified: plain code, no reference
    assert '<span class="arithmatex">\\(\\tilde q\\)</span>' in out
    assert '<div class="arithmatex">\\[a &lt; b\n\\]</div>' in out
    assert '<div class="arithmatex">\\[x = 1\\]</div>' in out


def test_mkdocs_runs_the_docs_hooks() -> None:
    hooks = load_yaml(ROOT / "mkdocs.yml")["hooks"]
    assert {"docs/hooks/figures.py", "docs/hooks/docstrings.py"} <= set(hooks)
