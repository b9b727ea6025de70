"""Assemble the figures of a trained model into a self-contained ``report.html``."""

from __future__ import annotations

import base64
import html
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._io import atomic_write_bytes, atomic_write_text
from . import _figures, _views


@dataclass
class Figure:
    """One figure of the report: a file name, a caption and the PNG.

    A figure that could not be drawn has ``png=None``, no caption, and a ``note`` that says
    why in one sentence. ``title`` heads the figure in ``report.html``.
    """

    name: str
    caption: str
    png: bytes | None
    note: str = ""
    title: str = ""


@dataclass
class Report:
    """The written report: where it is and what it holds."""

    path: Path
    figures: list[Figure] = field(default_factory=list)


def _try(build: Callable[[], bytes]) -> tuple[bytes | None, str]:
    try:
        return build(), ""
    except _views.ViewNotAvailableError as reason:
        return None, str(reason)
    except (TypeError, ValueError, RuntimeError, AttributeError) as error:
        return None, f"not available for this model ({type(error).__name__}: {error})"


def curves_figure(events: Sequence[dict[str, Any]]) -> Figure:
    """Training/validation curves from the ``metrics.jsonl`` events."""
    png, note = _try(lambda: _figures.curves_png(events))
    caption = (
        "Training (lines) and validation (dots) curves per optimizer step: the objective the "
        "optimizer minimised and the logged terms it is made of (units on each y-axis)."
    )
    if png is None:
        caption = ""
    return Figure("curves", caption, png, note, title="Training curves")


def write_report(
    out_dir: str | os.PathLike[str],
    figures: Sequence[Figure],
    summary: dict[str, Any],
    *,
    title: str = "pyautoencoder run",
    notes: Sequence[str] = (),
) -> Report:
    """Write ``report.html`` (PNG figures inline as base64) and ``figures/<name>.png``.

    ``summary`` becomes a table, ``notes`` paragraphs under it (e.g. what the numbers mean); a
    figure without a PNG shows its ``note`` (why it is missing) instead of a caption.
    """
    root = Path(out_dir)
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title>",
        "<style>body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;"
        "padding:0 1em}table{border-collapse:collapse}td,th{padding:.25em .8em;"
        "border-bottom:1px solid #ddd;text-align:left}img{max-width:100%;"
        "image-rendering:pixelated}figure{margin:1.5em 0}figcaption{color:#555}"
        ".missing{color:#555}</style>",
        f"</head><body><h1>{html.escape(title)}</h1><table>",
    ]
    for key, value in summary.items():
        parts.append(f"<tr><th>{html.escape(str(key))}</th><td>{html.escape(str(value))}</td></tr>")
    parts.append("</table>")
    parts.extend(f"<p class='note'>{html.escape(note)}</p>" for note in notes)
    for figure in figures:
        heading = figure.title or figure.name
        parts.append(f"<figure id='{figure.name}'><h2>{html.escape(heading)}</h2>")
        if figure.png is not None:
            atomic_write_bytes(root / "figures" / f"{figure.name}.png", figure.png)
            encoded = base64.b64encode(figure.png).decode("ascii")
            parts.append(f"<img alt='{figure.name}' src='data:image/png;base64,{encoded}'>")
            parts.append(f"<figcaption>{html.escape(figure.caption)}</figcaption>")
        else:
            parts.append(f"<p class='missing'><em>Not shown: {html.escape(figure.note)}</em></p>")
        parts.append("</figure>")
    parts.append("</body></html>\n")
    path = root / "report.html"
    atomic_write_text(path, "\n".join(parts))
    return Report(path=path, figures=list(figures))
