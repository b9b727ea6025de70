"""MkDocs hook: render the Sphinx markup of the docstrings that mkdocstrings leaves as text.

The numpy-style docstrings use a little reStructuredText that the Markdown renderer does not
know, so without this hook the API reference would show ``:class:VAE`` or ``.. math::``
followed by raw LaTeX in a code block. On every rendered page this hook turns

* roles (``:class:`~pyautoencoder.vanilla.AE```, ``:func:``, ``:meth:``, ``:mod:`` ...) into
  optional autorefs cross-references: a link when the target is a fully qualified name the API
  reference renders, else code; a ``~`` prefix shows only the last component, as in Sphinx;
* ``:math:`...``` into inline math and ``.. math::`` blocks (indented or on the same line)
  into display math, both in the ``arithmatex`` markup that ``docs/hooks/math.py`` then
  typesets as MathML.
"""

from __future__ import annotations

import html
import re
from typing import Any

ROLE = re.compile(r":(?:class|func|meth|mod|attr|data|exc|obj):<code>(~?)([^<]+)</code>")
INLINE_MATH = re.compile(r":math:<code>([^<]*)</code>")
BLOCK_MATH = re.compile(
    r"<p>\.\. math::</p>\s*"
    r"<div class=\"highlight\"><pre><span></span><code>(.*?)</code></pre></div>",
    re.DOTALL,
)
LINE_MATH = re.compile(r"<p>\.\. math::\s+(.+?)</p>", re.DOTALL)


def _reference(match: re.Match[str]) -> str:
    short, target = match.group(1) == "~", html.unescape(match.group(2)).rstrip("()")
    text = html.escape(target.rsplit(".", 1)[-1] if short else target)
    if not target.startswith("pyautoencoder."):
        return f"<code>{text}</code>"
    return f'<autoref identifier="{html.escape(target)}" optional><code>{text}</code></autoref>'


def on_page_content(html_text: str, **kwargs: Any) -> str:
    html_text = BLOCK_MATH.sub(
        lambda m: f'<div class="arithmatex">\\[{m.group(1)}\\]</div>', html_text
    )
    html_text = LINE_MATH.sub(
        lambda m: f'<div class="arithmatex">\\[{m.group(1)}\\]</div>', html_text
    )
    html_text = INLINE_MATH.sub(
        lambda m: f'<span class="arithmatex">\\({m.group(1)}\\)</span>', html_text
    )
    return ROLE.sub(_reference, html_text)
