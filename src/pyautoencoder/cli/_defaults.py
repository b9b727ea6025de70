"""Defaults of ``pyautoencoder train`` that its help shows (``demo`` has its own, smaller run).

``train`` leaves these options unset in the parser so that ``--resume`` can tell a value the
user gave from a default; :func:`pyautoencoder.cli._commands.cmd_train` fills them in from here.
"""

from __future__ import annotations

TRAIN_DEFAULTS: dict[str, int] = {"latent_dim": 8, "epochs": 20, "batch_size": 128}
"""``--latent-dim``, ``--epochs`` and ``--batch-size`` of a new ``train`` run."""
