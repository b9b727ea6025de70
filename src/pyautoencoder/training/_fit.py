"""The function most users call: :func:`fit`."""

from __future__ import annotations

from typing import Any

from torch import nn

from ._config import FitResult
from ._trainer import Trainer


def fit(model: nn.Module, train_data: object, val_data: object = None, **options: Any) -> FitResult:
    r"""Train ``model`` with Lightning Fabric and return a :class:`FitResult`.

    Every step computes ``output = model(x, *extra, **forward_kwargs)`` and minimises
    ``model.compute_loss(x, output, **loss_kwargs).objective`` (for the VAE family the negative
    beta-ELBO, Kingma & Welling 2014, eq. 10); ``beta`` (a number or a
    :class:`~pyautoencoder.training.BetaSchedule`) is passed as a 0-dim tensor.

    Parameters
    ----------
    model : nn.Module
        Any model of the library (``forward`` + ``compute_loss``). Lazy layers are initialised
        from the first batch.
    train_data
        In-memory data (a tensor ``[N, ...]``, a tuple of tensors such as ``(x, y)``, a
        ``TensorDataset`` or ``pyautoencoder.data.TensorBatches``) is batched by index slicing
        on the device; a ``Dataset`` or ``DataLoader`` goes through a ``DataLoader``.
    val_data
        Same forms; evaluated every ``val_every_n_steps`` steps or at the end of each epoch.
    **options
        The fields of :class:`TrainerConfig` (``epochs``, ``batch_size``, ``lr``, ``beta``,
        ``out_dir``, ``resume``, ``precision``, ``devices`` ...).

    Returns
    -------
    FitResult
        The trained model, step counts, logged history and best validation metric.

    Raises
    ------
    NonFiniteLossError
        When the loss becomes NaN or inf; the message names the step and the last finite
        diagnostics, and the last checkpoint is left untouched.
    CheckpointError
        When ``resume`` points to a missing, corrupted, unsafe or incompatible checkpoint.
    """
    return Trainer(**options).fit(model, train_data, val_data)
