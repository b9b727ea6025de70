"""Save a model as ``config.json`` + ``model.safetensors`` and rebuild it (diffusers style).

Layout of a pretrained folder::

    config.json         {"format": "pyautoencoder.pretrained", "format_version": 1,
                         "library_version": "...", "model": {create_model arguments} or null}
    model.safetensors   the model's state_dict (persistent parameters and buffers)

``model`` holds exactly the arguments of :func:`pyautoencoder.nets.create_model`
(``name, input_shape, latent_dim, net, hidden, channels, activation, model_kwargs``), so
:func:`from_pretrained` rebuilds the model without any code from the folder. A model built by
hand (own networks) is saved with ``"model": null``; load its weights into a model built the
same way with :func:`load_pretrained`. Nothing is ever unpickled, and both files are written
atomically (:mod:`pyautoencoder._io`).
"""

from __future__ import annotations

# The implementation lives in ``nets`` (it rebuilds models with ``create_model``), so that
# ``nets`` never imports this module: the layers only import downwards.
from .nets._pretrained import (
    CONFIG_FILE,
    WEIGHTS_FILE,
    PretrainedError,
    _safetensors_torch,
    from_pretrained,
    load_pretrained,
    read_pretrained_config,
    save_pretrained,
)

__all__ = [
    "CONFIG_FILE",
    "WEIGHTS_FILE",
    "PretrainedError",
    "from_pretrained",
    "load_pretrained",
    "save_pretrained",
]

_EXTRA = (read_pretrained_config, _safetensors_torch)  # importable from here, not in __all__
