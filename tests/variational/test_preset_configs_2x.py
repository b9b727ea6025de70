"""The presets save the same ``config.json`` and state_dict as in 2.x (issue 12).

IWAE, BetaTCVAE, DIPVAE, InfoVAE, WAE (and VAE, CVAE) built by ``create_model`` must write
the config the 2.x code wrote and hold the same state_dict keys and shapes, so a 2.x
checkpoint folder is rebuilt by ``from_pretrained`` and the 2.x tools read today's.
``data/preset_configs_2x.json`` was recorded with the 2.x code (commit bfb96b0) from the
cases of ``_preset_configs.py``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from _preset_configs import CASES

from pyautoencoder.nets import create_model, from_pretrained, save_pretrained

REFERENCE = json.loads((Path(__file__).parent / "data" / "preset_configs_2x.json").read_text())


def test_every_case_has_a_recorded_reference() -> None:
    assert sorted(REFERENCE) == sorted(CASES)


@pytest.mark.parametrize("case", sorted(CASES))
def test_preset_saves_the_2x_config_and_state(case: str, tmp_path: Path) -> None:
    name, kwargs = CASES[case]
    torch.manual_seed(0)
    model = create_model(name, (6,), 2, hidden=(8,), **kwargs)
    save_pretrained(model, tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    config.pop("library_version")
    assert config == REFERENCE[case]["config"]
    shapes = {key: list(value.shape) for key, value in model.state_dict().items()}
    assert shapes == REFERENCE[case]["state_dict"]
    assert type(from_pretrained(tmp_path)) is type(model)
