"""PyTorch Lightning integration: :class:`AutoencoderModule` and :class:`BetaScheduleCallback`.

Needs the ``lightning`` extra (``pip install "pyautoencoder[lightning]"``).

>>> import lightning as L
>>> from pyautoencoder.lightning import AutoencoderModule, BetaScheduleCallback
>>> from pyautoencoder.training import LinearWarmup
>>> module = AutoencoderModule(vae, example_input=x[:8])
>>> trainer = L.Trainer(max_epochs=10, callbacks=[BetaScheduleCallback(LinearWarmup(1000))])
>>> trainer.fit(module, train_loader, val_loader)                   # doctest: +SKIP
>>> load_model_weights(trainer.checkpoint_callback.best_model_path, fresh_vae)
"""

try:  # lightning.pytorch, not just lightning: a stray "lightning" folder is no Lightning
    import lightning.pytorch  # noqa: F401
except ImportError as _error:  # pragma: no cover - exercised with lightning hidden
    raise ImportError(
        'pyautoencoder.lightning needs PyTorch Lightning: pip install "pyautoencoder[lightning]"'
    ) from _error

from ._callbacks import BetaScheduleCallback
from ._module import AutoencoderModule, load_model_weights

__all__ = ["AutoencoderModule", "BetaScheduleCallback", "load_model_weights"]
