"""The docs render offline (math typeset at build time) and the example outputs are cached.

``docs/hooks/math.py`` turns the arithmatex markup into MathML and refuses a site that still
holds TeX or loads a script from another host; ``docs/hooks/figures.py`` keys the example
outputs on the script's source, its arguments and the package version. These tests exercise
the hooks directly (no docs build; CI runs ``mkdocs build --strict``, which runs both).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
HOOKS = ROOT / "docs" / "hooks"


def _load(path: Path, name: str) -> Any:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def math_hook() -> Any:
    pytest.importorskip("latex2mathml", reason="the math hook needs the docs extra")
    return _load(HOOKS / "math.py", "_math_hook")


@pytest.fixture(scope="module")
def figures_hook() -> Any:
    return _load(HOOKS / "figures.py", "_figures_hook")


def test_math_becomes_mathml_on_the_page(math_hook: Any) -> None:
    page = (
        '<p>An <span class="arithmatex">\\(\\mathbb{E}_{q}[x] &lt; 1\\)</span> inline.</p>'
        '<div class="arithmatex">\\[\\mathcal{L} = \\sum_b \\log p(x_b)\\]</div>'
    )
    out = math_hook.on_page_content(page, page=None)
    assert "arithmatex" not in out and "\\(" not in out and "\\[" not in out
    assert out.count("<math") == 2
    assert 'display="inline"' in out and 'display="block"' in out
    assert "&#x0003C;" in out or "&lt;" in out  # the escaped '<' is a real less-than sign


@pytest.mark.parametrize(
    "tex",
    [
        r"j^{(k)} = \arg\max_j I(z_j; v_k)",
        r"\arg\min_{d} x_d",
        r"\Bigl\lVert x - \hat x \Bigr\rVert^2",
        r"\lambda \Big\lVert \frac{\partial z}{\partial x} \Big\rVert_F^2 + \bigl\| y \bigr\|",
        r"\beta(t) = \begin{cases} a & t < R \\ b & t \ge R \end{cases}",
    ],
)
def test_macros_the_converter_lacks_are_rewritten(math_hook: Any, tex: str) -> None:
    mathml = math_hook.typeset(tex, display=True)
    assert mathml.startswith("<math") and "\\" not in mathml


def test_an_unknown_macro_fails_the_build(math_hook: Any) -> None:
    with pytest.raises(RuntimeError, match=r"page\.md: .*\\nosuchmacro"):
        math_hook.typeset(r"\nosuchmacro x", display=False, page="page.md")


def test_site_check_refuses_remote_scripts_and_leftover_tex(math_hook: Any, tmp_path: Path) -> None:
    (tmp_path / "ok.html").write_text("<script src='assets/bundle.js'></script><math></math>")
    assert math_hook.check_site(tmp_path) == []
    (tmp_path / "cdn.html").write_text(
        '<script src="https://cdn.example/mathjax/tex-mml-chtml.js"></script>'
    )
    (tmp_path / "tex.html").write_text('<span class="arithmatex">\\(x\\)</span>')
    assert math_hook.check_site(tmp_path) == [
        "cdn.html: a <script> from another host",
        "tex.html: untypeset math",
    ]
    with pytest.raises(RuntimeError, match="must render offline"):
        math_hook.on_post_build({"site_dir": str(tmp_path)})


def test_mkdocs_loads_no_math_script_and_typesets_after_the_docstring_hook() -> None:
    yaml = pytest.importorskip("yaml", reason="reading mkdocs.yml needs PyYAML (docs extra)")
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))
    assert not [src for src in config.get("extra_javascript", []) if "//" in str(src)]
    hooks = config["hooks"]
    assert hooks.index("docs/hooks/docstrings.py") < hooks.index("docs/hooks/math.py")
    assert config["theme"].get("font") is False  # no web fonts from another host either


def _example_root(tmp_path: Path, version: str = "1.0") -> Path:
    (tmp_path / "examples").mkdir()
    (tmp_path / "examples" / "draw.py").write_text("print('a figure')\n")
    (tmp_path / "pyproject.toml").write_text(f'[project]\nname = "x"\nversion = "{version}"\n')
    return tmp_path


def test_cache_key_follows_source_arguments_and_version(figures_hook: Any, tmp_path: Path) -> None:
    root = _example_root(tmp_path)
    key = figures_hook.cache_key(root, "draw.py", ["--epochs", "2"])
    assert key == figures_hook.cache_key(root, "draw.py", ["--epochs", "2"])
    assert key != figures_hook.cache_key(root, "draw.py", ["--epochs", "3"])
    (root / "pyproject.toml").write_text('[project]\nname = "x"\nversion = "1.1"\n')
    assert key != figures_hook.cache_key(root, "draw.py", ["--epochs", "2"])
    (root / "pyproject.toml").write_text('[project]\nname = "x"\nversion = "1.0"\n')
    (root / "examples" / "draw.py").write_text("print('another figure')\n")
    assert key != figures_hook.cache_key(root, "draw.py", ["--epochs", "2"])


def test_a_cached_example_is_copied_not_run(
    figures_hook: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _example_root(tmp_path)
    runs: list[str] = []

    def execute(root: Path, script: str, args: list[str], out: Path) -> None:
        runs.append(script)
        (out / "figure.png").write_bytes(b"png %d" % len(runs))

    monkeypatch.setattr(figures_hook, "_execute", execute)
    monkeypatch.delenv("PYAUTOENCODER_DOCS_FRESH", raising=False)
    out = root / "docs" / "generated"
    out.mkdir(parents=True)
    assert "ran" in figures_hook._run(root, "draw.py", [], out)
    assert "cached" in figures_hook._run(root, "draw.py", [], out)
    assert runs == ["draw.py"] and (out / "figure.png").read_bytes() == b"png 1"
    (root / "examples" / "draw.py").write_text("print('changed')\n")
    assert "ran" in figures_hook._run(root, "draw.py", [], out)  # a new key: runs again
    assert len(list((root / figures_hook.CACHE).iterdir())) == 1  # the old entry is gone
    monkeypatch.setenv("PYAUTOENCODER_DOCS_FRESH", "1")
    assert "ran" in figures_hook._run(root, "draw.py", [], out)
    assert (out / "figure.png").read_bytes() == b"png 3"


def test_the_cache_folder_is_git_ignored(figures_hook: Any) -> None:
    ignored = (ROOT / ".gitignore").read_text(encoding="utf-8").split()
    assert f"{figures_hook.CACHE.parts[0]}/" in ignored
