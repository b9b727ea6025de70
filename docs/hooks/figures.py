"""MkDocs hook: run the figure-making examples before the build, so figures are never committed.

The examples write PNGs into ``docs/generated/`` (git-ignored); pages reference them as
``generated/<name>.png``. A failing example fails the build.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

FIGURE_EXAMPLES = ["plot_reconstructions.py"]


def on_pre_build(config: Any) -> None:
    docs_dir = Path(config["docs_dir"])
    root = docs_dir.parent
    out = docs_dir / "generated"
    out.mkdir(exist_ok=True)
    env = {**os.environ, "MPLBACKEND": "Agg"}
    for script in FIGURE_EXAMPLES:
        subprocess.run(
            [sys.executable, str(root / "examples" / script), "--out", str(out)],
            check=True,
            env=env,
            cwd=root,
        )
