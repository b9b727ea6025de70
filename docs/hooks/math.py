"""MkDocs hook: typeset the math at build time as MathML, so pages need no script and no network.

``pymdownx.arithmatex`` (generic mode) and ``docs/hooks/docstrings.py`` leave TeX in
``<span class="arithmatex">\\(...\\)</span>`` (inline) and
``<div class="arithmatex">\\[...\\]</div>`` (display). This hook, listed after
``docstrings.py``, converts each with ``latex2mathml`` (a pure-Python converter from PyPI, in
the ``docs`` extra) into ``<math>`` elements, which browsers render natively (MathML Core).
The built site therefore loads no math script from anywhere and shows the same formulas
offline. TeX the converter cannot read fails the build, naming the page and the formula.

A few macros the converter does not know are rewritten first (:data:`REWRITES`), and after the
build every page is checked: no formula left untypeset, no ``<script>`` from another host.
"""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any

from latex2mathml.converter import convert

REWRITES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\\arg\s*\\(max|min)(?![A-Za-z])"), r"\\mathrm{arg\\,\1}"),
    (re.compile(r"\\arg(?![A-Za-z])"), r"\\mathrm{arg}"),
    # sized norm bars: the converter prints the bar's name; unsized bars render fine
    (re.compile(r"\\[bB]ig{1,2}[lrm]?\s*(\\lVert|\\rVert|\\\|)"), r"\1 "),
)
"""``(pattern, replacement)`` applied to the TeX before conversion."""
UNKNOWN_MACRO = re.compile(r"<m[a-z]+[^>]*>\\[A-Za-z|]+</m[a-z]+>")
REMOTE_SCRIPT = re.compile(r"<script[^>]*\ssrc=[\"']?(?:https?:)?//", re.IGNORECASE)
INLINE = re.compile(r'<span class="arithmatex">\\\((.*?)\\\)</span>', re.DOTALL)
DISPLAY = re.compile(r'<div class="arithmatex">\\\[(.*?)\\\]</div>', re.DOTALL)


def typeset(tex: str, display: bool, page: str = "?") -> str:
    """MathML for one formula (``tex`` as it stands in the HTML, entities escaped)."""
    source = html.unescape(tex).strip()
    for pattern, replacement in REWRITES:
        source = pattern.sub(replacement, source)
    try:
        mathml = convert(source, display="block" if display else "inline")
    except Exception as error:  # the converter raises its own exception types
        raise RuntimeError(f"{page}: cannot typeset {source!r}: {error}") from error
    unknown = UNKNOWN_MACRO.search(mathml)
    if unknown:
        raise RuntimeError(f"{page}: {source!r} uses a macro MathML cannot show: {unknown[0]}")
    return mathml


def on_page_content(html_text: str, page: Any, **kwargs: Any) -> str:
    name = str(getattr(getattr(page, "file", None), "src_uri", page))
    html_text = DISPLAY.sub(
        lambda m: f'<div class="math-display">{typeset(m.group(1), True, name)}</div>',
        html_text,
    )
    return INLINE.sub(lambda m: typeset(m.group(1), False, name), html_text)


def check_site(site_dir: Path) -> list[str]:
    """Pages that still hold untypeset TeX or load a script from another host."""
    problems = []
    for page in sorted(site_dir.rglob("*.html")):
        text = page.read_text(encoding="utf-8", errors="replace")
        if 'class="arithmatex"' in text:
            problems.append(f"{page.relative_to(site_dir)}: untypeset math")
        if REMOTE_SCRIPT.search(text):
            problems.append(f"{page.relative_to(site_dir)}: a <script> from another host")
    return problems


def on_post_build(config: Any) -> None:
    problems = check_site(Path(config["site_dir"]))
    if problems:
        raise RuntimeError("the site must render offline: " + "; ".join(problems[:5]))
