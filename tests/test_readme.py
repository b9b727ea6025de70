"""The README's quick start runs as written, and its "API at a glance" names exist.

The quick start is the first ``python`` code block of README.md, executed verbatim; so is every
``pyautoencoder.<module>`` / name pair of the table, so the README cannot drift from the code.
"""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path
from typing import Any

import pytest
import torch

README = Path(__file__).resolve().parents[1] / "README.md"


def _python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)


def test_quick_start_is_short_valid_python() -> None:
    quick_start = _python_blocks()[0]
    lines = [line for line in quick_start.splitlines() if line.strip()]
    # About 15 lines of training code, plus imports (17 non-blank lines today).
    assert len(lines) <= 20, f"the quick start grew to {len(lines)} lines"
    ast.parse(quick_start)  # valid Python as shown


@pytest.mark.slow  # 100 Adam steps of a 784-512-20 VAE on 100 images (~2-4 s on one core)
def test_quick_start_runs_and_lowers_the_loss(capsys: pytest.CaptureFixture[str]) -> None:
    quick_start = _python_blocks()[0]
    torch.manual_seed(0)
    trained: dict[str, Any] = {}
    exec(compile(quick_start, str(README), "exec"), trained)
    printed = capsys.readouterr().out
    for key in ("elbo", "log_likelihood", "kl_divergence"):
        assert f"'{key}'" in printed
    # The same set-up without the loop (the code before ``for``): the untrained model.
    torch.manual_seed(0)
    fresh: dict[str, Any] = {}
    exec(compile(quick_start.split("\nfor ")[0], str(README), "exec"), fresh)
    x = trained["x"]

    def loss_at_mean(model: Any) -> float:
        with torch.no_grad():
            output = model(x, sample=False)
            return float(model.compute_loss(x, output, likelihood="bernoulli").objective)

    before, after = loss_at_mean(fresh["model"]), loss_at_mean(trained["model"])
    assert after < before - 5.0, (before, after)


def _api_table() -> list[tuple[str, list[str]]]:
    rows = []
    for line in README.read_text(encoding="utf-8").splitlines():
        match = re.match(r"\| `(pyautoencoder[\w.]*)` \| (.*) \|$", line)
        if match:
            rows.append((match.group(1), re.findall(r"`([A-Za-z_][\w.]*)", match.group(2))))
    return rows


def test_api_at_a_glance_names_exist() -> None:
    rows = _api_table()
    assert len(rows) >= 5
    for module_name, names in rows:
        module = importlib.import_module(module_name)
        for name in names:
            # Dotted names (``variational.stochastic_layers.X``) are relative to the package.
            target: object = importlib.import_module("pyautoencoder") if "." in name else module
            for part in name.split("."):
                if not hasattr(target, part):  # a subpackage not imported yet
                    importlib.import_module(f"{getattr(target, '__name__', '')}.{part}")
                assert hasattr(target, part), f"README names {module_name}: {name}, not found"
                target = getattr(target, part)


def _command_after(marker: str) -> str:
    lines = README.read_text(encoding="utf-8").splitlines()
    return lines[lines.index(marker) + 1].strip()


def test_main_command_installs_the_demo_extra_with_pip_progress() -> None:
    """The first command installs only what the demo needs, and pip shows its progress."""
    import tomllib

    command = _command_after("# main-command")
    assert command.startswith("python3 -m venv .venv && . .venv/bin/activate && ")
    assert 'pip install -e ".[demo]"' in command and command.endswith("pyautoencoder demo")
    assert " -q" not in command
    pyproject = tomllib.loads((README.parent / "pyproject.toml").read_text(encoding="utf-8"))
    demo = pyproject["project"]["optional-dependencies"]["demo"]
    names = {re.split(r"[<>=\[; ]", item, maxsplit=1)[0] for item in demo}
    assert names == {
        "lightning-fabric",
        "safetensors",
        "tqdm",
        "matplotlib",
        "scikit-learn",
        "numpy",
    }


def test_test_command_keeps_the_ci_prefix_and_every_extra() -> None:
    command = _command_after("# test-command")
    assert command.startswith(
        "python3 -m venv .venv && . .venv/bin/activate && pip install -q torch==2.13.0 && "
        'pip install -q -e ".[all]" && '
    )
