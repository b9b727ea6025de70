"""``pyautoencoder sample --sampler SPEC``: fit a sampler to a run's codes once, keep it there.

A fitted sampler lives in ``<run>/samplers/<spec>/`` (``sampler.json`` + ``sampler.safetensors``);
later ``sample`` calls reuse it and ``report`` shows its samples next to the prior's.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ._errors import CLIError


def sampler_folder(run_dir: Path, spec: str) -> Path:
    """``<run>/samplers/<spec with ':' as '-'>``."""
    return run_dir / "samplers" / re.sub(r"[^A-Za-z0-9_.-]", "-", spec.strip().lower())


def fitted_sampler(
    run_dir: Path, model: nn.Module, train_x: torch.Tensor, spec: str, *, refit: bool
) -> tuple[Any, str]:
    """The sampler ``spec`` of this run, fitted now (and saved) or loaded; and what was done."""
    from ..samplers import SamplerError, get_sampler, load_sampler

    folder = sampler_folder(run_dir, spec)
    try:
        if not refit and (folder / "sampler.json").is_file():
            return load_sampler(folder, model), f"using the {spec} sampler fitted in {folder}"
        sampler = get_sampler(spec)
        sampler.fit(model, train_x)
    except (SamplerError, ValueError, FileNotFoundError) as error:
        raise CLIError(f"--sampler {spec}: {' '.join(str(error).split())}") from None
    sampler.save(folder)
    return sampler, f"fitted {spec} to {len(train_x)} training codes, saved in {folder}"


def saved_samplers(run_dir: Path, model: nn.Module) -> dict[str, Any]:
    """Every sampler saved in ``<run>/samplers/``, by its name; unreadable ones are skipped."""
    from ..samplers import SamplerError, load_sampler

    found: dict[str, Any] = {}
    root = run_dir / "samplers"
    if not root.is_dir():
        return found
    for folder in sorted(root.iterdir()):
        if (folder / "sampler.json").is_file():
            try:
                found[folder.name] = load_sampler(folder, model)
            except (SamplerError, ValueError, OSError):
                continue  # a damaged sampler must not cost the user the whole report
    return found
