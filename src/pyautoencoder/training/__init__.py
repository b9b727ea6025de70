"""Training on Lightning Fabric: :func:`fit`, :class:`Trainer`, beta schedules, checkpoints.

Needs the ``train`` extra (``pip install "pyautoencoder[train]"``: Lightning, safetensors);
importing this package without it works, calling :func:`fit` names the missing extra.

>>> from pyautoencoder.training import fit, LinearWarmup
>>> result = fit(model, train_x, val_x, epochs=20, beta=LinearWarmup(1000), out_dir="runs/a")
...                                                                    # doctest: +SKIP
"""

from .._base._steps import TrainingSteps, UpdateStep
from ._checkpoint import (
    CheckpointError,
    find_checkpoint,
    load_trainer_state,
    load_weights,
    save_checkpoint,
    save_weights,
)
from ._config import FitResult, NonFiniteLossError, TrainerConfig
from ._fit import fit
from ._hooks import AfterOptimizerStep
from ._lock import RunLockedError
from ._logging import read_metrics
from ._schedules import BetaSchedule, ConstantBeta, CyclicalBeta, LinearWarmup
from ._trainer import Trainer

__all__ = [
    "AfterOptimizerStep",
    "BetaSchedule",
    "CheckpointError",
    "ConstantBeta",
    "CyclicalBeta",
    "FitResult",
    "LinearWarmup",
    "NonFiniteLossError",
    "RunLockedError",
    "Trainer",
    "TrainerConfig",
    "TrainingSteps",
    "UpdateStep",
    "find_checkpoint",
    "fit",
    "load_trainer_state",
    "load_weights",
    "read_metrics",
    "save_checkpoint",
    "save_weights",
]
