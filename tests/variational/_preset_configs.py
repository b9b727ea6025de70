"""Cases for the preset-config check: ``case -> (registry name, create_model kwargs)``.

``data/preset_configs_2x.json`` holds, per case, the ``config.json`` that ``save_pretrained``
wrote (without ``library_version``) and the state_dict key shapes, recorded with the 2.x code
at commit bfb96b0 (before the variants became presets of one VAE with an objective).
"""

from __future__ import annotations

from typing import Any

CASES: dict[str, tuple[str, dict[str, Any]]] = {
    "vae": ("vae", {}),
    "iwae": ("iwae", {"num_samples": 3}),
    "iwae_dreg": ("iwae", {"num_samples": 3, "gradient_estimator": "dreg"}),
    "beta_tcvae": ("beta_tcvae", {"dataset_size": 50}),
    "beta_tcvae_mss": ("beta_tcvae", {"dataset_size": 50, "sampling": "mss", "beta": 4.0}),
    "dip_vae": ("dip_vae", {}),
    "dip_vae_i": ("dip_vae", {"variant": "i", "lambda_od": 5.0}),
    "info_vae": ("info_vae", {}),
    "wae": ("wae", {}),
    "cvae": ("cvae", {"condition_dim": 2}),
}
