"""Every default of the ``pyautoencoder`` command, in one place (the parser, its help texts,
``run.json`` and the docs read them from here).

Why the command's defaults differ from the API's
------------------------------------------------
The API keeps the published 2.x defaults, chosen for any data a program brings:
``VAE(likelihood="gaussian")`` and :func:`pyautoencoder.nets.create_model` with MLP hidden
sizes ``(512, 256)``. The command trains on data it loads itself -- the bundled 8x8 digits,
MNIST, images scaled to ``[0, 1]`` -- so it picks what fits those:

* ``likelihood="bernoulli"``: pixel intensities in ``[0, 1]`` are the Bernoulli
  (binary cross-entropy) likelihood's usual setting for digit images, the one the VAE
  literature reports MNIST ELBOs with (nats per image). A unit-variance Gaussian would turn
  the reconstruction term into a scaled squared error on a different scale. Data outside
  ``[0, 1]`` needs ``--likelihood gaussian``.
* ``hidden=(256,)``: one hidden layer keeps every step of the CPU demo cheap (one 64 x 256
  and one 256 x 64 product per layer pair); ``--hidden 512 256`` gives the API's network.
* ``latent_dim=8``: enough for the digits' classes and styles while the traversals and the
  latent map of the report stay readable.
* Sparse autoencoders (registered with ``latent="dictionary"``) get an overcomplete
  dictionary instead: ``num_latents = DICTIONARY_EXPANSION * D`` for ``D`` input features
  (256 latents on the digits), so that their ``k`` default (32) fits; 8 latents would be an
  undercomplete dictionary that no sparse code needs.

``train`` leaves ``latent_dim``, ``epochs`` and ``batch_size`` unset in the parser so that
``--resume`` can tell a value the user gave from a default;
:func:`pyautoencoder.cli._commands.cmd_train` fills them in from :data:`TRAIN_DEFAULTS`.
``demo`` is a smaller, faster-converging run of its own (:data:`DEMO_DEFAULTS`).
"""

from __future__ import annotations

from typing import Any

NET = "mlp"
"""``--net``: MLP encoder and decoder."""
HIDDEN: tuple[int, ...] = (256,)
"""``--hidden``: one hidden layer of 256 units (the API's ``create_model``: ``(512, 256)``)."""
LIKELIHOOD = "bernoulli"
"""``--likelihood``: Bernoulli for data in ``[0, 1]`` (the API's ``VAE``: ``"gaussian"``)."""
SEED = 0
"""``--seed``."""
LOG_EVERY = 20
"""``--log-every``: steps per logged training event."""
NUM_SAMPLES = 100
"""``--num-samples``: importance samples ``K`` of the held-out ``log p(x)`` bound."""

TRAIN_DEFAULTS: dict[str, int] = {"latent_dim": 8, "epochs": 20, "batch_size": 128}
"""``--latent-dim``, ``--epochs`` and ``--batch-size`` of a new ``train`` run."""
DICTIONARY_EXPANSION = 4
"""``train --num-latents`` of a sparse autoencoder: ``4 x`` the input features."""
TRAIN_LR = 1e-3
"""``train --lr``: Adam's usual step size (the API's ``fit``: also ``1e-3``)."""

DEMO_DEFAULTS: dict[str, Any] = {
    "latent_dim": 8,
    "epochs": 100,
    "batch_size": 64,
    "lr": 2e-3,
    "cosine": True,
    "threads": 1,
}
"""``demo``: small batches and a larger step size decayed by a cosine schedule converge on the
1,438 training digits in about half a minute; one thread, because the demo's 64 x 256 matrices
gain nothing from more and spinning OpenMP threads slow a busy machine down."""
